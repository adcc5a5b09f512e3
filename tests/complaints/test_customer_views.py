"""A complaint is a case row beside its customer's prospect: it never shows in a customer
view (board, lists, search, the cap, My day, the funnel, the daily sheet, the weekly log),
nor counts in the cap; the board's workflow switch shows it on the complaint board."""
from __future__ import annotations

from datetime import timedelta

from pipeline import clock
from pipeline.complaints.services import file_complaint
from pipeline.prospects import queries
from pipeline.reports import queries as reports
from tests.conftest import T0
from tests.prospects.test_views import sign_in


def test_a_complaint_shows_in_no_customer_view(session, client, factory, api_for):
    manager = factory.user("manager", "Team A")
    lead = factory.user("team_lead", "Team A")
    customer = factory.prospect(manager, name="Zhang Wei")
    case = file_complaint(session, actor=manager, data={
        "customer_id": customer.id, "summary": "fees charged twice"})
    assert case.name == "Zhang Wei" and case.owner_id == manager.id
    api = api_for(manager)
    for url in ("/api/v1/prospects", "/api/v1/prospects?q=Zhang",
                "/api/v1/prospects?status=active"):
        assert [p["id"] for p in api.get(url).json["items"]] == [customer.id], url
    assert queries.maintained_count(session, manager.id) == 1
    assert queries.maintained_counts(session, [manager.id]) == {manager.id: 1}
    assert [m.count for m in queries.manager_loads(session, lead)] == [1]
    board = queries.board(session, manager, {}, stages=("first_contact",))
    assert board.total == 1 and board.mine.count == 1
    # Both past their limits (complaint 15 days, first contact 21): My day lists the customer.
    clock.set_now(T0 + timedelta(days=22))
    day = queries.my_day(session, manager, tz="Asia/Shanghai")
    assert [c.prospect.id for c in day.overdue] == [customer.id]
    sheet = reports.daily_sheet(session, manager.id, T0.date(), tz="Asia/Shanghai")
    assert [line.prospect_id for line in sheet.lines] == [customer.id]
    assert sheet.events["create"] == 1
    week = reports.weekly_figures(session, manager.team_id, T0.date(), tz="Asia/Shanghai")
    assert week.total("created") == 1
    funnel = reports.funnel(session, lead, reports.Filters())
    assert sum(f.entered for f in funnel) == 1
    sign_in(client, manager)
    html = client.get("/board").get_data(as_text=True)
    assert html.count('data-testid="card"') == 1 and "1 open complaint" in html
    assert client.get("/board?q=Zhang").get_data(as_text=True).count('data-testid="card"') == 1


def test_the_board_switch_shows_the_complaint_board(session, client, factory):
    manager = factory.user("manager", "Team A")
    customer = factory.prospect(manager, name="Zhang Wei")
    case = file_complaint(session, actor=manager, data={
        "customer_id": customer.id, "summary": "fees charged twice"})
    sign_in(client, manager)
    html = client.get("/board?workflow=complaint").get_data(as_text=True)
    assert 'data-testid="workflow-switch"' in html
    assert 'data-testid="column-receive"' in html and 'data-testid="column-first_contact"' \
        not in html
    assert html.count('data-testid="card"') == 1 and f'id="card-{case.id}"' in html
    # The card opens the complaint's own page.
    r = client.get(f"/prospects/{case.id}")
    assert r.status_code == 302 and r.location.endswith(f"/complaints/{case.id}")
    more = client.get("/board/columns/receive?workflow=complaint&offset=0")
    assert more.status_code == 200
    assert client.get("/board/columns/receive").status_code == 404


def unzipped(body: bytes) -> str:
    """The CSV download (a zip of one CSV per table) as one text."""
    import io
    import zipfile
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        return "".join(z.read(n).decode("utf-8-sig") for n in z.namelist())


def test_the_funnel_page_and_export_take_the_workflow(session, client, factory):
    manager = factory.user("manager", "Team A")
    supervisor = factory.user("supervisor")
    customer = factory.prospect(manager)
    file_complaint(session, actor=manager, data={"customer_id": customer.id, "summary": "x"})
    sign_in(client, supervisor)
    html = client.get("/reports/funnel?workflow=complaint").get_data(as_text=True)
    assert "Take the complaint" in html and "First contact" not in html.split("<h1>")[1]
    csv = unzipped(client.get("/reports/funnel.csv?workflow=complaint").data)
    assert "Take the complaint" in csv and "First contact" not in csv
    plain = unzipped(client.get("/reports/funnel.csv").data)
    assert "First contact" in plain and "Take the complaint" not in plain


def test_a_leaving_managers_customers_move_without_the_complaints_they_handle(session,
                                                                            factory):
    from pipeline.customers import allocation

    old, new = factory.user("manager", "Team A"), factory.user("manager", "Team A")
    boss = factory.user("supervisor")
    customer = factory.prospect(old, name="Moving Customer")
    case = file_complaint(session, actor=old, data={"customer_id": customer.id,
                                                    "summary": "fees"})
    moved = allocation.move_customers(session, {"leaving": old.email, "receivers": [new.id],
                                                "note": "left"}, actor=boss)
    assert moved.moved == 1
    session.expire_all()
    assert session.get(type(customer), customer.id).owner_id == new.id
    assert session.get(type(case), case.id).owner_id == old.id  # a lead assigns it


def test_the_prospect_endpoints_answer_404_for_a_complaint(session, factory, api_for):
    manager = factory.user("manager", "Team A")
    customer = factory.prospect(manager, name="Zhang Wei")
    case = file_complaint(session, actor=manager, data={
        "customer_id": customer.id, "summary": "fees charged twice"})
    api = api_for(manager)
    assert api.get(f"/api/v1/prospects/{customer.id}").status_code == 200
    for method, url, body in [
            ("get", f"/api/v1/prospects/{case.id}", None),
            ("patch", f"/api/v1/prospects/{case.id}", {"assets": 1000}),
            ("put", f"/api/v1/prospects/{case.id}/records/contact_log", {}),
            ("post", f"/api/v1/prospects/{case.id}/events", {"event": "lose", "reason": "x"}),
            ("get", f"/api/v1/prospects/{case.id}/contacts", None),
            ("post", f"/api/v1/prospects/{case.id}/contacts", {"kind": "call"})]:
        r = getattr(api, method)(url, body) if body is not None else getattr(api, method)(url)
        assert r.status_code == 404, (method, url)
        assert r.json["error"]["code"] == "not_found"
    assert api.get(f"/api/v1/complaints/{case.id}").status_code == 200
