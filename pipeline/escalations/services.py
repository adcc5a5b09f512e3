"""Writes on escalations: the deadline sweep, the no-meeting escalation, decisions.

Exactly once, also with several sweeps at once
----------------------------------------------
Any number of sweeps may run at the same time (cron on two hosts, a retry overlapping a
slow run, the in-process scheduler beside a manual ``flask pipeline sweep``). Two
mechanisms work together, and the second is the one the guarantee rests on:

1. **Unique keys with ``INSERT … ON CONFLICT DO NOTHING`` / conditional ``UPDATE``.** Each
   escalation has a ``dedupe_key`` (``stage:<prospect>:<clock_no>``,
   ``contact:<prospect>:<period>``) with a unique constraint, plus the partial unique index
   "one open escalation per stage visit"; every notification and e-mail has a unique
   dedupe key too. Inserts skip an existing key instead of failing, and a concurrent insert
   of the same key waits for the other transaction and then skips: whatever the
   interleaving of snapshots, one row is created. Warnings, level-2 raises and reminders
   are claimed by an ``UPDATE … WHERE <not yet done> RETURNING``: PostgreSQL re-checks the
   condition on the locked row, so only the sweep whose UPDATE returned the row tells
   anybody. This holds on SQLite too (≥ 3.35 for RETURNING), where one writer at a time
   serialises the sweeps anyway.
2. **``FOR UPDATE SKIP LOCKED`` on the rows a batch picks** (PostgreSQL; SQLite ignores
   it). Concurrent sweeps take disjoint batches instead of queueing behind each other,
   and a sweep never waits for, nor races with, a prospect a user is changing right now
   (the services lock it with ``FOR UPDATE``): that prospect is simply looked at again
   by the next run. On its own SKIP LOCKED would not be enough — a row locked and
   released between two sweeps' snapshots can be picked twice — which is why (1) decides.

Cost follows the due rows, not the size of the book: the warning, level-1 and reminder
steps read partial indexes that hold only what is still to do (``TO_WARN``,
``TO_ESCALATE``, ``TO_REMIND`` in :mod:`pipeline.prospects.models`: a visit leaves them
when it is warned, escalated or reminded, through ``warned_clock_no``,
``escalated_clock_no`` and ``reminded_at``), the level-2 step ``status, level,
opened_at`` on escalations, the after-sale step two ranges of ``status, due_at``. Each
works in batches of :data:`BATCH`, one transaction each, so locks are held briefly.

After-sale customers (status ``won``) have no stage limit; for them the sweep keeps in
``due_at`` the end of the contact period it will judge next, so the same index finds the
customers whose period has ended.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    String,
    bindparam,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    text,
    true,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from pipeline import clock, workflows
from pipeline.auth.models import User
from pipeline.auth.services import audit
from pipeline.db import DriverStatement, unit_of_work
from pipeline.engine.definition import OVERDUE_KINDS
from pipeline.engine.machine import Engine, EngineError
from pipeline.errors import Conflict, Forbidden, Invalid
from pipeline.escalations import queries, rules
from pipeline.escalations.models import Escalation, Handover
from pipeline.escalations.schemas import DecideEscalation
from pipeline.logs import timed_event
from pipeline.notifications.services import (
    N_,
    Message,
    Recipient,
    leads_of,
    notify_many,
    recipients,
    supervisor_recipients,
    team_lead_of,
    translate,
)
from pipeline.prospects import events
from pipeline.prospects.models import (
    TO_ESCALATE,
    TO_REMIND,
    TO_REPORT,
    TO_WARN,
    CadenceTask,
    Contact,
    Prospect,
)
from pipeline.prospects.services import (
    check_capacity,
    engine_of,
    flush_or_conflict,
    load_records,
    state_of,
)
from pipeline.prospects.visits import mark_stalled
from pipeline.sql import dialect_name, insert_ignoring_duplicates, picked
from pipeline.validation import load

log = logging.getLogger(__name__)

BATCH = 500
REMINDER_WINDOW = timedelta(days=30)  # older open cadence tasks belong to long-escalated visits
# A stage visit's escalations: each workflow's kind at the limit (its escalation policy's
# ``overdue_kind``: complaints have their own) and first contact without a meeting.
STAGE_KINDS = (*OVERDUE_KINDS, "no_meeting")


def stage_dedupe_key(prospect: Prospect) -> str:
    """One stage escalation per prospect and stage visit (clock)."""
    return f"stage:{prospect.id}:{prospect.clock_no}"


def _stage_key_sql(p: Any) -> Any:
    """:func:`stage_dedupe_key` as a SQL expression (``||`` on both databases)."""
    return (literal("stage:", String) + cast(p.c.id, String) + literal(":", String)
            + cast(p.c.clock_no, String))


def _local_day(moment: datetime | None, tz: str) -> str:
    return moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d") if moment else ""


# ------------------------------------------------------------------ no meeting

def register_hooks() -> None:
    """Write the escalation changes of every applied outcome (called at app start)."""
    events.handle("open", _open_on_event)
    events.handle("close_ended", _close_on_event)
    events.after_apply(_follow_owner)


def _follow_owner(session: Session, applied: events.Applied) -> None:
    """A customer moved to another manager (a leaving manager's book, a handler assigned)
    takes its open escalations along: the new manager's, in their team lead's queue."""
    prospect = applied.prospect
    if applied.outcome.owner_id is None:
        return
    session.execute(update(Escalation).where(
        Escalation.prospect_id == prospect.id, Escalation.status == "open",
        or_(Escalation.owner_id.is_(None), Escalation.owner_id != prospect.owner_id))
        .values(owner_id=prospect.owner_id, team_id=prospect.team_id)
        .execution_options(synchronize_session=False))


def _open_on_event(session: Session, applied: events.Applied,
                   change: events.EscalationChange) -> None:
    prospect = applied.prospect
    open_no_meeting(session, prospect, engine_of(prospect), now=applied.now,
                    actor=applied.actor, reason=applied.outcome.reason, kind=change.kind)


def _close_on_event(session: Session, applied: events.Applied,
                    change: events.EscalationChange) -> None:
    # Only a visit with a stage escalation can leave one open (the sweep and
    # open_no_meeting mark it); the others skip the UPDATE.
    if applied.prospect.escalated_clock_no == change.clock_no:
        close_moved_on(session, applied.prospect, applied.now)


LEAD_CALL = "lead_call"  # the task of the lead's call after no meeting (seed 004)


def lead_call_due(session: Session, prospect: Prospect, engine: Engine,
                  now: datetime) -> datetime:
    """When the lead's call after no meeting is due: ``lead_call_after_days`` after the
    manager's call (the time the contact log gives for the cadence step
    ``lead_call_after_step``), else after the visit's last touch done, else after ``now``
    (seed 004: "2-3 days after the call"); never counted from a time after ``now``."""
    policy = engine.workflow.escalation
    done = dict(session.execute(select(CadenceTask.key, CadenceTask.done_at).where(
        CadenceTask.prospect_id == prospect.id, CadenceTask.clock_no == prospect.clock_no,
        CadenceTask.done_at.is_not(None), CadenceTask.cancelled_at.is_(None),
        CadenceTask.key != LEAD_CALL)).all())
    base = None
    stage = engine.workflow.stage(prospect.stage)
    step = next((s for s in stage.cadence if s.key == policy.lead_call_after_step), None)
    if step is not None and step.key in done and step.done_field:
        record = next(r for r in stage.records if r.field(step.done_field))
        logged = (load_records(session, prospect).get(record.key) or {}).get(step.done_field)
        base = clock.parse(logged) if isinstance(logged, str) else done[step.key]
    if base is None:
        base = max(done.values(), default=now)
    return min(base, now) + timedelta(days=policy.lead_call_after_days)


def open_no_meeting(session: Session, prospect: Prospect, engine: Engine, *, now: datetime,
                    actor: User | None, reason: str | None,
                    kind: str | None = "no_meeting") -> Escalation | None:
    """First contact ended without a meeting: a level-1 escalation to the team lead at once,
    and a task for the lead to phone the customer a few days later. Part of the caller's
    transaction; returns None when this stage visit already has its escalation (the lead's
    call task is made either way)."""
    key = stage_dedupe_key(prospect)
    lead = team_lead_of(session, prospect.team_id)
    days = engine.workflow.escalation.lead_call_after_days
    session.execute(insert_ignoring_duplicates(session, CadenceTask).values(
        prospect_id=prospect.id, key=LEAD_CALL, assignee_kind="team_lead",
        assignee_id=lead.id if lead else None, clock_no=prospect.clock_no,
        due_at=lead_call_due(session, prospect, engine, now), created_at=now))
    new_id = session.execute(insert_ignoring_duplicates(session, Escalation).values(
        prospect_id=prospect.id, kind=kind, level=1, status="open",
        stage=prospect.stage, clock_no=prospect.clock_no, dedupe_key=key,
        team_id=prospect.team_id, owner_id=prospect.owner_id, due_at=prospect.due_at,
        opened_at=now, reason=reason or "first contact ended without a meeting",
    ).returning(Escalation.id)).scalar()
    # Out of the sweep's level-1 work list; no version bump (the caller's history row
    # already counted this change), and the instance in memory agrees.
    session.execute(update(Prospect).where(Prospect.id == prospect.id)
                    .values(escalated_clock_no=prospect.clock_no))
    set_committed_value(prospect, "escalated_clock_no", prospect.clock_no)
    if new_id is None:
        return None
    mark_stalled(session, [prospect.id])  # the funnel's stalled flag of this stage visit
    targets = [Recipient.of(lead)] if lead else supervisor_recipients(session)
    notify_many(session, [Message(
        to, "escalation",
        N_("No meeting booked with %(name)s: please decide and call the customer within "
           "%(days)s days"),
        {"name": prospect.name, "days": days}, prospect_id=prospect.id,
        dedupe_key=f"esc:{key}:1") for to in targets])
    return session.get(Escalation, new_id)


# ------------------------------------------------------------------ the sweep

@dataclass
class SweepSummary:
    now: str
    warned: int = 0
    escalated: int = 0
    raised: int = 0
    contact_overdue: int = 0
    reminded: int = 0
    closed: int = 0
    retention: int = 0
    daily: dict[str, int] = field(default_factory=dict)  # the registered daily steps'

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sweep_due(session: Session, now: datetime | None = None, *,
              batch: int = BATCH, full: bool = False) -> SweepSummary:
    """Everything due at ``now``: 80 % warnings, level-1 escalations, level-2 raises,
    after-sale ``contact_overdue`` escalations, reminders of overdue first-contact tasks and
    ``retention_overdue`` escalations of retention tasks not done in time; the full sweep
    also runs the daily steps other domains registered (:func:`on_full_sweep`).

    ``full`` also closes open stage escalations whose visit is over. Every service that
    ends a visit (advancing, going back, winning, losing, a decision) closes its
    escalation in the same transaction, so this pass finds nothing unless rows were
    written around the services (an import, a manual fix); it reads every open stage
    escalation, which is why it runs only in the full sweep (``--full``, and the
    scheduler's first run of each day) and not every few minutes.

    Idempotent: a second run at the same time creates nothing. Safe to run concurrently
    (see the module docstring). Commits once per batch; a failure rolls back that batch
    only and raises (the next run picks up what was left).
    """
    now = now or clock.now()
    summary = SweepSummary(now=now.isoformat())
    if full:
        summary.closed = _loop(session, lambda: _close_moved_on(session, now, batch), batch)
    summary.warned = _loop(session, lambda: _warn(session, now, batch), batch)
    summary.escalated = _keyset_loop(session, lambda after: _escalate(session, now, after, batch))
    summary.raised = _keyset_loop(session, lambda after: _raise(session, now, after, batch))
    summary.contact_overdue = _keyset_loop(
        session, lambda after: _contact_overdue(session, now, after, batch))
    summary.reminded = _loop(session, lambda: _remind(session, now, batch), batch)
    summary.retention = _loop(session, lambda: _report_retention(session, now, batch), batch)
    if full:
        for name, step in _daily_steps.items():
            with unit_of_work(session):
                summary.daily[name] = step(session, now)
    return summary


DailyStep = Callable[[Session, datetime], int]
_daily_steps: dict[str, DailyStep] = {}


def on_full_sweep(name: str, step: DailyStep) -> None:
    """Register a step the full sweep (once a day) runs in a transaction of its own, e.g.
    the after-sale domain's birthday tasks; ``step(session, now)`` returns how many things
    it made, reported under ``name``. Registering a name again replaces the step."""
    _daily_steps[name] = step


def _loop(session: Session, step, batch: int) -> int:
    """Run claim-style batches (each claims rows so they drop out) until one is short."""
    total = 0
    while True:
        with unit_of_work(session):
            claimed, done = step()
        session.expire_all()  # the batch wrote with SQL statements: reload what is held
        total += done
        if claimed < batch:
            return total


def _keyset_loop(session: Session, step) -> int:
    """Run batches that walk the candidates in key order until none is left."""
    total, after = 0, None
    while True:
        with unit_of_work(session):
            after, done = step(after)
        session.expire_all()
        total += done
        if after is None:
            return total


AUTO_CLOSE_NOTE = "closed automatically: the stage visit is over"


def _close_moved_on_statement(ended: Any) -> DriverStatement:
    e = Escalation.__table__
    # The kinds spelled out rather than IN (...): an IN list is expanded per call, and this
    # statement is sent through the driver on the path of the event that ended the visit.
    return DriverStatement(
        update(e).where(e.c.prospect_id == bindparam("pid"), e.c.status == "open",
                        or_(*[e.c.kind == kind for kind in STAGE_KINDS]), ended)
        .values(status="resolved", decision="continue", decided_at=bindparam(
            "now", type_=e.c.decided_at.type), note=AUTO_CLOSE_NOTE)
        .returning(e.c.id))


# Still in the stage (another visit of it, after back or a decision): the escalations of
# earlier visits; won or lost: every stage escalation.
_CLOSE_MOVED_ON = {
    False: _close_moved_on_statement(Escalation.__table__.c.clock_no != bindparam("clock_no")),
    True: _close_moved_on_statement(true()),
}


def close_moved_on(session: Session, prospect: Prospect, now: datetime) -> int:
    """Close the prospect's open stage escalations whose visit just ended (it moved to
    another stage, or was won or lost), as the sweep does for the whole book; part of the
    caller's transaction, so the queue never shows a stall that no longer exists."""
    over = prospect.status in ("won", "lost")
    return len(_CLOSE_MOVED_ON[over].run(session.connection(), {
        "pid": prospect.id, "clock_no": prospect.clock_no, "now": now}).rows)


def _close_moved_on(session: Session, now: datetime, batch: int) -> tuple[int, int]:
    """Open stage escalations whose visit is over (the prospect advanced, went back, was
    won or lost meanwhile) are closed as *continue* by the system (no decider): nobody
    has to decide about a stall that no longer exists, and it must not reach level 2."""
    e, p = Escalation.__table__, Prospect.__table__
    pick = (select(e.c.id).join(p, p.c.id == e.c.prospect_id)
            .where(e.c.status == "open", e.c.kind.in_(STAGE_KINDS),
                   or_(p.c.clock_no != e.c.clock_no, p.c.status.in_(("won", "lost"))))
            .limit(batch).with_for_update(of=e, skip_locked=True))
    rows = session.execute(
        update(e).where(e.c.id.in_(picked(pick)), e.c.status == "open")
        .values(status="resolved", decision="continue", decided_at=now, note=AUTO_CLOSE_NOTE)
        .returning(e.c.id)).all()
    return len(rows), len(rows)


def _warn(session: Session, now: datetime, batch: int) -> tuple[int, int]:
    """Claim the visits that reached 80 % of their clock and tell their owners."""
    p = Prospect.__table__
    # TO_WARN verbatim (with its literals), so both databases use the partial index of
    # not-yet-warned visits whatever plan they cache.
    pick = (select(p.c.id).where(text(TO_WARN), p.c.warn_at <= now)
            .order_by(p.c.warn_at).limit(batch).with_for_update(skip_locked=True))
    rows = session.execute(
        update(p).where(p.c.id.in_(picked(pick)), p.c.status == "active",
                        p.c.warned_clock_no < p.c.clock_no)
        .values(warned_clock_no=p.c.clock_no)
        .returning(p.c.id, p.c.owner_id, p.c.clock_no, p.c.name, p.c.stage, p.c.due_at,
                   p.c.workflow_key)).all()
    # A visit already past due is escalated instead; it is still marked as warned.
    live = [r for r in rows if r.due_at is None or r.due_at > now]
    people = recipients(session, {r.owner_id for r in live})
    messages = []
    for r in live:
        wf = workflows.workflow(r.workflow_key)
        messages.append(Message(
            people[r.owner_id], "warning",
            N_("%(name)s: %(stage)s is due on %(due)s"),
            {"name": r.name, "stage": wf.stage(r.stage).name, "due": _local_day(r.due_at, wf.timezone)},
            body=N_("80%% of the stage's time is used. Complete the stage's records or ask "
                    "your team lead for help before %(due)s."),
            prospect_id=r.id, dedupe_key=f"warn:{r.id}:{r.clock_no}"))
    notify_many(session, messages)
    return len(rows), len(live)


def _escalate(session: Session, now: datetime, after: tuple | None,
              batch: int) -> tuple[tuple | None, int]:
    """Level-1 escalations for visits past their due time (one per visit)."""
    p, e = Prospect.__table__, Escalation.__table__
    # Visits whose clock has no stage escalation yet (TO_ESCALATE, the partial index's own
    # predicate); the unique dedupe key below still decides, the column only keeps escalated
    # visits out of this list.
    pick = select(p.c.id, p.c.due_at).where(text(TO_ESCALATE), p.c.due_at < now)
    if after is not None:
        pick = pick.where(tuple_(p.c.due_at, p.c.id) > tuple_(*after))
    picked = session.execute(pick.order_by(p.c.due_at, p.c.id).limit(batch)
                             .with_for_update(of=p, skip_locked=True)).all()
    if not picked:
        return None, 0
    ids = [r.id for r in picked]
    source = select(
        p.c.id, _overdue_kind(p), literal(1), literal("open"), p.c.stage, p.c.clock_no,
        _stage_key_sql(p), p.c.team_id, p.c.owner_id, p.c.due_at, literal(now, e.c.opened_at.type),
    ).where(p.c.id.in_(ids), p.c.status == "active", p.c.due_at < now)
    created = session.execute(
        insert_ignoring_duplicates(session, Escalation).from_select(
            ["prospect_id", "kind", "level", "status", "stage", "clock_no", "dedupe_key",
             "team_id", "owner_id", "due_at", "opened_at"], source)
        .returning(e.c.id, e.c.prospect_id, e.c.dedupe_key)).all()
    mark_stalled(session, [r.prospect_id for r in created])  # the funnel's stalled flag
    # Every picked visit now has its escalation (this one's, or an earlier one's that held
    # the key): no version bump, a user's concurrent edit of the prospect is not stale.
    session.execute(update(p).where(p.c.id.in_(ids), p.c.status == "active", p.c.due_at < now)
                    .values(escalated_clock_no=p.c.clock_no))
    _tell_escalated(session, now, [r.prospect_id for r in created],
                    {r.prospect_id: r.dedupe_key for r in created})
    last = picked[-1]
    return (last.due_at, last.id), len(created)


def _overdue_kind(p: Any) -> Any:
    """The kind of a case's escalation at its limit: its workflow's ``overdue_kind``."""
    kinds = {key: en.workflow.escalation.overdue_kind
             for key, en in workflows.all_engines().items()
             if en.workflow.escalation.overdue_kind != "stage_overdue"}
    if not kinds:
        return literal("stage_overdue")
    return case(kinds, value=p.c.workflow_key, else_=literal("stage_overdue"))


def _tell_escalated(session: Session, now: datetime, prospect_ids: list[int],
                    keys: dict[int, str]) -> None:
    if not prospect_ids:
        return
    rows = session.execute(select(Prospect.id, Prospect.name, Prospect.stage, Prospect.owner_id,
                                  Prospect.team_id, Prospect.due_at, Prospect.workflow_key)
                           .where(Prospect.id.in_(prospect_ids))).all()
    leads = leads_of(session, {r.team_id for r in rows if r.team_id})
    people = recipients(session, {r.owner_id for r in rows})
    sups: list[Recipient] | None = None
    messages = []
    for r in rows:
        wf = workflows.workflow(r.workflow_key)
        params = {"name": r.name, "stage": wf.stage(r.stage).name,
                  "due": _local_day(r.due_at, wf.timezone)}
        key = keys[r.id]
        lead = leads.get(r.team_id)
        if lead is None and sups is None:
            sups = supervisor_recipients(session)
        for to in [lead] if lead else sups or []:
            messages.append(Message(
                to, "escalation", N_("Escalation: %(name)s is overdue in %(stage)s"), params,
                body=N_("The stage was due on %(due)s. Decide in your escalation queue: "
                        "continue, reassign or abandon."),
                prospect_id=r.id, dedupe_key=f"esc:{key}:1"))
        messages.append(Message(
            people[r.owner_id], "overdue",
            N_("%(name)s is past its due date in %(stage)s and went to your team lead"), params,
            prospect_id=r.id, dedupe_key=f"overdue:{key}"))
    notify_many(session, messages)


def _raise(session: Session, now: datetime, after: tuple | None,
           batch: int) -> tuple[tuple | None, int]:
    """Level-1 escalations undecided for the workflow's days go to the supervisors."""
    e, p = Escalation.__table__, Prospect.__table__
    engines = workflows.all_engines()
    shortest = min(en.workflow.escalation.level2_after_days for en in engines.values())
    pick = (select(e.c.id, e.c.opened_at, p.c.workflow_key)
            .join(p, p.c.id == e.c.prospect_id)
            .where(e.c.status == "open", e.c.level == 1,
                   e.c.opened_at <= now - timedelta(days=shortest)))
    if after is not None:
        pick = pick.where(tuple_(e.c.opened_at, e.c.id) > tuple_(*after))
    picked = session.execute(pick.order_by(e.c.opened_at, e.c.id).limit(batch)
                             .with_for_update(of=e, skip_locked=True)).all()
    if not picked:
        return None, 0
    due_ids = []
    for r in picked:
        engine = engines.get(r.workflow_key) or workflows.engine()
        days = engine.workflow.escalation.level2_after_days
        if rules.level2_due(r.opened_at, engine.calendar.add_days, days) <= now:
            due_ids.append(r.id)
    raised = session.execute(
        update(e).where(e.c.id.in_(due_ids), e.c.status == "open", e.c.level == 1)
        .values(level=2, raised_at=now)
        .returning(e.c.id, e.c.prospect_id, e.c.dedupe_key, e.c.opened_at)).all() \
        if due_ids else []
    if raised:
        names = dict(session.execute(select(Prospect.id, Prospect.name).where(
            Prospect.id.in_([r.prospect_id for r in raised]))).all())
        sups = supervisor_recipients(session)
        notify_many(session, [Message(
            to, "escalation",
            N_("Second level: %(name)s has waited %(days)s days for a team lead's decision"),
            {"name": names.get(r.prospect_id, ""),
             "days": max(int((now - r.opened_at).total_seconds() // 86400), 0)},
            body=N_("Decide in the supervisor's queue: continue, reassign or abandon."),
            prospect_id=r.prospect_id, dedupe_key=f"esc:{r.dedupe_key}:2")
            for r in raised for to in sups])
    last = picked[-1]
    return (last.opened_at, last.id), len(raised)


def _contact_overdue(session: Session, now: datetime, after: int | None,
                     batch: int) -> tuple[int | None, int]:
    """After-sale customers whose last full period missed their contact frequency: their
    cell's of the tiering grid when they have a potential, else their tier's."""
    p, e = Prospect.__table__, Escalation.__table__
    # Only the workflows that keep contact frequencies (a settled complaint has none).
    keeping = [key for key, en in workflows.all_engines().items()
               if any(s.contact_frequency for s in en.workflow.stages)]
    if not keeping:
        return None, 0
    # Two ranges of the (status, due_at) index, never judged and period ended: an OR of
    # both made the planners filter every won customer in id order instead.
    ranges = [select(p.c.id).where(p.c.status == "won", p.c.due_at.is_(None),
                                   p.c.workflow_key.in_(keeping)),
              select(p.c.id).where(p.c.status == "won", p.c.due_at <= now,
                                   p.c.workflow_key.in_(keeping))]
    if after is not None:
        ranges = [r.where(p.c.id > after) for r in ranges]
    pick = (select(p.c.id, p.c.tier, p.c.assets, p.c.potential, p.c.stage,
                   p.c.stage_entered_at, p.c.workflow_key, p.c.owner_id, p.c.team_id,
                   p.c.clock_no, p.c.name)
            .where(p.c.id.in_(union_all(*ranges)), p.c.status == "won",
                   or_(p.c.due_at.is_(None), p.c.due_at <= now)))
    if dialect_name(session) == "postgresql":
        # The planner cannot know that few won customers are past their check, and its
        # estimate grows with the bank: at 2.5 million prospects it JIT-compiled the plan
        # for 13 ms to run it in 0.2. The setting ends with the transaction.
        session.execute(select(func.set_config("jit", "off", True)))
    picked = session.execute(pick.order_by(p.c.id).limit(batch)
                             .with_for_update(of=p, skip_locked=True)).all()
    if not picked:
        return None, 0
    judged: dict[tuple[datetime, datetime], list] = {}
    next_due: list[dict[str, Any]] = []
    for r in picked:
        wf = workflows.workflow(r.workflow_key)
        freq = rules.contact_frequency(wf, r.stage, r.tier, r.assets, r.potential)
        kind = freq.period if freq else "month"
        next_due.append({"pid": r.id, "due": rules.next_check(now, kind, wf.timezone)})
        period = rules.period_to_judge(now, r.stage_entered_at, kind, wf.timezone) \
            if freq else None
        if period is not None:
            judged.setdefault((period.start, period.end), []).append((r, freq, period))
    values = []
    for (start, end), items in judged.items():  # one query per distinct period (≤ 2)
        counts: dict[int, list] = {}
        for pid, kind, n in session.execute(
                select(Contact.prospect_id, Contact.kind, func.count())
                .where(Contact.prospect_id.in_([r.id for r, _, _ in items]),
                       Contact.at >= start, Contact.at < end)
                .group_by(Contact.prospect_id, Contact.kind)):
            counts.setdefault(pid, []).append((kind, n))
        for r, freq, period in items:
            missing = rules.shortfall(freq.require, rules.contact_counts(counts.get(r.id, [])))
            if missing:
                values.append({
                    "prospect_id": r.id, "kind": "contact_overdue", "level": 1,
                    "status": "open", "stage": r.stage, "clock_no": r.clock_no,
                    "dedupe_key": f"contact:{r.id}:{period.label}", "team_id": r.team_id,
                    "owner_id": r.owner_id, "due_at": period.end, "opened_at": now,
                    "reason": f"{period.label}: " + ", ".join(
                        f"{k} {done}/{need}" for k, (done, need) in sorted(missing.items()))})
    created = session.execute(insert_ignoring_duplicates(session, Escalation).values(values)
                              .returning(e.c.id, e.c.prospect_id, e.c.dedupe_key,
                                         e.c.reason)).all() if values else []
    mark_stalled(session, [c.prospect_id for c in created])  # the funnel's stalled flag
    session.execute(update(p).where(p.c.id == bindparam("pid"), p.c.status == "won")
                    .values(due_at=bindparam("due")), next_due)
    if created:
        rows = {r.id: r for r in picked}
        leads = leads_of(session, {rows[c.prospect_id].team_id for c in created
                                   if rows[c.prospect_id].team_id})
        people = recipients(session, {rows[c.prospect_id].owner_id for c in created})
        sups = None
        messages = []
        for c in created:
            r = rows[c.prospect_id]
            params = {"name": r.name, "missing": c.reason}
            lead = leads.get(r.team_id)
            if lead is None and sups is None:
                sups = supervisor_recipients(session)
            for to in ([lead] if lead else sups or []) + [people[r.owner_id]]:
                messages.append(Message(
                    to, "contact_overdue",
                    N_("Contact frequency not met for %(name)s (%(missing)s)"), params,
                    prospect_id=r.id, dedupe_key=f"esc:{c.dedupe_key}:1"))
        notify_many(session, messages)
    return picked[-1].id, len(created)


RETENTION_KIND = "retention_overdue"


def _report_retention(session: Session, now: datetime, batch: int) -> tuple[int, int]:
    """Retention tasks not done in time (seed 002: a customer movement is met "at the
    first moment"): a level-1 escalation of kind ``retention_overdue`` to the team lead,
    like a stall, once per task (its dedupe key ``retention:<task>``; the task's
    ``escalated_at`` takes it out of the work list). The escalation is not tied to a stage
    visit (``clock_no`` 0): a customer has one such escalation open at a time, and a task
    whose customer already has one is looked at again by the next sweep."""
    t, p, e = CadenceTask.__table__, Prospect.__table__, Escalation.__table__
    # Not for a customer whose open escalation holds the slot (see above).
    slot_held = select(e.c.id).where(e.c.prospect_id == t.c.prospect_id, e.c.status == "open",
                                     e.c.clock_no == 0, e.c.kind != "contact_overdue").exists()
    pick = (select(t.c.id).where(text(TO_REPORT), t.c.due_at < now, ~slot_held)
            .order_by(t.c.due_at).limit(batch).with_for_update(of=t, skip_locked=True))
    claimed = session.execute(
        update(t).where(t.c.id.in_(picked(pick)), t.c.escalated_at.is_(None),
                        t.c.done_at.is_(None))
        .values(escalated_at=now)
        .returning(t.c.id, t.c.prospect_id, t.c.due_at)).all()
    if not claimed:
        return 0, 0
    rows = {r.id: r for r in session.execute(
        select(p.c.id, p.c.name, p.c.stage, p.c.status, p.c.owner_id, p.c.team_id,
               p.c.workflow_key).where(p.c.id.in_({c.prospect_id for c in claimed})))}
    values = []
    for c in claimed:
        r = rows[c.prospect_id]
        if r.status == "lost":
            continue
        tz = workflows.workflow(r.workflow_key).timezone
        values.append({
            "prospect_id": r.id, "kind": RETENTION_KIND, "level": 1, "status": "open",
            "stage": r.stage, "clock_no": 0, "dedupe_key": f"retention:{c.id}",
            "team_id": r.team_id, "owner_id": r.owner_id, "due_at": c.due_at,
            "opened_at": now,
            "reason": f"retention task {c.id} not done by {_local_day(c.due_at, tz)}"})
    created = session.execute(insert_ignoring_duplicates(session, Escalation).values(values)
                              .returning(e.c.id, e.c.prospect_id, e.c.dedupe_key)).all() \
        if values else []
    made = {c.dedupe_key for c in created}
    held = set(session.scalars(select(e.c.dedupe_key).where(
        e.c.dedupe_key.in_([v["dedupe_key"] for v in values if v["dedupe_key"] not in made])))
    ) if len(made) < len(values) else set()
    waiting = [int(v["dedupe_key"].split(":")[1]) for v in values
               if v["dedupe_key"] not in made and v["dedupe_key"] not in held]
    if waiting:  # the customer's earlier retention escalation is still open
        session.execute(update(t).where(t.c.id.in_(waiting)).values(escalated_at=None))
    mark_stalled(session, [c.prospect_id for c in created])
    if created:
        leads = leads_of(session, {rows[c.prospect_id].team_id for c in created
                                   if rows[c.prospect_id].team_id})
        people = recipients(session, {rows[c.prospect_id].owner_id for c in created})
        sups = None
        messages = []
        for c in created:
            r = rows[c.prospect_id]
            lead = leads.get(r.team_id)
            if lead is None and sups is None:
                sups = supervisor_recipients(session)
            for to in ([lead] if lead else sups or []) + [people[r.owner_id]]:
                messages.append(Message(
                    to, "escalation",
                    N_("Retention not done in time for %(name)s: escalated to the team lead"),
                    {"name": r.name}, prospect_id=r.id, dedupe_key=f"esc:{c.dedupe_key}:1"))
        notify_many(session, messages)
    return len(claimed), len(created)


def _remind(session: Session, now: datetime, batch: int) -> tuple[int, int]:
    """Remind whoever owns an overdue first-contact step of the current visit, once."""
    t, p = CadenceTask.__table__, Prospect.__table__
    pick = (select(t.c.id).join(p, p.c.id == t.c.prospect_id)
            .where(text(TO_REMIND), t.c.due_at <= now, t.c.due_at > now - REMINDER_WINDOW,
                   p.c.status == "active", p.c.clock_no == t.c.clock_no)
            .order_by(t.c.due_at).limit(batch).with_for_update(of=t, skip_locked=True))
    claimed = session.execute(
        update(t).where(t.c.id.in_(picked(pick)), t.c.reminded_at.is_(None), t.c.done_at.is_(None))
        .values(reminded_at=now)
        .returning(t.c.id, t.c.prospect_id, t.c.key, t.c.assignee_kind, t.c.assignee_id)).all()
    if not claimed:
        return 0, 0
    prospects = {r.id: r for r in session.execute(
        select(Prospect.id, Prospect.name, Prospect.stage, Prospect.owner_id, Prospect.team_id,
               Prospect.workflow_key).where(Prospect.id.in_({c.prospect_id for c in claimed})))}
    leads = leads_of(session, {r.team_id for r in prospects.values() if r.team_id})
    people = recipients(session, {r.owner_id for r in prospects.values()}
                        | {c.assignee_id for c in claimed if c.assignee_id})
    messages = []
    for c in claimed:
        r = prospects[c.prospect_id]
        if c.assignee_kind == "team_lead":
            to = people.get(c.assignee_id) if c.assignee_id else leads.get(r.team_id)
        elif c.assignee_kind == "institution":
            continue  # the branch's own step (its SMS goes out by itself): not the manager's
        else:  # the owner's own steps
            to = people.get(r.owner_id)
        if to is None:
            continue
        stage = workflows.workflow(r.workflow_key).stage(r.stage)
        step = next((s.name for s in stage.cadence if s.key == c.key), None)
        messages.append(Message(
            to, "reminder", N_("Reminder for %(name)s: %(step)s is overdue"),
            {"name": r.name, "step": step or (N_("call the customer") if c.key == LEAD_CALL
                                             else c.key)},
            prospect_id=r.id, dedupe_key=f"remind:{c.id}"))
    notify_many(session, messages)
    return len(claimed), len(messages)


# ------------------------------------------------------------------ decisions

def _new_owner(session: Session, value: Any, team_id: int | None) -> User:
    if value is None or value == "":
        raise Invalid("choose the manager who takes the prospect over",
                      details={"new_owner": ["Required for reassign."]})
    if isinstance(value, int) and not isinstance(value, bool):
        user = session.get(User, value)
    elif isinstance(value, str) and value.strip().isdigit():
        user = session.get(User, int(value))
    elif isinstance(value, str):
        user = session.scalars(select(User).where(
            func.lower(User.email) == value.strip().lower())).first()
    else:
        user = None
    if user is None:
        raise Invalid(f"no user {value}", details={"new_owner": ["Unknown user."]})
    if user.role != "manager" or not user.active or user.team_id != team_id:
        raise Invalid(f"{user.email} is not an active manager of the prospect's team",
                      details={"new_owner": ["Must be an active manager of the team."]})
    return user


def decide_escalation(session: Session, escalation_id: Any, *, actor: User, decision: Any,
                      extend_days: Any = None, new_owner: Any = None,
                      note: Any = None) -> Escalation:
    """A team lead's (or supervisor's) decision on an open escalation.

    ``continue``: the stage is due ``extend_days`` (default: the workflow's 7) after now;
    ``reassign``: ``new_owner`` (user id or e-mail), an active manager of the prospect's
    team below the cap, takes it over — handover record and letter, both managers told,
    the stage clock restarts; ``abandon``: the prospect is lost with ``note`` as reason.
    Every decision writes a history row and an audit entry and closes the escalation.

    Raises NotFound (cannot see it), Forbidden (may see, may not decide), Conflict
    (already decided, or the prospect changed meanwhile), Invalid (bad decision or
    fields, manager full, lost prospect). One transaction with the prospect change;
    the e-mails it queues are sent after commit by the outbox sender.
    """
    command = load(DecideEscalation, {"decision": decision, "extend_days": extend_days,
                                      "new_owner": new_owner, "note": note})
    decision, days, new_owner, note = (command["decision"], command["extend_days"],
                                       command["new_owner"], command["note"])
    with timed_event("decision", decision=decision, actor_id=actor.id) as logged, \
            unit_of_work(session):
        esc = queries.get_visible_escalation(session, actor, escalation_id, for_update=True)
        logged.update(escalation_id=esc.id, prospect_id=esc.prospect_id, level=esc.level)
        prospect = session.scalars(select(Prospect).where(Prospect.id == esc.prospect_id)
                                   .with_for_update()).one()
        if not queries.may_decide(actor, prospect.team_id):
            raise Forbidden("only the prospect's team lead or a supervisor decides")
        if esc.status != "open":
            raise Conflict("this escalation has been decided already", code="already_decided")
        engine = engine_of(prospect)
        wf = engine.workflow
        now = clock.now()
        before = state_of(prospect)
        target = None
        if decision == "reassign":
            if prospect.status == "lost":
                raise Invalid("a lost prospect is reopened, not reassigned",
                              code="prospect_lost", details={"decision": ["Prospect is lost."]})
            target = _new_owner(session, new_owner, prospect.team_id)
            if target.id == prospect.owner_id:
                raise Invalid("the prospect already belongs to this manager",
                              details={"new_owner": ["Choose another manager."]})
            check_capacity(session, target, engine)
        try:
            outcome = engine.decide(
                before, decision, now=now, days=days, reason=note,
                records=load_records(session, prospect) if decision == "abandon" else None,
                new_owner_id=target.id if target else None,
                on_this_visit=(esc.kind in STAGE_KINDS and esc.clock_no == prospect.clock_no
                               and prospect.status in ("active", "paused")))
        except EngineError as exc:
            raise Invalid(f"the prospect cannot be abandoned: {exc.message}",
                          code=exc.code) from None
        data: dict[str, Any] = {"escalation_id": esc.id, **(outcome.data or {})}
        if target is not None:
            data.update(from_owner_id=prospect.owner_id, to_owner_id=target.id)
        # The decision closes its own escalation before the outcome is written, so the
        # outcome's escalation changes find only the others.
        esc.status, esc.decision, esc.decided_by_id, esc.decided_at = \
            "resolved", decision, actor.id, now
        esc.note, esc.extend_days = note, days
        if target is not None:
            esc.new_owner_id = target.id
        flush_or_conflict(session)
        previous_id = prospect.owner_id
        owner = recipients(session, {previous_id})[previous_id]
        events.apply(session, prospect, replace(outcome, data=data), actor=actor, now=now)
        audit(session, "escalation_decision", actor=actor, target_type="escalation",
              target_id=esc.id, detail={"decision": decision, "prospect_id": prospect.id,
                                        "level": esc.level, **{k: v for k, v in data.items()
                                                               if k != "escalation_id"}},
              note=note)
        notify_many(session, _decision_messages(session, esc, prospect, actor, decision, note,
                                                owner, previous_id, target, now, wf))
        flush_or_conflict(session)
    return esc


def _decision_messages(session: Session, esc: Escalation, prospect: Prospect, actor: User,
                       decision: str, note: str | None, owner: Recipient, previous_id: int,
                       target: User | None, now: datetime, wf: Any) -> list[Message]:
    """Who hears of a decision: the owner; on a reassignment the new owner too, with the
    handover letter (the handover is recorded here)."""
    if decision == "continue":
        return [Message(
            owner, "decision", N_("%(lead)s decided: keep working on %(name)s until %(due)s"),
            {"lead": actor.name, "name": prospect.name,
             "due": _local_day(prospect.due_at, wf.timezone) or "-"},
            text=note, prospect_id=prospect.id, dedupe_key=f"decided:{esc.id}")]
    if decision == "abandon":
        return [Message(
            owner, "decision", N_("%(lead)s abandoned %(name)s"),
            {"lead": actor.name, "name": prospect.name}, text=note,
            prospect_id=prospect.id, dedupe_key=f"decided:{esc.id}")]
    handover = Handover(prospect_id=prospect.id, from_user_id=previous_id,
                        to_user_id=target.id, escalation_id=esc.id, actor_id=actor.id,
                        at=now, note=note)
    session.add(handover)
    session.flush()
    old = session.get(User, previous_id)
    day = _local_day(now, wf.timezone)
    # The letter's paragraphs as message ids, so the inbox shows it in its reader's language.
    letter = {"customer": prospect.name, "old": old.name if old else "", "new": target.name,
              "day": day}
    return [
        Message(Recipient.of(target), "handover", N_("%(name)s is now yours (from %(old)s)"),
                {**letter, "name": prospect.name}, lines=LETTER, text=day,
                prospect_id=prospect.id, dedupe_key=f"handover:{handover.id}:to"),
        Message(owner, "handover", N_("%(name)s was reassigned to %(new)s"),
                {"name": prospect.name, "new": target.name}, text=note,
                prospect_id=prospect.id, dedupe_key=f"handover:{handover.id}:from"),
    ]


LETTER = (
    N_("Dear %(customer)s,"),
    N_("Thank you for the trust you have placed in our bank over the years, and for the "
       "kindness you showed %(old)s while %(old)s served as your customer manager."),
    N_("From %(day)s your dedicated customer manager is %(new)s. We will keep improving our "
       "services to meet your needs, and we welcome your comments and advice."),
    N_("Allow us to introduce %(new)s, who brings a thorough professional background in "
       "financial services and a warm commitment to service, and will give you the same "
       "attentive care. %(new)s will contact you shortly; we hope you will give %(new)s the "
       "same support."),
    N_("With our sincere thanks and best wishes for your health and peace."),
    N_("%(old)s, customer manager"),
)


def handover_letter(locale: str | None, *, customer: str, old_manager: str, new_manager: str,
                    day: str) -> str:
    """The customer handover letter (seed 002, 客户关系移交) filled in for the new manager
    to send, in ``locale``."""
    params = {"customer": customer, "old": old_manager, "new": new_manager, "day": day}
    return "\n\n".join([*(translate(locale, line, **params) for line in LETTER), day])

