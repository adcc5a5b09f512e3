"""The sweep's after-sale work: a retention task not done in time is escalated to the team
lead exactly once; a birthday makes one task on the day, each year."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from pipeline import clock
from pipeline.aftersale import services
from pipeline.escalations.models import Escalation
from pipeline.escalations.services import decide_escalation, sweep_due
from pipeline.notifications.models import Notification
from pipeline.prospects.models import CadenceTask
from pipeline.prospects.services import complete_task

EVENTS = "customer_no,kind,date,amount,product\n"


def retention_tasks(session) -> list[CadenceTask]:
    return list(session.scalars(select(CadenceTask).where(CadenceTask.kind == "retention")
                                .order_by(CadenceTask.id)))


def test_an_outflow_not_met_in_2_days_is_escalated_once(session, factory, client):
    li = factory.user("manager", "Team A")
    lead = factory.user("team_lead", "Team A")
    p = factory.prospect(li, "after_sale", customer_no="C001", assets=900000)
    services.import_events(session, (EVENTS + "C001,large_outflow,2026-03-02,300000,\n")
                           .encode(), kind="csv", actor=None)
    task = retention_tasks(session)[0]
    assert sweep_due(session, clock.now() + timedelta(days=2)).retention == 0
    later = clock.now() + timedelta(days=2, seconds=1)
    assert sweep_due(session, later).retention == 1
    assert sweep_due(session, later + timedelta(hours=1)).retention == 0
    esc = session.scalars(select(Escalation).where(
        Escalation.kind == "retention_overdue")).one()
    assert (esc.prospect_id, esc.level, esc.status, esc.team_id, esc.owner_id) == (
        p.id, 1, "open", li.team_id, li.id)
    assert esc.dedupe_key == f"retention:{task.id}"
    told = {n.user_id for n in session.scalars(select(Notification).where(
        Notification.prospect_id == p.id, Notification.kind == "escalation"))}
    assert told == {lead.id, li.id}
    lead.locale = "en"
    session.commit()
    client.post("/login", data={"email": lead.email, "password": "secret-pass"})
    html = client.get("/escalations").get_data(as_text=True)
    assert "A retention task was not done by 2026-03-04." in html
    assert "The prospect has moved on since." not in html
    # Like a stall: the lead decides.
    decide_escalation(session, esc.id, actor=lead, decision="continue", note="Call today")
    session.refresh(esc)
    assert esc.status == "resolved"
    assert sweep_due(session, later + timedelta(days=1)).retention == 0


def test_a_retention_done_in_time_is_not_escalated(session, factory):
    li = factory.user("manager", "Team A")
    factory.user("team_lead", "Team A")
    factory.prospect(li, "after_sale", customer_no="C001", assets=900000)
    services.import_events(session, (EVENTS + "C001,tier_drop,2026-03-02,,\n").encode(),
                           kind="csv", actor=None)
    complete_task(session, retention_tasks(session)[0].id, actor=li,
                  data={"outcome": "retained", "note": "Kept the deposit"})
    assert sweep_due(session, clock.now() + timedelta(days=5)).retention == 0
    assert session.scalars(select(Escalation)).all() == []


def test_a_second_retention_waits_for_the_customers_open_one(session, factory):
    li = factory.user("manager", "Team A")
    lead = factory.user("team_lead", "Team A")
    factory.prospect(li, "after_sale", customer_no="C001", assets=900000)
    services.import_events(session, (EVENTS + "C001,tier_drop,2026-03-02,,\n"
                                     "C001,large_outflow,2026-03-02,500000,\n").encode(),
                           kind="csv", actor=None)
    later = clock.now() + timedelta(days=3)
    assert sweep_due(session, later).retention == 1
    first = session.scalars(select(Escalation)).one()
    decide_escalation(session, first.id, actor=lead, decision="continue", note="ok")
    assert sweep_due(session, later + timedelta(hours=1)).retention == 1
    assert len(session.scalars(select(Escalation)).all()) == 2
    assert sweep_due(session, later + timedelta(hours=2)).retention == 0


def birthday_tasks(session) -> list[CadenceTask]:
    return list(session.scalars(select(CadenceTask).where(CadenceTask.kind == "birthday")
                                .order_by(CadenceTask.id)))


def test_a_birthday_makes_one_task_on_the_day_each_year(session, factory):
    li = factory.user()
    won = factory.prospect(li, "after_sale", customer_no="C001", tier="gold",
                           birthday=date(1980, 3, 3))
    factory.prospect(li, customer_no="C002", tier="gold", birthday=date(1981, 3, 4))
    lost = factory.prospect(li, customer_no="C003", tier="gold", birthday=date(1982, 3, 3))
    from pipeline.prospects.services import advance_prospect
    advance_prospect(session, lost.id, "lose", actor=li, reason="Moved away")
    # 3 March in Shanghai starts at 16:00 UTC on 2 March.
    eve = datetime(2026, 3, 2, 15, 59, tzinfo=UTC)
    assert sweep_due(session, eve, full=True).daily["birthdays"] == 0
    day = datetime(2026, 3, 2, 16, 30, tzinfo=UTC)
    assert sweep_due(session, day, full=True).daily["birthdays"] == 1
    assert sweep_due(session, day + timedelta(hours=3), full=True).daily["birthdays"] == 0
    [task] = birthday_tasks(session)
    assert (task.prospect_id, task.assignee_id, task.due_at, task.key) == (
        won.id, li.id, datetime(2026, 3, 2, 16, 0, tzinfo=UTC), "birthday:2026")
    complete_task(session, task.id, actor=li, data={"note": "Sent wishes"})
    next_year = datetime(2027, 3, 3, 1, 0, tzinfo=UTC)
    clock.set_now(next_year)
    assert sweep_due(session, next_year, full=True).daily["birthdays"] == 1
    assert [t.key for t in birthday_tasks(session)] == ["birthday:2026", "birthday:2027"]


def test_a_29_february_birthday_falls_on_28_february(session, factory):
    li = factory.user()
    factory.prospect(li, "after_sale", customer_no="C001", tier="gold",
                     birthday=date(1984, 2, 29))
    clock.set_now(datetime(2027, 2, 28, 1, 0, tzinfo=UTC))
    assert sweep_due(session, clock.now(), full=True).daily["birthdays"] == 1
