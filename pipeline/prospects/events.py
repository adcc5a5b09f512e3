"""The one path every change of a prospect's state takes.

A command (an event from the board, the API or the command line, a team lead's decision,
the creation of a prospect) is answered by the pure engine with an
:class:`~pipeline.engine.machine.Outcome` that lists every effect: the new state, the
history row, the tasks of the visit it starts, the escalations to open or close, a new
owner. :func:`apply` writes that outcome in the caller's transaction:

1. the new state, with one prebuilt UPDATE of the columns that change (version checked);
2. the immutable history row, numbering itself, and the stage-visit change it makes
   (:func:`pipeline.prospects.visits.follow`);
3. the tasks, and the open tasks of a previous owner handed to the new one;
4. each escalation change, by the handler its domain registered at app start
   (:func:`handle`; the escalations domain registers ``open`` and ``close_ended``), and
   the hooks of other domains (:func:`after_apply`);
5. one structured log line (:func:`pipeline.logs.log_event`: ids, event, actor,
   duration; nothing personal).

The bulk loaders (the demo branch, the benchmark generator) build the same rows from the
same outcomes with :func:`history_values` and :func:`task_values`.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Text,
    bindparam,
    cast,
    func,
    insert,
    inspect,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import instance_dict, set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from pipeline.auth.models import User
from pipeline.db import DriverStatements
from pipeline.engine.machine import (
    EscalationChange,
    Outcome,
    ProspectState,
    Task,
    visit_change,
)
from pipeline.errors import Conflict
from pipeline.logs import log_event
from pipeline.prospects import visits
from pipeline.prospects.models import CadenceTask, Prospect, StageEvent, StageRecord

STATE_FIELDS = ("stage", "status", "stage_entered_at", "clock_started_at", "due_at", "warn_at",
                "paused_at", "paused_seconds", "clock_no", "lost_reason")


def state_of(prospect: Any) -> ProspectState:
    """The engine's view of a prospect (an ORM instance or anything with its attributes)."""
    return ProspectState(**{f: getattr(prospect, f) for f in STATE_FIELDS})


def apply_state(prospect: Prospect, state: ProspectState) -> None:
    for f in STATE_FIELDS:
        setattr(prospect, f, getattr(state, f))


# ------------------------------------------------------------------ hooks

@dataclass(frozen=True)
class Applied:
    """An outcome once written: what handlers and hooks receive."""

    prospect: Prospect
    outcome: Outcome
    history: HistoryRow
    actor: User | None
    now: datetime


EscalationHandler = Callable[[Session, Applied, EscalationChange], None]
AfterHook = Callable[[Session, Applied], None]

_handlers: dict[str, EscalationHandler] = {}
_after: list[AfterHook] = []


def handle(action: str, handler: EscalationHandler) -> None:
    """Register the handler of escalation changes of ``action`` (one per action; a second
    registration of the same action replaces the first, so building the app twice is
    harmless)."""
    _handlers[action] = handler


def after_apply(hook: AfterHook) -> None:
    """Register a hook called after every applied outcome, in its transaction."""
    if hook not in _after:
        _after.append(hook)


class NoHandler(RuntimeError):
    """An outcome carries an effect nobody registered to write (the app was not set up)."""


# ------------------------------------------------------------------ writing an outcome

def apply(session: Session, prospect: Prospect, outcome: Outcome, *, actor: User | None,
          now: datetime, inserted: bool = False, records_seen: Any = None) -> Applied:
    """Write ``outcome`` for ``prospect`` (locked by the caller, or just ``inserted`` with
    its state) in the caller's transaction: state, history row, stage visit, tasks,
    escalation changes, hooks, log line. Raises Conflict when the prospect's version moved
    on, NoHandler when an effect has no registered writer; the caller's transaction then
    rolls back whole.

    ``records_seen`` (PostgreSQL): the :func:`records_version` the outcome's records were
    read at, before the caller's lock was granted; the state is written only if they are
    still the current ones, else :class:`RecordsMoved` is raised and nothing is written."""
    started = time.perf_counter()
    previous_owner = prospect.owner_id
    if outcome.owner_id is not None and outcome.owner_id != prospect.owner_id:
        owner = session.get(User, outcome.owner_id)
        prospect.owner_id, prospect.team_id = owner.id, owner.team_id
    data = outcome.data
    if prospect.owner_id != previous_owner:  # the history names both owners
        data = {**(data or {}), "from_owner": previous_owner, "to_owner": prospect.owner_id}
    if not inserted and session.get_bind().dialect.name == "postgresql":
        row = record_state(session, prospect, outcome.state, now, outcome.recorded_as,
                           actor=actor, from_stage=outcome.from_stage,
                           from_status=outcome.from_status, reason=outcome.reason, data=data,
                           records_seen=records_seen)
    else:
        if not inserted:
            save_state(session, prospect, outcome.state, now)
        row = write_history(session, prospect, outcome.recorded_as, at=now, actor=actor,
                            from_stage=outcome.from_stage, from_status=outcome.from_status,
                            reason=outcome.reason, data=data)
    if outcome.tasks:
        session.execute(insert(CadenceTask.__table__), [
            task_values(t, prospect_id=prospect.id, owner_id=prospect.owner_id, now=now)
            for t in outcome.tasks])
    if prospect.owner_id != previous_owner:
        # The old owner's open steps of this prospect go with it.
        session.execute(update(CadenceTask).where(
            CadenceTask.prospect_id == prospect.id, CadenceTask.done_at.is_(None),
            CadenceTask.assignee_kind == "owner").values(assignee_id=prospect.owner_id)
            .execution_options(synchronize_session=False))
    applied = Applied(prospect, outcome, row, actor, now)
    for change in outcome.escalations:
        handler = _handlers.get(change.action)
        if handler is None:
            raise NoHandler(f"no handler for the escalation change {change.action!r}; "
                            "create the app (pipeline.app.create_app) before firing events")
        handler(session, applied, change)
    for hook in _after:
        hook(session, applied)
    log_event(outcome.recorded_as, prospect_id=prospect.id, history_id=row.id,
              actor_id=actor.id if actor else None, owner_id=prospect.owner_id,
              from_stage=outcome.from_stage, to_stage=outcome.to_stage,
              to_status=outcome.to_status,
              duration_ms=round((time.perf_counter() - started) * 1000, 3))
    return applied


def task_values(task: Task, *, prospect_id: int | None, owner_id: int,
                now: datetime) -> dict[str, Any]:
    """The ``cadence_tasks`` row of an outcome's task."""
    return {"prospect_id": prospect_id, "key": task.key, "assignee_kind": task.assignee,
            "assignee_id": owner_id if task.assignee == "owner" else None,
            "clock_no": task.clock_no, "due_at": task.due_at, "created_at": now}


def history_values(outcome: Outcome, *, prospect_id: int | None, actor_id: int | None,
                   owner_id: int, team_id: int | None, at: datetime) -> dict[str, Any]:
    """The ``stage_events`` row of an outcome (without ``seq``)."""
    return {"prospect_id": prospect_id, "event": outcome.recorded_as,
            "from_stage": outcome.from_stage, "to_stage": outcome.to_stage,
            "from_status": outcome.from_status, "to_status": outcome.to_status,
            "actor_id": actor_id, "owner_id": owner_id, "team_id": team_id, "at": at,
            "reason": outcome.reason, "data": dict(outcome.data) if outcome.data else None}


# ------------------------------------------------------------------ the state

_UNSET = object()


def _save_state_statement(columns: tuple[str, ...]) -> Any:
    p = Prospect.__table__
    return (update(p).where(p.c.id == bindparam("b_id"), p.c.version == bindparam("b_version"))
            .values(version=p.c.version + literal_column("1"),
                    **{f: bindparam(f, type_=p.c[f].type) for f in columns}))


# One UPDATE per set of changed columns (an advance, a pause, a loss each change their own).
_SAVE_STATE = DriverStatements(_save_state_statement)


def save_state(session: Session, prospect: Prospect, state: ProspectState,
               now: datetime) -> None:
    """Write ``state`` (and the prospect's owner and team, and any other column the caller
    set on the instance) to the locked prospect's row with one prebuilt UPDATE of the
    columns that change, which checks and bumps the version, and make the instance agree
    without leaving it dirty: the row the ORM's unit of work would write, for a fraction of
    its CPU on the path every event takes. Raises Conflict when the version moved on."""
    changed = _state_changes(prospect, state, now)
    result = _SAVE_STATE[tuple(changed)].run(
        session.connection(), {**changed, "b_id": prospect.id, "b_version": prospect.version})
    if result.rowcount != 1:
        raise Conflict("the prospect was changed by someone else; reload and retry",
                       code="stale_version")
    _saved(prospect, changed)


def _state_changes(prospect: Prospect, state: ProspectState, now: datetime) -> dict[str, Any]:
    """The prospect's columns that ``state`` (with the owner, team and any other column
    set on the instance) changes, by name, with their new values."""
    held = instance_dict(prospect)
    changes = inspect(prospect)
    pending = changes.modified  # e.g. a new owner set on the instance
    values = {f: getattr(state, f) for f in STATE_FIELDS}
    values.update(owner_id=prospect.owner_id, team_id=prospect.team_id, updated_at=now)
    if pending:
        # Other columns the service set on the instance (a tier change's tier, assets and
        # potential) go in the same UPDATE.
        for attr in changes.mapper.column_attrs:
            if attr.key not in values and attr.key != "version" \
                    and changes.attrs[attr.key].history.has_changes():
                values[attr.key] = getattr(prospect, attr.key)
    return {name: value for name, value in values.items()
            if held.get(name, _UNSET) != value
            or (pending and changes.attrs[name].history.has_changes())}


def _saved(prospect: Prospect, changed: dict[str, Any]) -> None:
    """Make the instance agree with its row as just written, without leaving it dirty."""
    changed["version"] = prospect.version + 1
    for name, value in changed.items():
        set_committed_value(prospect, name, value)


def flush_or_conflict(session: Session) -> None:
    """Send the pending changes; a versioned row changed meanwhile is a 409, not a 500."""
    try:
        session.flush()
    except StaleDataError:
        raise Conflict("the prospect was changed by someone else; reload and retry",
                       code="stale_version") from None


# ------------------------------------------------------------------ the history

@dataclass(frozen=True)
class HistoryRow:
    """The values of a history row just written (the row itself is immutable)."""

    id: int
    prospect_id: int
    seq: int
    event: str
    from_stage: str | None
    to_stage: str
    from_status: str | None
    to_status: str
    owner_id: int
    team_id: int | None
    at: datetime


_HISTORY_COLUMNS = ("prospect_id", "event", "from_stage", "to_stage", "from_status",
                    "to_status", "actor_id", "owner_id", "team_id", "at")


def _append_history_statement(optional: tuple[str, ...]) -> Any:
    """The history INSERT naming ``optional`` (of ``reason``, ``data``) besides the columns
    every row has; an unnamed one is NULL."""
    se = StageEvent.__table__
    # Constants written into the SQL rather than sent as parameters with every row.
    next_seq = select(func.coalesce(func.max(se.c.seq), literal_column("0"))
                      + literal_column("1")) \
        .where(se.c.prospect_id == bindparam("prospect_id")).scalar_subquery()
    return insert(se).values(seq=next_seq, **{n: bindparam(n, type_=se.c[n].type)
                                              for n in (*_HISTORY_COLUMNS, *optional)}) \
        .returning(se.c.id, se.c.seq)


# Built once per shape: the history INSERT is on every event's path, and most rows have
# no reason and no data.
_APPEND_HISTORY = DriverStatements(_append_history_statement)


def write_history(session: Session, prospect: Prospect, event: str, *, at: datetime,
                  actor: User | None, from_stage: str | None, from_status: str | None,
                  reason: str | None = None, data: Mapping[str, Any] | None = None
                  ) -> HistoryRow:
    """Append one immutable history row for ``prospect``'s current state, and bring its
    stage visit up to date (:func:`pipeline.prospects.visits.follow`), in the caller's
    transaction.

    The prospect's pending update is flushed first, then the row is one ``INSERT`` whose
    ``seq`` is computed by the database from the rows already there (the caller holds the
    prospect's row lock, so no other writer appends meanwhile): no separate read of the
    last ``seq``, and several rows in one transaction number themselves in order.
    """
    flush_or_conflict(session)
    values: dict[str, Any] = {
        "prospect_id": prospect.id, "event": event, "from_stage": from_stage,
        "to_stage": prospect.stage, "from_status": from_status, "to_status": prospect.status,
        "actor_id": actor.id if actor else None, "owner_id": prospect.owner_id,
        "team_id": prospect.team_id, "at": at}
    if reason is not None:
        values["reason"] = reason
    if data:
        values["data"] = dict(data)
    optional = tuple(k for k in ("reason", "data") if k in values)
    new_id, seq = _APPEND_HISTORY[optional].run(session.connection(), values).one()
    row = HistoryRow(id=new_id, seq=seq, **{k: values[k] for k in (
        "prospect_id", "event", "from_stage", "to_stage", "from_status", "to_status",
        "owner_id", "team_id", "at")})
    visits.follow(session, row)  # the stage visit it starts, moves or ends: same transaction
    return row


# ------------------------------------------------------------------ in one statement

_HISTORY_GIVEN = ("event", "from_stage", "from_status", "actor_id", "at")


class RecordsMoved(Exception):
    """The prospect's stage records changed between their read and the lock (another
    writer's commit): the outcome decided on them is not written; the caller reads them
    again under the lock and decides anew."""


def records_data(prospect_id: Any) -> Any:
    """PostgreSQL: a prospect's stage records as one JSON object, record key → data (NULL
    without records)."""
    sr = StageRecord.__table__
    return select(func.jsonb_object_agg(sr.c.record_key, sr.c.data, type_=JSONB)) \
        .where(sr.c.prospect_id == prospect_id).scalar_subquery()


def records_version(prospect_id: Any) -> Any:
    """PostgreSQL: which row versions a prospect's stage records are, as one JSON object
    (record id → the id of the transaction that wrote that version, ``xmin``; ``{}``
    without records). Any committed change of a record (an insert, an update, a delete)
    changes it, so one read with the locking read of the prospect, and compared again by
    the write under the lock, says whether the records read before the lock was granted
    are still the current ones."""
    sr = StageRecord.__table__
    versions = func.jsonb_object_agg(sr.c.id, cast(literal_column("stage_records.xmin"), Text),
                                     type_=JSONB)
    return select(func.coalesce(versions, literal_column("'{}'::jsonb"), type_=JSONB)) \
        .where(sr.c.prospect_id == prospect_id).scalar_subquery()


def _record_state_statement(key: tuple) -> Any:
    """The new state, the history row and its stage-visit change as one statement of
    data-modifying CTEs (PostgreSQL): the UPDATE of the ``columns`` that change (version
    checked and bumped) returns the row's new stage, status, owner and team; the history
    INSERT takes them from it and numbers itself; the visit statements
    (:func:`pipeline.prospects.visits.following`) take the history row's values. When the
    version has moved on the UPDATE returns nothing, so nothing else is written and the
    statement returns no row."""
    columns, optional, change, win, checked = key
    p, se = Prospect.__table__, StageEvent.__table__
    where = [p.c.id == bindparam("b_id"), p.c.version == bindparam("b_version")]
    if checked:  # the records the outcome was decided on are still the current ones
        where.append(records_version(p.c.id).is_not_distinct_from(
            bindparam("b_records", type_=JSONB)))
    state = (update(p).where(*where)
             .values(version=p.c.version + literal_column("1"),
                     **{f: bindparam(f, type_=p.c[f].type) for f in columns})
             .returning(p.c.id, p.c.stage, p.c.status, p.c.owner_id, p.c.team_id)
             .cte("new_state"))
    next_seq = select(func.coalesce(func.max(se.c.seq), literal_column("0"))
                      + literal_column("1")) \
        .where(se.c.prospect_id == state.c.id).scalar_subquery()
    given = (*_HISTORY_GIVEN, *optional)
    history = (insert(se).from_select(
        ["prospect_id", "seq", "to_stage", "to_status", "owner_id", "team_id", *given],
        select(state.c.id, next_seq, state.c.stage, state.c.status, state.c.owner_id,
               state.c.team_id, *(bindparam("h_" + n, type_=se.c[n].type) for n in given)))
        .returning(se.c.id, se.c.seq, se.c.prospect_id, se.c.event, se.c.to_stage,
                   se.c.owner_id, se.c.team_id, se.c.at)
        .cte("new_history"))
    return select(history.c.id, history.c.seq).add_cte(*(
        statement.cte(f"visit_{n}")
        for n, statement in enumerate(visits.following(change, win, history))))


_RECORD_STATE = DriverStatements(_record_state_statement)


def record_state(session: Session, prospect: Prospect, state: ProspectState, now: datetime,
                 event: str, *, actor: User | None, from_stage: str | None,
                 from_status: str | None, reason: str | None = None,
                 data: Mapping[str, Any] | None = None, records_seen: Any = None
                 ) -> HistoryRow:
    """:func:`save_state` and :func:`write_history` of the locked ``prospect`` as one
    statement, one round trip where they took four (PostgreSQL; see
    :func:`_record_state_statement`): the same rows, the same version check (Conflict when
    it moved on), the instance made to agree. Other pending changes of the session are
    flushed after it, as :func:`write_history` flushes them before the history row.
    ``records_seen``: see :func:`apply`."""
    changed = _state_changes(prospect, state, now)
    change = visit_change(event, from_stage, state.stage, from_status,
                          state.status)
    params: dict[str, Any] = {**changed, "b_id": prospect.id, "b_version": prospect.version,
                              "h_event": event, "h_from_stage": from_stage,
                              "h_from_status": from_status,
                              "h_actor_id": actor.id if actor else None, "h_at": now}
    optional = []
    if reason is not None:
        params["h_reason"] = reason
        optional.append("reason")
    if data:
        params["h_data"] = dict(data)
        optional.append("data")
    checked = records_seen is not None
    if checked:
        params["b_records"] = records_seen
    statement = _RECORD_STATE[(tuple(changed), tuple(optional), change, event == "win",
                               checked)]
    found = statement.run(session.connection(), params).first()
    if found is None:
        if checked:  # the version is the locked row's: the records moved on
            raise RecordsMoved()
        raise Conflict("the prospect was changed by someone else; reload and retry",
                       code="stale_version")
    _saved(prospect, changed)
    flush_or_conflict(session)
    new_id, seq = found
    return HistoryRow(id=new_id, prospect_id=prospect.id, seq=seq, event=event,
                      from_stage=from_stage, to_stage=prospect.stage, from_status=from_status,
                      to_status=prospect.status, owner_id=prospect.owner_id,
                      team_id=prospect.team_id, at=now)
