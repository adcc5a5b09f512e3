"""The funnel of prospects walked through the real services (create, records, advance,
no_meeting, the lead's abandon decision, lose) with the clock moved by hand."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, select

from pipeline import clock
from pipeline.escalations.models import Escalation
from pipeline.escalations.services import decide_escalation
from pipeline.prospects.services import advance_prospect, create_prospect, save_record
from pipeline.reports import queries
from pipeline.reports.queries import Filters
from tests.conftest import T0


def at(days: float):
    return T0 + timedelta(days=days)


def test_funnel_from_the_services(session, factory):
    m = factory.user("manager", "Team A")
    lead = factory.user("team_lead", "Team A")
    sup = factory.user("supervisor")
    # A: first_contact 0-2, learn 2-4, decision_maker 4-6, needs 6-now
    factory.prospect(m, stage="needs", step=timedelta(days=2), name="A")
    # B: first contact from day 6, no meeting on day 7 (escalated), abandoned on day 8
    clock.set_now(at(6))
    b = create_prospect(session, actor=m, data={"name": "B", "tier": "gold"})
    save_record(session, b.id, "contact_log", actor=m, data={
        "institution_sms_at": at(6).isoformat(), "manager_sms_at": at(6.2).isoformat(),
        "call_at": at(6.5).isoformat()})
    clock.set_now(at(7))
    advance_prospect(session, b.id, "no_meeting", actor=m)
    esc = session.scalar(select(Escalation.id).where(Escalation.prospect_id == b.id))
    clock.set_now(at(8))
    decide_escalation(session, esc, actor=lead, decision="abandon", note="客户拒绝会面")
    # C: first contact day 8-9, learn 9-10, lost in learn on day 10
    c = create_prospect(session, actor=m, data={"name": "C", "tier": "platinum"})
    clock.set_now(at(9))
    factory.complete(c, "first_contact", m)
    advance_prospect(session, c.id, "advance", actor=m)
    clock.set_now(at(10))
    advance_prospect(session, c.id, "lose", actor=m, reason="客户无意向")
    clock.set_now(at(12))

    f = {s.key: s for s in queries.funnel(session, sup, Filters())}
    fc = f["first_contact"]
    assert (fc.entered, fc.current, fc.advanced, fc.lost, fc.stalled) == (3, 0, 2, 1, 1)
    assert (fc.median_days, fc.p90_days) == (2.0, 2.0)           # 1, 2, 2 days
    learn = f["learn"]
    assert (learn.entered, learn.advanced, learn.lost, learn.current) == (2, 1, 1, 0)
    assert (learn.median_days, learn.p90_days) == (1.5, 1.9)     # 1 and 2 days
    assert (f["decision_maker"].entered, f["decision_maker"].advanced) == (1, 1)
    assert (f["needs"].current, f["needs"].median_days) == (1, 6.0)  # open since day 6
    reasons = [(r.stage, r.category, r.notes)
               for r in queries.lost_reasons(session, sup, Filters())]
    assert reasons == [("first_contact", "other", [("客户拒绝会面", 1)]),
                       ("learn", "other", [("客户无意向", 1)])]
    esc_rows = queries.escalations_by_decision(session, sup, Filters())
    assert [(r.decision, r.kind, r.count, r.avg_days_to_decide) for r in esc_rows] == [
        ("abandon", "no_meeting", 1, 1.0)]
    # the weekly log of Team A. The week of T0 (Monday 2 March, Shanghai): A created and
    # advanced three times (days 2, 4, 6), B created (day 6). Day 7 is 09:00 on Monday 9
    # March: B escalated (7) and abandoned (8), C created, advanced and lost (8-10).
    week = queries.weekly_figures(session, m.team_id, T0.date(), tz="Asia/Shanghai")
    row = next(r for r in week.managers if r.user_id == m.id)
    assert (row.created, row.advanced, row.escalated, row.lost) == (2, 3, 0, 0)
    assert week.decided == {}
    week2 = queries.weekly_figures(session, m.team_id, at(7).date(), tz="Asia/Shanghai")
    row = next(r for r in week2.managers if r.user_id == m.id)
    assert (row.created, row.advanced, row.escalated, row.lost) == (1, 1, 1, 2)
    assert week2.decided == {"abandon": 1}


def test_funnel_page_query_count_does_not_grow(client, session, factory, history):
    from tests.reports.conftest import walk
    from tests.reports.test_pages import login

    m = factory.user("manager", "Team A")
    sup = factory.user("supervisor")
    login(client, sup)
    counts = []
    for n in (1, 15):
        for i in range(n):
            history.prospect(m, walk(("create", "first_contact", 1), ("advance", "learn", 2),
                                     ("lose", "learn", 3, f"reason {i % 4}")))
        statements: list[str] = []
        listener = lambda *a, out=statements: out.append(a[2])
        engine = session.get_bind().engine
        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert client.get("/reports/funnel").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        counts.append(len(statements))
    assert counts[0] == counts[1]
