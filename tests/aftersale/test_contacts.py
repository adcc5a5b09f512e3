"""Contacts: the call cap of seed 000 (three calls a calendar month, in the bank's time
zone, to a customer with assets over 200,000; a fourth refused with the count unless a
reason is given, which is kept and audited), callbacks as dated tasks for the owner, and
a contact closing the customer's due after-sale tasks."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from pipeline import clock
from pipeline.auth.models import AuditEntry
from pipeline.prospects.models import CadenceTask, Contact
from pipeline.prospects.services import complete_task, log_contact


def calls(api, pid: int, n: int, at: str | None = None) -> list:
    return [api.post(f"/api/v1/prospects/{pid}/contacts",
                     {"kind": "call", **({"at": at} if at else {})}) for _ in range(n)]


def test_the_fourth_call_in_a_month_is_refused_unless_a_reason_is_given(
        api_for, factory, session):
    li = factory.user()
    p = factory.prospect(li, "after_sale", customer_no="C001", assets=250000)
    api = api_for(li)
    assert [r.status_code for r in calls(api, p.id, 3)] == [201, 201, 201]
    r = api.post(f"/api/v1/prospects/{p.id}/contacts", {"kind": "call"})
    assert r.status_code == 422
    error = r.json["error"]
    assert error["code"] == "call_cap"
    assert error["details"]["calls"] == 3 and error["details"]["cap"] == 3
    assert "override_reason" in error["details"]
    # Other kinds are not capped.
    assert api.post(f"/api/v1/prospects/{p.id}/contacts", {"kind": "sms"}).status_code == 201
    r = api.post(f"/api/v1/prospects/{p.id}/contacts",
                 {"kind": "call", "override_reason": "Customer asked for the rate today"})
    assert r.status_code == 201, r.json
    assert r.json["override_reason"] == "Customer asked for the rate today"
    audit = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "call_cap_override")).one()
    assert audit.note == "Customer asked for the rate today"
    assert audit.detail == {"contact_id": r.json["id"], "calls": 3, "cap": 3}
    assert audit.target_id == p.id and audit.actor_id == li.id
    listed = api.get(f"/api/v1/prospects/{p.id}/contacts").json["items"]
    assert [c["kind"] for c in listed] == ["call", "sms", "call", "call", "call"]


def test_customers_at_or_under_the_line_are_not_capped(api_for, factory):
    li = factory.user()
    api = api_for(li)
    at_line = factory.prospect(li, "after_sale", customer_no="C001", assets=200000)
    unknown = factory.prospect(li, "after_sale", customer_no="C002", tier="gold")
    for p in (at_line, unknown):
        assert [r.status_code for r in calls(api, p.id, 4)] == [201] * 4


def test_the_month_is_the_banks_calendar_month(api_for, factory):
    li = factory.user()
    p = factory.prospect(li, "after_sale", customer_no="C001", assets=900000)
    api = api_for(li)
    # 31 March 23:30 in Shanghai is 15:30 UTC: March. 16:30 UTC is 1 April in Shanghai.
    clock.set_now(datetime(2026, 3, 31, 17, 0, tzinfo=UTC))
    assert [r.status_code for r in calls(api, p.id, 3, "2026-03-31T15:30:00Z")] == [201] * 3
    r = calls(api, p.id, 1, "2026-03-31T15:59:00Z")[0]
    assert r.status_code == 422 and r.json["error"]["code"] == "call_cap"
    r = calls(api, p.id, 1, "2026-03-31T16:00:00Z")[0]
    assert r.status_code == 201, r.json  # April in the bank's time zone
    # The counts are per customer.
    other = factory.prospect(li, "after_sale", customer_no="C002", assets=900000)
    assert calls(api, other.id, 1, "2026-03-31T15:30:00Z")[0].status_code == 201


def test_the_web_form_enforces_the_cap_too(client, factory, session):
    li = factory.user()
    p = factory.prospect(li, "after_sale", customer_no="C001", assets=900000)
    for _ in range(3):
        log_contact(session, p.id, actor=li, data={"kind": "call"})
    li.locale = "en"
    session.commit()
    client.post("/login", data={"email": li.email, "password": "secret-pass"})
    r = client.post(f"/prospects/{p.id}/contacts", data={"kind": "call"})
    assert r.status_code == 422
    assert "has had 3 calls this month, the most allowed: give a reason to call again" \
        in r.get_data(as_text=True)
    r = client.post(f"/prospects/{p.id}/contacts",
                    data={"kind": "call", "override_reason": "Rate question"})
    assert r.status_code == 302
    assert session.scalars(select(Contact.override_reason).where(
        Contact.override_reason.is_not(None))).all() == ["Rate question"]


def test_a_callback_makes_a_dated_task_for_the_owner(api_for, factory, session):
    li = factory.user()
    lead = factory.user("team_lead")
    p = factory.prospect(li, "after_sale", customer_no="C001", assets=100000)
    r = api_for(lead).post(f"/api/v1/prospects/{p.id}/contacts", {
        "kind": "call", "outcome": "call_back", "note": "Call after the board meeting\nbusy",
        "callback_at": "2026-03-05T06:00:00Z"})
    assert r.status_code == 201, r.json
    task = session.scalars(select(CadenceTask).where(CadenceTask.kind == "callback")).one()
    assert (task.prospect_id, task.assignee_id, task.due_at, task.title) == (
        p.id, li.id, datetime(2026, 3, 5, 6, 0, tzinfo=UTC), "Call after the board meeting")
    r = api_for(li).post(f"/api/v1/prospects/{p.id}/contacts", {
        "kind": "call", "callback_at": "2026-03-01T06:00:00Z"})
    assert r.status_code == 422 and list(r.json["error"]["details"]) == ["callback_at"]


def test_a_contact_closes_the_due_tasks_and_upcoming_maturities(session, factory):
    li = factory.user()
    p = factory.prospect(li, "after_sale", customer_no="C001", assets=100000)
    now = clock.now()

    def task(kind: str, due: datetime, key: str) -> CadenceTask:
        t = CadenceTask(prospect_id=p.id, key=key, kind=kind, assignee_kind="owner",
                        assignee_id=li.id, clock_no=0, due_at=due)
        session.add(t)
        session.commit()
        return t

    overdue = task("birthday", now - timedelta(days=1), "birthday:2026")
    maturity = task("maturity", now + timedelta(days=5), "event:1")
    later = task("callback", now + timedelta(days=3), "callback:1")
    far = task("maturity", now + timedelta(days=10), "event:2")
    contact = log_contact(session, p.id, actor=li, data={"kind": "sms"})
    for t in (overdue, maturity, later, far):
        session.refresh(t)
    assert overdue.contact_id == contact.id and overdue.done_at == now
    assert maturity.contact_id == contact.id
    assert later.done_at is None and far.done_at is None


def test_a_retention_is_done_with_its_outcome(session, factory, api_for):
    li = factory.user()
    p = factory.prospect(li, "after_sale", customer_no="C001", assets=100000)
    t = CadenceTask(prospect_id=p.id, key="event:9", kind="retention", assignee_kind="owner",
                    assignee_id=li.id, clock_no=0, due_at=clock.now())
    session.add(t)
    session.commit()
    api = api_for(li)
    r = api.post(f"/api/v1/tasks/{t.id}/done", {"outcome": "left"})
    assert r.status_code == 422 and list(r.json["error"]["details"]) == ["note"]
    r = api.post(f"/api/v1/tasks/{t.id}/done", {"outcome": "left",
                                                "note": "Moved the funds to a broker"})
    assert r.status_code == 200, r.json
    assert (r.json["status"], r.json["outcome"], r.json["done_note"]) == (
        "done", "left", "Moved the funds to a broker")
    cb = CadenceTask(prospect_id=p.id, key="callback:9", kind="callback",
                     assignee_kind="owner", assignee_id=li.id, clock_no=0, due_at=clock.now())
    session.add(cb)
    session.commit()
    r = api.post(f"/api/v1/tasks/{cb.id}/done", {"outcome": "retained"})
    assert r.status_code == 422 and list(r.json["error"]["details"]) == ["outcome"]
    done = complete_task(session, cb.id, actor=li, data={"note": "Called back"})
    assert done.done_note == "Called back" and done.done_at == clock.now()
