"""The sweep on complaints, on SQLite and PostgreSQL: warned at 80 % of the whole-case
limit, escalated at the limit to the team lead once (whatever steps the case moves
through), raised to the supervisor, and again against an extended limit; four sweeps at
once on PostgreSQL escalate each overdue complaint exactly once."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from pipeline import clock
from pipeline.complaints.services import file_complaint, fire_complaint_event
from pipeline.escalations.models import Escalation, Notification
from pipeline.escalations.services import sweep_due
from pipeline.prospects.services import save_record
from tests.complaints.conftest import RECORDS
from tests.conftest import T0
from tests.factories import Factory

MINUTE = timedelta(minutes=1)


def at(moment):
    clock.set_now(moment)
    return moment


def notes(session, user, kind):
    return list(session.scalars(select(Notification).where(
        Notification.user_id == user.id, Notification.kind == kind)))


def test_one_clock_one_warning_one_escalation_then_the_supervisor(session, factory, api_for):
    lead = factory.user("team_lead", "Team A")
    handler = factory.user("manager", "Team A")
    supervisor = factory.user("supervisor")
    customer = factory.prospect(handler)
    case = file_complaint(session, actor=handler,
                          data={"customer_id": customer.id, "summary": "fees charged twice"})
    # 80 % of 15 days: day 12.
    assert sweep_due(session, at(T0 + timedelta(days=12) - MINUTE)).warned == 0
    assert sweep_due(session, at(T0 + timedelta(days=12) + MINUTE)).warned == 1
    assert len(notes(session, handler, "warning")) == 1
    # Moving on a step does not restart the clock: no second warning.
    key, data = RECORDS["receive"]
    save_record(session, case.id, key, actor=handler, data=data)
    fire_complaint_event(session, case.id, actor=handler, data={"event": "advance"})
    assert sweep_due(session, at(T0 + timedelta(days=13))).warned == 0

    assert sweep_due(session, at(T0 + timedelta(days=15) - MINUTE)).escalated == 0
    assert sweep_due(session, at(T0 + timedelta(days=15) + MINUTE)).escalated == 1
    [esc] = session.scalars(select(Escalation).where(Escalation.prospect_id == case.id)).all()
    assert esc.kind == "complaint_overdue" and esc.level == 1 and esc.status == "open"
    assert len(notes(session, lead, "escalation")) == 1
    # Another step later, the same escalation stays open and no second one opens.
    key, data = RECORDS["calm"]
    save_record(session, case.id, key, actor=handler, data=data)
    fire_complaint_event(session, case.id, actor=handler, data={"event": "advance"})
    assert sweep_due(session, at(T0 + timedelta(days=16))).escalated == 0
    session.refresh(esc)
    assert esc.status == "open"
    # Undecided two days: the supervisor too.
    assert sweep_due(session, at(T0 + timedelta(days=17, minutes=2))).raised == 1
    session.refresh(esc)
    assert esc.level == 2 and len(notes(session, supervisor, "escalation")) == 1
    listed = api_for(lead).get("/api/v1/escalations?status=open").json["items"]
    assert [(e["prospect_id"], e["kind"]) for e in listed] == [(case.id, "complaint_overdue")]

    # The lead extends to 30 days: that escalation closes; warned and escalated again
    # against the new limit, once each.
    fire_complaint_event(session, case.id, actor=lead,
                         data={"event": "extend", "reason": "needs the product team"})
    session.refresh(esc)
    assert esc.status == "resolved"
    assert sweep_due(session, at(T0 + timedelta(days=24) + MINUTE)).warned == 1
    assert sweep_due(session, at(T0 + timedelta(days=30) + MINUTE)).escalated == 1
    assert sweep_due(session, at(T0 + timedelta(days=30, minutes=5))).escalated == 0
    kinds = session.scalars(select(Escalation.kind).where(Escalation.prospect_id == case.id))
    assert list(kinds) == ["complaint_overdue", "complaint_overdue"]


def test_a_settled_complaint_is_not_judged_as_an_after_sale_customer(session, factory):
    handler = factory.user("manager", "Team A")
    factory.user("team_lead", "Team A")
    customer = factory.prospect(handler)
    case = file_complaint(session, actor=handler,
                          data={"customer_id": customer.id, "summary": "queue too long"})
    at(T0 + timedelta(days=10))  # the records' times have passed
    for step, (key, data) in RECORDS.items():
        save_record(session, case.id, key, actor=handler, data=data)
        fire_complaint_event(session, case.id, actor=handler,
                             data={"event": "win" if step == "follow_up" else "advance"})
    session.refresh(case)
    assert case.status == "won"
    due = case.due_at
    summary = sweep_due(session, at(T0 + timedelta(days=120)))
    assert summary.contact_overdue == 0
    session.refresh(case)
    assert case.due_at == due
    assert session.scalar(select(func.count()).select_from(Escalation)
                          .where(Escalation.prospect_id == case.id)) == 0


N = 24


@pytest.mark.postgres_only  # concurrent writers with row locks
def test_four_sweeps_at_once_escalate_each_overdue_complaint_once(app, committed):
    db = committed
    setup = db.sessionmaker()
    try:
        make = Factory(setup)
        lead = make.user("team_lead", "Complaints team")
        handler = make.user("manager", "Complaints team")
        make.user("supervisor")
        customers = [make.prospect(handler, name=f"Customer {i}") for i in range(4)]
        for i in range(N):
            file_complaint(setup, actor=handler, data={
                "customer_id": customers[i % 4].id, "summary": f"complaint {i}",
                "received_at": (T0 - timedelta(days=16)).isoformat()})
        lead_id = lead.id
    finally:
        setup.close()
    now = T0 + MINUTE
    clock.set_now(now)
    barrier = threading.Barrier(4)

    def sweep(_i):
        barrier.wait()
        session = db.sessionmaker()
        try:
            return sweep_due(session, now, batch=5)
        finally:
            session.close()

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(sweep, range(4)))
    assert sum(r.escalated for r in results) == N
    with db.engine.connect() as conn:
        per_case = conn.execute(select(Escalation.prospect_id, Escalation.kind, func.count())
                                .group_by(Escalation.prospect_id, Escalation.kind)).all()
        assert len(per_case) == N
        assert {(kind, n) for _pid, kind, n in per_case} == {("complaint_overdue", 1)}
        assert conn.scalar(select(func.count()).select_from(Notification).where(
            Notification.user_id == lead_id, Notification.kind == "escalation")) == N


def test_the_queue_shows_a_complaint_escalation_with_its_kind(session, factory, client):
    from tests.prospects.test_views import sign_in

    lead = factory.user("team_lead", "Team A")
    handler = factory.user("manager", "Team A")
    customer = factory.prospect(handler, name="Queue Customer")
    case = file_complaint(session, actor=handler,
                          data={"customer_id": customer.id, "summary": "lost card"})
    assert sweep_due(session, at(T0 + timedelta(days=15) + MINUTE)).escalated >= 1
    sign_in(client, lead)
    html = client.get("/escalations?kind=complaint_overdue").get_data(as_text=True)
    assert "Complaint overdue" in html and f"/prospects/{case.id}" in html
    # Its link opens the complaint's own page.
    r = client.get(f"/prospects/{case.id}")
    assert r.status_code == 302 and r.location.endswith(f"/complaints/{case.id}")


def test_a_leads_decision_never_moves_a_complaints_limit(session, factory):
    from pipeline.escalations.services import decide_escalation

    lead = factory.user("team_lead", "Team A")
    handler = factory.user("manager", "Team A")
    other = factory.user("manager", "Team A")
    customer = factory.prospect(handler)
    case = file_complaint(session, actor=handler,
                          data={"customer_id": customer.id, "summary": "lost card"})
    due = case.due_at
    sweep_due(session, at(T0 + timedelta(days=15) + MINUTE))
    esc = session.scalars(select(Escalation).where(Escalation.prospect_id == case.id)).one()
    decide_escalation(session, esc.id, actor=lead, decision="continue", note="keep going")
    session.refresh(case)
    assert case.due_at == due  # only an extension moves it
    assert sweep_due(session, at(T0 + timedelta(days=16))).escalated == 0
    fire_complaint_event(session, case.id, actor=lead,
                         data={"event": "extend", "reason": "complicated"})
    sweep_due(session, at(T0 + timedelta(days=30) + MINUTE))
    esc = session.scalars(select(Escalation).where(Escalation.prospect_id == case.id,
                                                   Escalation.status == "open")).one()
    decide_escalation(session, esc.id, actor=lead, decision="reassign", new_owner=other.email,
                      note="fresh eyes")
    session.refresh(case)
    assert case.owner_id == other.id and case.due_at == T0 + timedelta(days=30)
