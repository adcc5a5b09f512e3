"""The one event path: every command's outcome written by ``prospects.events.apply``,
with the escalation changes handed to the handlers registered at app start."""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from pipeline import clock
from pipeline.escalations.models import Escalation
from pipeline.escalations.services import decide_escalation, sweep_due
from pipeline.prospects import events
from pipeline.prospects.models import Prospect, StageEvent, StageRecord, StageVisit
from pipeline.prospects.services import advance_prospect, save_record
from tests.conftest import T0

OVERDUE = T0 + timedelta(days=21, seconds=1)
CONTACT_LOG = {"institution_sms_at": "2026-03-02T01:00:00Z",
               "manager_sms_at": "2026-03-03T01:00:00Z", "call_at": "2026-03-05T01:00:00Z"}


@pytest.fixture
def stalled(session, factory):
    """An overdue first-contact prospect with its open level-1 escalation."""
    lead = factory.user("team_lead", "Team A")
    owner = factory.user("manager", "Team A")
    p = factory.prospect(owner, name="Wang Fang")
    clock.set_now(OVERDUE)
    sweep_due(session, OVERDUE)
    esc = session.scalars(select(Escalation)).one()
    clock.set_now(OVERDUE + timedelta(hours=1))
    return p, esc, lead, owner


def test_abandon_goes_through_the_path_and_closes_the_stalled_visit(session, stalled):
    p, esc, lead, _owner = stalled
    decide_escalation(session, esc.id, actor=lead, decision="abandon", note="no interest")
    visit = session.scalars(select(StageVisit).where(StageVisit.prospect_id == p.id)).one()
    assert (visit.exit, visit.stalled) == ("lost", True) and visit.end_at is not None
    decided = session.get(Escalation, esc.id)
    # The decision's own record, not the automatic close of a visit that ended.
    assert (decided.status, decided.decision, decided.note) == (
        "resolved", "abandon", "no interest")
    last = session.scalars(select(StageEvent).where(StageEvent.prospect_id == p.id)
                           .order_by(StageEvent.seq.desc())).first()
    assert (last.event, last.reason, last.data) == ("lose", "no interest",
                                                    {"escalation_id": esc.id})


def test_advance_closes_the_open_escalation_of_the_visit_it_ends(session, stalled, factory):
    p, esc, _lead, owner = stalled
    factory.complete(p, "first_contact", owner)
    advance_prospect(session, p.id, "advance", actor=owner)
    session.expire_all()  # closed by a statement, not through the instance
    closed = session.get(Escalation, esc.id)
    assert (closed.status, closed.decision) == ("resolved", "continue")


def test_every_applied_outcome_reaches_the_hooks(session, factory, monkeypatch):
    seen: list[tuple[str, int]] = []
    monkeypatch.setattr(events, "_after", [])
    events.after_apply(lambda _s, applied: seen.append(
        (applied.outcome.recorded_as, applied.history.seq)))
    events.after_apply(events._after[0])  # a second registration of the same hook: ignored
    owner = factory.user("manager", "Team A")
    p = factory.prospect(owner)
    advance_prospect(session, p.id, "pause", actor=owner, reason="travelling")
    advance_prospect(session, p.id, "resume", actor=owner)
    assert seen == [("create", 1), ("pause", 2), ("resume", 3)]


def test_an_effect_without_a_writer_changes_nothing(session, factory, monkeypatch):
    factory.user("team_lead", "Team A")
    owner = factory.user("manager", "Team A")
    p = factory.prospect(owner)
    save_record(session, p.id, "contact_log", actor=owner, data=CONTACT_LOG)
    version = session.get(Prospect, p.id).version
    monkeypatch.setattr(events, "_handlers", {})
    with pytest.raises(events.NoHandler):
        advance_prospect(session, p.id, "no_meeting", actor=owner, reason="no answer")
    session.expire_all()
    assert session.get(Prospect, p.id).version == version
    assert session.scalars(select(Escalation)).all() == []
    assert [e.event for e in session.scalars(
        select(StageEvent).where(StageEvent.prospect_id == p.id))] == ["create"]


def test_one_log_line_per_event_with_ids_and_nothing_personal(session, factory, caplog):
    owner = factory.user("manager", "Team A")
    p = factory.prospect(owner, name="Wang Fang", phone="13812345678")
    with caplog.at_level(logging.INFO, logger="pipeline.events"):
        caplog.clear()  # the creation's line, when INFO was already on
        advance_prospect(session, p.id, "pause", actor=owner, reason="customer is abroad")
    lines = [r for r in caplog.records if r.name == "pipeline.events"]
    assert len(lines) == 1
    fields = lines[0].event_fields
    assert (fields["kind"], fields["prospect_id"], fields["actor_id"]) == (
        "pause", p.id, owner.id)
    assert fields["duration_ms"] >= 0
    text = repr(fields) + lines[0].getMessage()
    for personal in ("Wang Fang", "13812345678", "customer is abroad"):
        assert personal not in text


def test_the_state_machine_library_adds_no_line_of_its_own(app):
    assert not logging.getLogger("transitions").isEnabledFor(logging.INFO)


def test_an_outcome_for_a_version_that_moved_on_writes_nothing(session, factory):
    from sqlalchemy.orm.attributes import set_committed_value

    from pipeline.db import unit_of_work
    from pipeline.errors import Conflict
    from pipeline.prospects.services import engine_of, load_records, lock_visible, state_of

    owner = factory.user("manager", "Team A")
    p = factory.prospect(owner, "learn")
    factory.complete(p, "learn", owner)
    version = p.version
    history = session.scalars(select(StageEvent.id).where(
        StageEvent.prospect_id == p.id).order_by(StageEvent.seq)).all()
    with pytest.raises(Conflict) as raised, unit_of_work(session):
        locked = lock_visible(session, owner, p.id)
        outcome = engine_of(locked).fire(state_of(locked), "advance", now=clock.now(),
                                         records=load_records(session, locked))
        set_committed_value(locked, "version", version - 1)  # as read before a change
        events.apply(session, locked, outcome, actor=owner, now=clock.now())
    assert raised.value.code == "stale_version"
    session.expire_all()
    moved = session.get(Prospect, p.id)
    assert (moved.stage, moved.version) == ("learn", version)
    assert session.scalars(select(StageEvent.id).where(
        StageEvent.prospect_id == p.id).order_by(StageEvent.seq)).all() == history
    assert [v.stage for v in session.scalars(select(StageVisit).where(
        StageVisit.prospect_id == p.id, StageVisit.end_at.is_(None)))] == ["learn"]


def test_the_locking_read_brings_a_held_instance_up_to_date(session, factory):
    from sqlalchemy import update

    from pipeline.db import unit_of_work
    from pipeline.errors import NotFound
    from pipeline.prospects.services import lock_visible

    owner = factory.user("manager", "Team A")
    other = factory.user("manager", "Team B")
    p = factory.prospect(owner)
    held, version = session.get(Prospect, p.id), p.version
    # Another writer's change, which the instance the session holds has not seen.
    session.execute(update(Prospect.__table__).where(Prospect.__table__.c.id == p.id)
                    .values(tier="diamond", version=Prospect.__table__.c.version + 1))
    with unit_of_work(session):
        locked = lock_visible(session, owner, p.id)
        assert locked is held and (locked.tier, locked.version) == ("diamond", version + 1)
        assert not session.dirty
    session.expunge_all()
    with unit_of_work(session):
        fresh = lock_visible(session, owner, p.id)
        assert fresh in session and not session.dirty and fresh.owner.id == owner.id
        assert (fresh.tier, fresh.name, fresh.stage) == ("diamond", "Li Lei", "first_contact")
    with pytest.raises(NotFound), unit_of_work(session):
        lock_visible(session, other, p.id)


def test_an_event_on_a_prospect_without_records_reads_them_once(session, factory):
    from sqlalchemy import event

    owner = factory.user("manager", "Team A")
    p = factory.prospect(owner)
    assert session.scalars(select(StageRecord).where(StageRecord.prospect_id == p.id)).all() \
        == []
    sent: list[str] = []
    engine = session.connection().engine
    listen = lambda _c, _cur, statement, *_a: sent.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    try:
        paused = advance_prospect(session, p.id, "pause", actor=owner, reason="travelling")
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert paused.status == "paused"
    reads = [s for s in sent if "stage_records" in s]
    # PostgreSQL: with the locking read, and the write's check that they are unchanged
    # (no second attempt: none is there and none came); SQLite: read after the lock.
    postgres = session.get_bind().dialect.name == "postgresql"
    assert len(reads) == (2 if postgres else 1)
    assert sum(" FOR UPDATE" in s for s in sent) == (1 if postgres else 0)  # one locking read
