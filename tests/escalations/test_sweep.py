"""The sweep with a moving clock, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select, update

from pipeline import clock
from pipeline.escalations.models import Escalation, Notification, OutboxMessage
from pipeline.escalations.services import sweep_due
from pipeline.prospects.models import CadenceTask, Contact, Prospect
from pipeline.prospects.services import advance_prospect
from tests.conftest import T0

SECOND = timedelta(seconds=1)


def at(moment):
    clock.set_now(moment)
    return moment


def notes(session, user, kind=None) -> list[Notification]:
    stmt = select(Notification).where(Notification.user_id == user.id)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    return list(session.scalars(stmt.order_by(Notification.id)))


def escalations(session, prospect_id=None) -> list[Escalation]:
    stmt = select(Escalation)
    if prospect_id is not None:
        stmt = stmt.where(Escalation.prospect_id == prospect_id)
    return list(session.scalars(stmt.order_by(Escalation.id)))


def team(factory, name="Team A"):
    lead = factory.user("team_lead", name)
    owner = factory.user("manager", name)
    supervisor = factory.user("supervisor")
    return lead, owner, supervisor


def test_warned_at_80_percent_once_and_not_before(session, factory):
    lead, owner, _ = team(factory)
    p = factory.prospect(owner, stage="learn", step=timedelta(hours=1))
    entered = p.stage_entered_at
    warn = entered + timedelta(days=21 * 0.8)
    assert p.warn_at == warn

    summary = sweep_due(session, at(warn - SECOND))
    assert summary.warned == 0 and notes(session, owner, "warning") == []

    summary = sweep_due(session, at(warn + SECOND))
    assert summary.warned == 1
    [note] = notes(session, owner, "warning")
    assert note.prospect_id == p.id and "Li Lei" in note.title
    assert session.scalar(select(func.count()).select_from(OutboxMessage)
                          .where(OutboxMessage.recipient == owner.email)) == 1

    again = sweep_due(session, at(warn + timedelta(hours=5)))
    assert again.warned == 0 and len(notes(session, owner, "warning")) == 1
    assert notes(session, lead, "warning") == []


def test_escalated_just_after_21_days_then_level_2_two_days_later(session, factory):
    lead, owner, supervisor = team(factory)
    p = factory.prospect(owner)  # first contact, created at T0
    due = T0 + timedelta(days=21)
    assert p.due_at == due

    assert sweep_due(session, at(due)).escalated == 0  # due, not yet past
    assert escalations(session) == []

    summary = sweep_due(session, at(due + SECOND))
    assert summary.escalated == 1
    [esc] = escalations(session)
    assert (esc.kind, esc.level, esc.status, esc.team_id, esc.owner_id, esc.clock_no) == (
        "stage_overdue", 1, "open", owner.team_id, owner.id, p.clock_no)
    assert [n.kind for n in notes(session, lead)] == ["escalation"]
    assert "overdue" in [n.kind for n in notes(session, owner)]
    assert notes(session, supervisor) == []

    # Same time again, and later: still one escalation, no new notifications.
    assert sweep_due(session, at(due + SECOND)).escalated == 0
    assert sweep_due(session, at(due + timedelta(days=1))).escalated == 0
    assert len(escalations(session)) == 1 and len(notes(session, lead)) == 1

    raise_at = esc.opened_at + timedelta(days=2)
    assert sweep_due(session, at(raise_at - SECOND)).raised == 0
    session.refresh(esc)
    assert esc.level == 1

    assert sweep_due(session, at(raise_at + SECOND)).raised == 1
    session.refresh(esc)
    assert (esc.level, esc.raised_at) == (2, raise_at + SECOND)
    assert [n.kind for n in notes(session, supervisor)] == ["escalation"]
    assert sweep_due(session, at(raise_at + timedelta(hours=3))).raised == 0
    assert len(notes(session, supervisor)) == 1


def test_paused_time_does_not_count(session, factory):
    _lead, owner, _ = team(factory)
    p = factory.prospect(owner)
    at(T0 + timedelta(days=5))
    advance_prospect(session, p.id, "pause", actor=owner, reason="customer annoyed")
    # Paused for 30 days: the original due time passes while paused.
    assert sweep_due(session, at(T0 + timedelta(days=22))).escalated == 0
    at(T0 + timedelta(days=35))
    advance_prospect(session, p.id, "resume", actor=owner)
    session.refresh(p)
    assert p.due_at == T0 + timedelta(days=21 + 30)
    assert sweep_due(session, at(T0 + timedelta(days=40))).escalated == 0
    assert sweep_due(session, at(p.due_at - SECOND)).escalated == 0
    assert escalations(session) == []
    assert sweep_due(session, at(p.due_at + SECOND)).escalated == 1


def test_stages_2_and_3_share_21_days(session, factory):
    _lead, owner, _ = team(factory)
    p = factory.prospect(owner, stage="learn")
    learn_entered = p.stage_entered_at
    at(learn_entered + timedelta(days=15))
    factory.complete(p, "learn", owner)
    advance_prospect(session, p.id, "advance", actor=owner)
    session.refresh(p)
    assert p.stage == "decision_maker"
    # Six days left of the shared budget, not a fresh 21.
    assert sweep_due(session, at(learn_entered + timedelta(days=21) - SECOND)).escalated == 0
    assert sweep_due(session, at(learn_entered + timedelta(days=21) + SECOND)).escalated == 1
    [esc] = escalations(session)
    assert esc.stage == "decision_maker"


def test_after_sale_diamond_without_a_visit_for_a_month(session, factory, app):
    lead, owner, _ = team(factory)
    diamond = factory.prospect(owner, stage="after_sale", tier="diamond", name="Zhao Min")
    visited = factory.prospect(owner, stage="after_sale", tier="diamond", name="Qian Li")
    called = factory.prospect(owner, stage="after_sale", tier="diamond", name="Sun Yu")
    assert diamond.status == "won"
    # Won in March (Shanghai time): April is the first full month that is judged.
    session.add_all([
        Contact(prospect_id=visited.id, user_id=owner.id, kind="visit",
                at=clock.parse("2026-04-10T03:00:00Z")),
        Contact(prospect_id=called.id, user_id=owner.id, kind="call",
                at=clock.parse("2026-04-10T03:00:00Z")),
    ])
    session.commit()
    for moment in ("2026-03-20T00:00:00Z", "2026-04-01T00:00:00Z", "2026-04-30T15:00:00Z"):
        assert sweep_due(session, at(clock.parse(moment))).contact_overdue == 0
    assert escalations(session) == []

    # 1 May 00:00 in Shanghai is 30 April 16:00 UTC: April is over.
    summary = sweep_due(session, at(clock.parse("2026-04-30T16:00:01Z")))
    assert summary.contact_overdue == 2
    found = {e.prospect_id: e for e in escalations(session)}
    assert set(found) == {diamond.id, called.id}
    assert found[diamond.id].kind == "contact_overdue"
    assert found[diamond.id].dedupe_key == f"contact:{diamond.id}:2026-04"
    assert "visit 0/1" in found[diamond.id].reason
    assert {n.prospect_id for n in notes(session, lead, "contact_overdue")} == {
        diamond.id, called.id}

    # Once per period: later in May nothing new; June judges May.
    assert sweep_due(session, at(clock.parse("2026-05-20T00:00:00Z"))).contact_overdue == 0
    assert sweep_due(session, at(clock.parse("2026-05-31T16:00:01Z"))).contact_overdue == 3


def test_gold_needs_one_contact_a_quarter(session, factory):
    _lead, owner, _ = team(factory)
    gold = factory.prospect(owner, stage="after_sale", tier="gold", name="Gold One")
    quiet = factory.prospect(owner, stage="after_sale", tier="gold", name="Gold Two")
    session.add(Contact(prospect_id=gold.id, user_id=owner.id, kind="sms",
                        at=clock.parse("2026-05-03T03:00:00Z")))
    session.commit()
    assert sweep_due(session, at(clock.parse("2026-06-30T15:00:00Z"))).contact_overdue == 0
    summary = sweep_due(session, at(clock.parse("2026-06-30T16:00:01Z")))  # Q2 is over
    assert summary.contact_overdue == 1
    [esc] = escalations(session)
    assert esc.prospect_id == quiet.id and esc.dedupe_key.endswith(":2026-Q2")


def test_a_customer_with_a_potential_is_held_to_the_grid_cell_s_frequency(session, factory,
                                                                           app):
    """Seed 000's grid: with a potential, the cell of assets × potential sets the upkeep;
    without one, the tier does. The sweep reads every customer's cell with the batch."""
    from sqlalchemy import event

    _lead, owner, _ = team(factory)
    # Diamond by tier (a visit a month); high assets, low potential: medium (a call a month).
    medium = factory.prospect(owner, stage="after_sale", tier="diamond", name="Zhou Medium")
    # Gold by tier (one contact a quarter); low assets, high potential: high (two calls a
    # month).
    high = factory.prospect(owner, stage="after_sale", tier="gold", name="Wu High")
    # Diamond without a potential: the tier's visit a month.
    by_tier = factory.prospect(owner, stage="after_sale", tier="diamond", name="Zheng Tier")
    # A potential but no assets: the cell is not known, the tier's frequency holds.
    no_assets = factory.prospect(owner, stage="after_sale", tier="gold", name="Wang Unknown")
    for p, assets, potential in ((medium, 6_000_000, "low"), (high, 120_000, "high"),
                                 (by_tier, 6_000_000, None), (no_assets, None, "high")):
        session.execute(update(Prospect).where(Prospect.id == p.id)
                        .values(assets=assets, potential=potential))
    session.add_all([Contact(prospect_id=p.id, user_id=owner.id, kind="call",
                             at=clock.parse("2026-04-10T03:00:00Z"))
                     for p in (medium, high, by_tier, no_assets)])
    session.commit()

    statements: list[str] = []
    engine = session.connection().engine
    listen = lambda _c, _cur, statement, *_a: statements.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    try:
        summary = sweep_due(session, at(clock.parse("2026-04-30T16:00:01Z")))  # April over
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert summary.contact_overdue == 2
    found = {e.prospect_id: e for e in escalations(session)}
    assert set(found) == {high.id, by_tier.id}
    assert found[high.id].dedupe_key == f"contact:{high.id}:2026-04"
    assert "call 1/2" in found[high.id].reason
    assert "visit 0/1" in found[by_tier.id].reason
    # The four customers are one batch: one read of them with their cells (and the read
    # that finds no more) and one count of their contacts, none per customer.
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")
             and "prospects.potential" in s]
    counts = [s for s in statements if "FROM contacts" in s]
    assert len(reads) == 2 and len(counts) == 1


def test_overdue_cadence_steps_are_reminded_once(session, factory):
    _lead, owner, _ = team(factory)
    p = factory.prospect(owner)
    tasks = {t.key: t for t in session.scalars(select(CadenceTask).where(
        CadenceTask.prospect_id == p.id))}
    sms_due = tasks["manager_sms"].due_at
    # The institution SMS is the branch's step: never reminded to the manager.
    assert sweep_due(session, at(sms_due - SECOND)).reminded == 0
    assert notes(session, owner, "reminder") == []
    summary = sweep_due(session, at(sms_due + SECOND))
    assert summary.reminded == 1
    reminders = notes(session, owner, "reminder")
    assert len(reminders) == 1
    assert sweep_due(session, at(sms_due + timedelta(hours=1))).reminded == 0
    session.refresh(tasks["manager_sms"])
    assert tasks["manager_sms"].reminded_at == sms_due + SECOND


def test_no_meeting_escalation_is_the_visit_s_only_one(session, factory):
    lead, owner, _ = team(factory)
    p = factory.prospect(owner)
    factory.session.commit()
    from pipeline.prospects.services import save_record

    save_record(session, p.id, "contact_log", actor=owner, data={
        "institution_sms_at": "2026-03-02T01:00:00Z", "manager_sms_at": "2026-03-03T01:00:00Z",
        "call_at": "2026-03-05T01:00:00Z"})
    at(T0 + timedelta(days=6))
    advance_prospect(session, p.id, "no_meeting", actor=owner, reason="no answer")
    session.refresh(p)
    assert p.escalated_clock_no == p.clock_no  # out of the sweep's level-1 work list
    assert sweep_due(session, at(T0 + timedelta(days=22))).escalated == 0
    [esc] = escalations(session)
    assert esc.kind == "no_meeting"
    call = session.scalars(select(CadenceTask).where(CadenceTask.key == "lead_call")).one()
    assert call.assignee_id == lead.id
    # Due 2 days after the manager's call (2026-03-05T01:00Z), not after the event.
    assert call.due_at == T0 + timedelta(days=3 + 2)


def test_escalation_of_a_visit_that_is_over_is_closed(session, factory):
    _lead, owner, _ = team(factory)
    p = factory.prospect(owner)
    sweep_due(session, at(T0 + timedelta(days=21, seconds=1)))
    [esc] = escalations(session)
    # A visit that ends some other way than through the services (a data fix, an
    # import) is closed by the sweep.
    session.execute(update(Prospect).where(Prospect.id == p.id)
                    .values(clock_no=Prospect.clock_no + 1))
    session.commit()
    # The repair pass belongs to the full sweep only; the regular one leaves it.
    assert sweep_due(session, at(T0 + timedelta(days=21, seconds=2))).closed == 0
    assert esc.status == "open"
    summary = sweep_due(session, at(T0 + timedelta(days=21, seconds=3)), full=True)
    assert summary.closed == 1
    session.refresh(esc)
    assert (esc.status, esc.decision, esc.decided_by_id) == ("resolved", "continue", None)


def test_advancing_closes_the_escalation_at_once(session, factory):
    _lead, owner, _ = team(factory)
    p = factory.prospect(owner)
    sweep_due(session, at(T0 + timedelta(days=21, seconds=1)))
    [esc] = escalations(session)
    factory.complete(p, "first_contact", owner)
    advance_prospect(session, p.id, "advance", actor=owner)
    session.refresh(esc)
    assert (esc.status, esc.decision, esc.decided_by_id) == ("resolved", "continue", None)
    assert sweep_due(session, at(T0 + timedelta(days=22)), full=True).closed == 0
    assert sweep_due(session, at(T0 + timedelta(days=30))).raised == 0


def test_the_sweep_reads_only_due_rows(session, factory, app):
    """Prospects far from due are not touched: their rows do not change at all."""
    _lead, owner, _ = team(factory)
    fresh = [factory.prospect(owner, name=f"Fresh {i}") for i in range(3)]
    versions = {p.id: p.version for p in fresh}
    summary = sweep_due(session, at(T0 + timedelta(days=2)))
    assert (summary.warned, summary.escalated) == (0, 0)
    for p in fresh:
        session.refresh(p)
        assert p.version == versions[p.id] and p.warned_clock_no == 0


def test_sweep_command_prints_a_json_line(runner, factory, session):
    _lead, owner, _ = team(factory)
    factory.prospect(owner)
    result = runner.invoke(args=["pipeline", "sweep", "--now", "2026-03-23T01:00:01Z",
                                 "--no-mail"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert summary["escalated"] == 1 and summary["now"].startswith("2026-03-23T01:00:01")
    again = json.loads(runner.invoke(args=["pipeline", "sweep", "--now",
                                           "2026-03-23T01:00:01Z", "--no-mail"]).output)
    assert again["escalated"] == 0 and again["warned"] == 0
    bad = runner.invoke(args=["pipeline", "sweep", "--now", "yesterday"])
    assert bad.exit_code == 2 and "ISO-8601" in bad.output


def test_prospect_flags_stay_on_the_prospect(session, factory):
    """A warning does not bump the prospect's version (a user's form stays valid)."""
    _lead, owner, _ = team(factory)
    p = factory.prospect(owner)
    version = p.version
    sweep_due(session, at(p.warn_at + SECOND))
    session.refresh(p)
    assert p.warned_clock_no == p.clock_no and p.version == version
    assert session.get(Prospect, p.id).status == "active"


def _work_lists(session, now) -> dict[str, set[int]]:
    """The prospects each partial-index work list holds as due at ``now``."""
    from sqlalchemy import text

    from pipeline.prospects.models import TO_ESCALATE, TO_WARN

    return {
        "warn": set(session.scalars(select(Prospect.id).where(text(TO_WARN),
                                                                Prospect.warn_at <= now))),
        "escalate": set(session.scalars(select(Prospect.id).where(text(TO_ESCALATE),
                                                                    Prospect.due_at < now))),
    }


def test_escalated_visits_leave_the_work_list_and_a_new_clock_returns(session, factory):
    """The level-1 step marks the visit it escalated (without a version bump), so the next
    sweep does not read it again; a restarted clock (a reassignment) is a new visit that is
    escalated again when it is overdue."""
    from pipeline.escalations.services import decide_escalation

    lead, owner, _ = team(factory)
    other = factory.user("manager", "Team A")
    p = factory.prospect(owner)
    version = p.version
    now = at(T0 + timedelta(days=21, seconds=1))
    assert p.id in _work_lists(session, now)["escalate"]
    assert sweep_due(session, now).escalated == 1
    session.refresh(p)
    assert (p.escalated_clock_no, p.version) == (p.clock_no, version)
    assert _work_lists(session, now + SECOND) == {"warn": set(), "escalate": set()}
    assert sweep_due(session, at(now + SECOND)).escalated == 0

    [esc] = escalations(session, p.id)
    decide_escalation(session, esc.id, actor=lead, decision="reassign", new_owner=other.id)
    session.refresh(p)
    assert p.escalated_clock_no < p.clock_no
    later = at(p.due_at + SECOND)
    assert p.id in _work_lists(session, later)["escalate"]
    assert sweep_due(session, later).escalated == 1
    assert [e.clock_no for e in escalations(session, p.id)] == [esc.clock_no, p.clock_no]


def test_a_stale_mark_does_not_lose_an_escalation(session, factory):
    """The unique key decides exactly-once, the column only shortens the list: a visit
    marked by hand as not escalated is looked at again, gets no second escalation and is
    marked again."""
    _lead, owner, _ = team(factory)
    p = factory.prospect(owner)
    q = factory.prospect(owner, name="Second")
    now = at(T0 + timedelta(days=21, seconds=1))
    assert sweep_due(session, now).escalated == 2
    session.execute(update(Prospect).where(Prospect.id == p.id).values(escalated_clock_no=0))
    session.commit()
    assert sweep_due(session, at(now + SECOND)).escalated == 0
    session.refresh(p)
    assert p.escalated_clock_no == p.clock_no
    assert len(escalations(session, p.id)) == 1 and len(escalations(session, q.id)) == 1


def test_reminded_steps_leave_the_work_list(session, factory):
    from sqlalchemy import text

    from pipeline.prospects.models import TO_REMIND

    _lead, owner, _ = team(factory)
    factory.prospect(owner)
    now = at(T0 + timedelta(days=3))
    open_steps = select(func.count()).select_from(CadenceTask).where(
        text(TO_REMIND), CadenceTask.due_at <= now)
    assert session.scalar(open_steps) > 0
    assert sweep_due(session, now).reminded > 0
    assert session.scalar(open_steps) == 0
