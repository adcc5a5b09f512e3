"""The complaint pages, on SQLite and PostgreSQL: the form from the customer's page and
the "New complaint" button, the customer's page and card, a complaint's page taking it
through the seven steps, an extension and an assignment."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from pipeline import clock
from pipeline.prospects.models import Prospect
from tests.conftest import T0
from tests.prospects.test_views import sign_in

# Each step's record as the form sends it (local times in Shanghai).
FORM_RECORDS = {
    "receive": ("receipt", {"received_via": "counter", "taken_at": "2026-03-02T09:05",
                            "isolated": "y"}),
    "calm": ("customer_account", {"statement": "redemption paid late",
                                  "demand": "pay now and explain"}),
    "apologise": ("apology", {"apologised_at": "2026-03-02T09:20",
                              "words": "We are sorry for the trouble."}),
    "investigate": ("investigation", {"who": "teller", "what": "order not sent",
                                      "when": "last Friday", "where": "the hall",
                                      "why": "system change", "cause_category": "system"}),
    "resolve": ("solution", {"proposal": "pay at once with interest"}),
    "inform": ("customer_told", {"told_at": "2026-03-03T09:00", "answer": "accepted"}),
    "follow_up": ("follow_up_contact", {"contacted_at": "2026-03-05T09:00",
                                        "satisfaction": "satisfied"}),
}


def _case_id(session, customer_id: int) -> int:
    return session.scalar(select(Prospect.id).where(Prospect.customer_id == customer_id))


def test_file_from_the_customers_page_and_walk_the_seven_steps(client, session, factory):
    manager = factory.user("manager", "Team A")
    customer = factory.prospect(manager, name="Wang Fang")
    sign_in(client, manager)
    page = client.get(f"/prospects/{customer.id}").get_data(as_text=True)
    assert 'data-testid="new-customer-complaint"' in page and "No complaints." in page
    form = client.get(f"/complaints/new?customer={customer.id}").get_data(as_text=True)
    assert "Wang Fang" in form
    r = client.post("/complaints/new", data={"customer_id": str(customer.id),
                                             "summary": "Redemption paid late",
                                             "category": "wealth"})
    assert r.status_code == 302, r.get_data(as_text=True)
    cid = _case_id(session, customer.id)
    assert r.location.endswith(f"/complaints/{cid}")
    page = client.get(f"/prospects/{customer.id}").get_data(as_text=True)
    assert "Redemption paid late" in page and f"/complaints/{cid}" in page
    board = client.get("/board").get_data(as_text=True)
    assert "1 open complaint" in board
    assert board.count('data-testid="card"') == 1  # the complaint is no card of its own

    for i, (step, (key, data)) in enumerate(FORM_RECORDS.items()):
        clock.set_now(T0 + timedelta(days=i + 1))
        html = client.get(f"/complaints/{cid}").get_data(as_text=True)
        assert 'data-testid="current-step"' in html
        saved = client.post(f"/complaints/{cid}/records/{key}",
                            data={f"{key}-{k}": v for k, v in data.items()})
        assert saved.status_code == 302, saved.get_data(as_text=True)
        event = "win" if step == "follow_up" else "advance"
        version = session.get(Prospect, cid)
        session.refresh(version)
        moved = client.post(f"/complaints/{cid}/events/{event}",
                            data={f"{event}-event": event,
                                  f"{event}-version": str(version.version)})
        assert moved.status_code == 302, moved.get_data(as_text=True)
    case = session.get(Prospect, cid)
    session.refresh(case)
    assert case.status == "won" and case.stage == "case_closed"
    assert 'data-testid="settled"' in client.get(f"/complaints/{cid}").get_data(as_text=True)
    assert "open complaint" not in client.get("/board").get_data(as_text=True)


def test_the_form_names_the_bad_field_with_a_422(client, factory):
    manager = factory.user()
    customer = factory.prospect(manager, customer_no="C0001")
    sign_in(client, manager)
    r = client.post("/complaints/new", data={"customer_id": str(customer.id), "summary": ""})
    assert r.status_code == 422
    assert 'id="summary-error"' in r.get_data(as_text=True)
    r = client.post("/complaints/new", data={"customer_no": "C9999", "summary": "x"})
    assert r.status_code == 422 and 'id="customer_no-error"' in r.get_data(as_text=True)
    # The "New complaint" button's form finds the customer by number.
    assert 'data-testid="new-complaint"' in client.get("/complaints").get_data(as_text=True)
    r = client.post("/complaints/new", data={"customer_no": "C0001", "summary": "fees"})
    assert r.status_code == 302


def test_a_manager_cannot_extend_and_a_lead_can_from_the_page(client, session, factory):
    manager = factory.user("manager", "Team A")
    lead = factory.user("team_lead", "Team A")
    customer = factory.prospect(manager)
    sign_in(client, manager)
    client.post("/complaints/new", data={"customer_id": str(customer.id), "summary": "x"})
    cid = _case_id(session, customer.id)
    assert 'data-testid="event-extend"' not in client.get(f"/complaints/{cid}").get_data(
        as_text=True)
    client.post("/logout")
    sign_in(client, lead)
    html = client.get(f"/complaints/{cid}").get_data(as_text=True)
    assert 'data-testid="event-extend"' in html and "to 30 days" in html
    version = session.get(Prospect, cid).version
    no_reason = client.post(f"/complaints/{cid}/events/extend",
                            data={"extend-event": "extend", "extend-version": str(version)})
    assert no_reason.status_code == 422
    r = client.post(f"/complaints/{cid}/events/extend",
                    data={"extend-event": "extend", "extend-version": str(version),
                          "extend-reason": "needs the product team"})
    assert r.status_code == 302
    case = session.get(Prospect, cid)
    session.refresh(case)
    assert case.due_at == T0 + timedelta(days=30)
    assert 'data-testid="event-extend"' not in client.get(f"/complaints/{cid}").get_data(
        as_text=True)


def test_the_report_page_and_a_corrective_action(client, session, factory):
    manager = factory.user("manager", "Team A")
    lead = factory.user("team_lead", "Team A")
    customer = factory.prospect(manager)
    sign_in(client, manager)
    for _ in range(2):
        client.post("/complaints/new", data={"customer_id": str(customer.id), "summary": "x",
                                             "category": "fees"})
    for cid in session.scalars(select(Prospect.id).where(Prospect.customer_id == customer.id)):
        client.post(f"/complaints/{cid}/records/investigation", data={
            f"investigation-{k}": v for k, v in FORM_RECORDS["investigate"][1].items()})
    client.post("/logout")
    sign_in(client, lead)
    html = client.get("/complaints/report").get_data(as_text=True)
    assert 'data-testid="report-category"' in html and "fees" in html
    assert "2 complaints" in html and "No action yet." in html
    bad = client.post("/complaints/report", data={"cause": "weather", "action": "x",
                                                 "owner": lead.email})
    assert bad.status_code == 422 and 'id="cause-error"' in bad.get_data(as_text=True)
    ok = client.post("/complaints/report", data={"cause": "system", "owner": lead.email,
                                                "action": "Check orders after each release"})
    assert ok.status_code == 302
    assert "Check orders after each release" in client.get("/complaints/report").get_data(
        as_text=True)


def test_the_complaint_pages_speak_chinese(client, session, factory):
    manager = factory.user("manager", "Team A")
    customer = factory.prospect(manager, name="Wang Fang")
    sign_in(client, manager)
    client.post("/language", data={"locale": "zh_CN", "next": "/"})
    client.post("/complaints/new", data={"customer_id": str(customer.id), "summary": "x"})
    cid = _case_id(session, customer.id)
    html = client.get(f"/complaints/{cid}").get_data(as_text=True)
    for words in ("迅速受理", "处理人", "投诉受理记录", "受理投诉", "当前步骤"):
        assert words in html, words
    for english in ("Handler", "Take the complaint", "Current step", "Next step"):
        assert english not in html, english
    listing = client.get("/complaints").get_data(as_text=True)
    assert "新建投诉" in listing and "投诉处理" in listing


def test_the_list_pages_through_a_branchs_complaints(client, session, factory, monkeypatch):
    """The list shows a page of complaints at a time, open ones first by due time, with
    links to the next and previous pages."""
    from pipeline.complaints import views

    monkeypatch.setattr(views, "LIST_PAGE", 2)
    manager = factory.user("manager", "Team A")
    sign_in(client, manager)
    for i in range(3):
        customer = factory.prospect(manager, name=f"Customer {i}")
        clock.set_now(T0 + timedelta(hours=i))
        r = client.post("/complaints/new", data={"customer_id": str(customer.id),
                                                 "summary": f"complaint {i}"})
        assert r.status_code == 302
    first = client.get("/complaints").get_data(as_text=True)
    assert first.count('data-testid="complaint-row"') == 2
    assert 'data-testid="next-page"' in first and 'rel="prev"' not in first
    assert "Customer 0" in first and "Customer 1" in first and "Customer 2" not in first
    second = client.get("/complaints?page=2").get_data(as_text=True)
    assert second.count('data-testid="complaint-row"') == 1 and "Customer 2" in second
    assert 'rel="prev"' in second and 'data-testid="next-page"' not in second
    beyond = client.get("/complaints?page=9").get_data(as_text=True)
    assert 'data-testid="complaint-row"' not in beyond and "No complaints." in beyond
    assert client.get("/complaints?page=x").status_code == 200
