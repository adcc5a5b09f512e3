"""Writes on prospects. Each public function is one unit of work: it commits what it did,
or rolls everything back and raises a :class:`pipeline.errors.ServiceError`.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from marshmallow import ValidationError
from sqlalchemy import and_, bindparam, func, or_, select, text, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict, set_committed_value

from pipeline import clock, workflows
from pipeline.auth.models import User
from pipeline.auth.services import audit
from pipeline.db import unit_of_work
from pipeline.engine import EventNotAllowed, TransitionRefused, UnknownEvent
from pipeline.engine.definition import CUSTOMER_SOURCES
from pipeline.engine.guards import GUARDS
from pipeline.engine.machine import Engine, EngineError, NotPermitted, Outcome
from pipeline.engine.records import (
    completeness,
    dependents,
    derive,
    derived_mismatches,
    merge,
    validate_record,
)
from pipeline.errors import Conflict, Forbidden, Invalid, NotFound, parse_id
from pipeline.logs import log_event
from pipeline.prospects import privacy, queries
from pipeline.prospects.changes import record_changes
from pipeline.prospects.events import (  # noqa: F401  (the one path, used through here)
    STATE_FIELDS,
    HistoryRow,
    RecordsMoved,
    apply,
    apply_state,
    flush_or_conflict,
    records_data,
    records_version,
    save_state,
    state_of,
    write_history,
)
from pipeline.prospects.models import (
    CADENCE,
    CadenceTask,
    Contact,
    Prospect,
    StageRecord,
)
from pipeline.prospects.schemas import (
    TIER_OR_ASSETS,
    CompleteTask,
    CreateProspect,
    FireEvent,
    LogContact,
    UpdateCustomer,
)
from pipeline.validation import Message, load


def engine_of(prospect: Prospect) -> Engine:
    return workflows.engine(prospect.workflow_key)


def check_version(prospect: Prospect, version: Any) -> None:
    if version is None:
        return
    if isinstance(version, bool) or not isinstance(version, int):
        raise Invalid("version must be a whole number", details={"version": ["Must be an integer."]})
    if version != prospect.version:
        raise Conflict(
            f"the prospect has changed (version {prospect.version}, you had {version})",
            code="stale_version", details={"current_version": prospect.version})


def customer_of(prospect: Prospect) -> dict[str, Any]:
    """The customer's columns a record field may take its value ``from``."""
    return {column: getattr(prospect, column) for column in CUSTOMER_SOURCES}


def load_records(session: Session, prospect: Prospect) -> dict[str, dict]:
    return queries.records_of(session, [prospect.id])[prospect.id]


def _owner_for(session: Session, actor: User, email: str | None) -> User:
    if not email:
        owner = actor
    else:
        if not isinstance(email, str):
            raise Invalid("owner must be an e-mail address", details={"owner": ["Must be a string."]})
        owner = session.scalars(select(User).where(func.lower(User.email) == email.lower())).first()
        if owner is None:
            raise Invalid(f"no user {email}", details={"owner": ["Unknown user."]})
    if owner.role != "manager" or not owner.active:
        raise Invalid(f"{owner.email} is not an active customer manager",
                      details={"owner": ["Must be an active customer manager."]})
    if owner.id != actor.id:
        allowed = actor.role in ("supervisor", "admin") or (
            actor.role == "team_lead" and actor.team_id is not None
            and actor.team_id == owner.team_id)
        if not allowed:
            raise Forbidden("you may not give prospects to another manager")
    return owner


CAP_LOCK = 0x6361  # the advisory-lock class of "a manager's customer count" (PostgreSQL)


def lock_managers(session: Session, ids: Iterable[int]) -> None:
    """Hold each manager's cap lock (in id order) until the transaction ends: every path
    that gives a manager customers counts them under it, so concurrent imports,
    allocations, creations and reassignments cannot pass the cap together. An advisory
    lock, not the user's row, so a long import does not hold up the managers' sign-ins.
    SQLite runs one writer at a time and needs none."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for manager_id in sorted(set(ids)):
        session.execute(text("SELECT pg_advisory_xact_lock(:kind, :id)"),
                        {"kind": CAP_LOCK, "id": manager_id})


def check_capacity(session: Session, owner: User, engine: Engine) -> None:
    """Refuse one more customer for ``owner`` at the cap: every customer a manager
    maintains counts, active, paused and after-sale (:data:`queries.MAINTAINED`)."""
    cap = engine.workflow.escalation.max_active_per_manager
    lock_managers(session, [owner.id])
    if queries.maintained_count(session, owner.id) >= cap:
        raise Invalid(f"{owner.email} already maintains {cap} customers",
                      code="over_capacity", details={
                          "owner": [f"Maintains {cap} customers, the most allowed."],
                          "cap": cap})


# One prospect that is not lost per customer number and per full ID number: the unique
# index of each column (models.Prospect) and the field the API names.
UNIQUE_CUSTOMER = {"uq_prospects_customer_no": "customer_no",
                   "uq_prospects_id_number": "id_number"}
_DUPLICATE_FIELD = {"customer_no": "Another prospect that is not lost has this customer "
                                   "number.",
                    "id_number": "Another prospect that is not lost has this ID number."}


def duplicate_customer(field: str, holder: Any = None, actor: User | None = None) -> Conflict:
    """The 409 for a customer already held: the prospect that holds it is named only to an
    actor who may see it (``holder``: its ``id``, ``owner_id`` and ``team_id``)."""
    details: dict[str, Any] = {field: [Message(_DUPLICATE_FIELD[field])]}
    message = "this customer already has a prospect that is not lost (one manager per " \
              "customer)"
    if holder is not None and actor is not None and queries.can_see(actor, holder):
        details["prospect_id"] = holder.id
        message += f": prospect {holder.id}"
    return Conflict(message, code="duplicate_customer", details=details)


def check_unique_customer(session: Session, actor: User, *, customer_no: str | None,
                          id_number: str | None) -> None:
    """Refuse a customer number or ID number that a prospect that is not lost already has
    (checked first for a clear answer; the unique indexes decide between concurrent
    inserts, see :func:`insert_or_duplicate`)."""
    for field, column, value in (("customer_no", Prospect.customer_no, customer_no),
                                 ("id_number", Prospect.id_number, id_number)):
        if value is None:
            continue
        holder = session.execute(select(Prospect.id, Prospect.owner_id, Prospect.team_id)
                                 .where(column == value, Prospect.status != "lost")
                                 .limit(1)).first()
        if holder is not None:
            raise duplicate_customer(field, holder, actor)


def insert_or_duplicate(session: Session, row: Prospect) -> None:
    """Insert ``row`` now; a unique index of :data:`UNIQUE_CUSTOMER` refusing it (another
    transaction inserted the same customer meanwhile) is a 409 ``duplicate_customer``."""
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        field = unique_customer_field(exc)
        if field is None:
            raise
        raise duplicate_customer(field) from None


def unique_customer_field(exc: IntegrityError) -> str | None:
    """The field whose unique customer index refused a write, or None for any other
    integrity error. PostgreSQL names the index; SQLite names the column."""
    diag = getattr(exc.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name:
        return UNIQUE_CUSTOMER.get(name)
    text = str(exc.orig)
    if "UNIQUE constraint failed" in text:
        for field in UNIQUE_CUSTOMER.values():
            if f"prospects.{field}" in text:
                return field
    return None


def sync_cadence(session: Session, prospect: Prospect, engine: Engine, data: Mapping[str, Any],
                 actor: User | None, now: datetime) -> None:
    """Mark cadence tasks done from the contact log and re-time the steps that follow
    (:meth:`Engine.sync_cadence` says how)."""
    if not engine.workflow.stage(prospect.stage).cadence:
        return
    tasks = {t.key: t for t in session.scalars(select(CadenceTask).where(
        CadenceTask.prospect_id == prospect.id, CadenceTask.clock_no == prospect.clock_no))}
    synced = engine.sync_cadence(prospect.stage, {k: (t.due_at, t.done_at)
                                                  for k, t in tasks.items()}, data, now)
    cancelled = engine.cancelled_steps(prospect.stage, data)  # e.g. the call after a reply
    for key, (due, done) in synced.items():
        tasks[key].cancelled_at = done if key in cancelled else None
        task = tasks[key]
        task.due_at = due
        if done is not None and task.done_at is None:
            task.done_by_id = actor.id if actor else None
        elif done is None:
            task.done_by_id = None
        task.done_at = done


# ------------------------------------------------------------------------ create

def create_prospect(session: Session, *, actor: User, data: Mapping[str, Any]) -> Prospect:
    """Create a prospect in the workflow's first stage, with its history row and cadence.
    Without a tier, its tier comes from its assets by the workflow's thresholds and
    follows them; a tier given is kept (set by hand, ``tier_manual``).

    ``data``: name, tier, owner (e-mail; default the actor), customer_no, id_number, phone,
    birthday, assets, potential, workflow (default ``seven_step``) — see
    :class:`~pipeline.prospects.schemas.CreateProspect`. Raises Invalid (422) for bad
    fields or an owner at the cap (``over_capacity``), Forbidden (403) when the actor may
    not give prospects to that owner, Conflict (409, ``duplicate_customer``) when a
    prospect that is not lost has the customer number or ID number. One transaction.
    """
    with unit_of_work(session):
        data = load(CreateProspect, data)
        name, assets = data["name"], data["assets"]
        engine = workflows.engine(data.get("workflow") or workflows.DEFAULT_KEY)
        tier, tier_manual = data["tier"], data["tier"] is not None
        if not tier_manual:
            tier = tier_from_assets(engine, assets)
        owner = _owner_for(session, actor, data.get("owner"))
        check_capacity(session, owner, engine)
        check_unique_customer(session, actor, customer_no=data["customer_no"],
                              id_number=data["id_number"])
        now = clock.now()
        outcome = engine.create(now)
        prospect = Prospect(
            workflow_key=engine.workflow.key, name=name.strip(), tier=tier,
            tier_manual=tier_manual,
            owner_id=owner.id, team_id=owner.team_id, id_number=data.get("id_number"),
            phone=data.get("phone"), assets=assets, customer_no=data["customer_no"],
            birthday=data["birthday"], potential=data["potential"], created_at=now,
            updated_at=now)
        apply_state(prospect, outcome.state)
        insert_or_duplicate(session, prospect)
        apply(session, prospect, outcome, actor=actor, now=now, inserted=True)
    return prospect


# ------------------------------------------------------------------------ the customer

NO_TIERING = "Give a tier: this workflow does not set tiers from assets."


def tier_from_assets(engine: Engine, assets: float | None) -> str:
    """The tier ``assets`` reach by the workflow's thresholds; Invalid naming ``tier`` when
    there are no assets or the workflow does not tier by them."""
    tiering = engine.workflow.tiering
    if tiering is None:
        raise Invalid("the workflow does not set tiers from assets; give a tier",
                      details={"tier": [Message(NO_TIERING)]})
    if assets is None:
        raise Invalid("without assets the tier cannot follow them; give a tier",
                      details={"tier": [Message(TIER_OR_ASSETS)]})
    return tiering.tier_for(assets)


def update_customer(session: Session, prospect_id: Any, *, actor: User, data: Any,
                    version: Any = None) -> Prospect:
    """Change the customer's ``assets``, ``potential`` and/or ``tier``
    (:class:`~pipeline.prospects.schemas.UpdateCustomer`; a field left out stays as it is).

    A tier given is set by hand and kept when the assets change; ``tier: null`` lets the
    tier follow the assets again; a tier that follows the assets moves with them. A change
    of tier is an outcome of the engine (:meth:`Engine.retier`) written by the one event
    path: one ``tier_change`` history row; no row when the tier stays.

    Raises NotFound outside the actor's scope, Conflict (stale ``version``), Invalid naming
    each bad field (``tier`` when it is to follow assets the customer does not have).
    One transaction.
    """
    with unit_of_work(session):
        prospect = queries.get_visible(session, actor, prospect_id, for_update=True)
        command = load(UpdateCustomer, data)
        check_version(prospect, command["version"] if version is None else version)
        engine = engine_of(prospect)
        if "assets" in command:
            prospect.assets = command["assets"]
        if "potential" in command:
            prospect.potential = command["potential"]
        tier, manual = prospect.tier, prospect.tier_manual
        if "tier" in command:
            manual = command["tier"] is not None
            tier = command["tier"] if manual else tier_from_assets(engine, prospect.assets)
        elif not manual and "assets" in command and engine.workflow.tiering is not None:
            tier = tier_from_assets(engine, prospect.assets)
        if not save_customer(session, prospect, engine, tier, manual, actor=actor,
                             now=clock.now()):
            log_event("customer_update", prospect_id=prospect.id, actor_id=actor.id)
    return prospect


def save_customer(session: Session, prospect: Prospect, engine: Engine, tier: str,
                  manual: bool, *, actor: User | None, now: datetime) -> bool:
    """Write the customer fields set on the locked ``prospect`` with its ``tier`` and
    ``manual`` flag, in the caller's transaction: a change of tier is the engine's retier
    outcome through the one path (its history row), anything else a plain versioned
    update. Returns whether the tier changed."""
    prospect.tier_manual = manual
    if tier == prospect.tier:
        prospect.updated_at = now
        flush_or_conflict(session)
        return False
    outcome = engine.retier(state_of(prospect), prospect.tier, tier, manual=manual)
    prospect.tier = tier
    apply(session, prospect, outcome, actor=actor, now=now)
    return True


# ------------------------------------------------------------------------ records

@dataclass
class RecordResult:
    record_key: str
    complete: bool
    completeness: float
    errors: dict[str, list[str]]
    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"record": self.record_key, "complete": self.complete,
                "completeness": self.completeness, "errors": self.errors, "data": self.data}


def record_status(engine: Engine, record_key: str, data: Mapping[str, Any]) -> RecordResult:
    record = engine.workflow.record(record_key)
    problems = GUARDS[record.complete_when](record, data)
    errors: dict[str, list[str]] = {}
    for p in problems:
        errors.setdefault(p.field or "_record", []).append(p.message)
    return RecordResult(record_key, not problems, completeness(record, dict(data)), errors,
                        dict(data))


def save_record(session: Session, prospect_id: Any, record_key: str, *, actor: User,
                data: Any, version: Any = None) -> RecordResult:
    """Save (merge) fields of a stage record; ``null`` clears a field.

    Raises NotFound (unknown prospect or record), Conflict (stale version, lost prospect),
    Invalid with a message per bad or unknown field (nothing is saved). One transaction;
    marks first-contact cadence tasks done from the contact log.
    """
    with unit_of_work(session):
        prospect = queries.get_visible(session, actor, prospect_id, for_update=True)
        engine = engine_of(prospect)
        record = engine.workflow.record(record_key)
        if record is None:
            raise NotFound(f"no record {record_key!r} in workflow {engine.workflow.key}",
                           code="unknown_record")
        check_version(prospect, version)
        if prospect.status == "lost":
            raise Conflict("the prospect is lost; reopen it first", code="prospect_lost")
        row = session.scalars(select(StageRecord).where(
            StageRecord.prospect_id == prospect.id, StageRecord.record_key == record_key)).first()
        stored = dict(row.data or {}) if row is not None else {}
        if isinstance(data, Mapping) and not privacy.sees_personal_data(actor, prospect):
            # The masked value it was shown, sent back: not a change (the real one is kept).
            masked = privacy.unchanged_masks(engine.workflow, record_key, stored, data)
            data = {k: v for k, v in data.items() if k not in masked}
        try:
            values = validate_record(record, data)
        except ValidationError as exc:
            messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
            raise Invalid("the record is not valid: " + ", ".join(sorted(messages)),
                          code="invalid_record", details=messages) from None
        all_records = [r for s in engine.workflow.stages for r in s.records]
        followers = dependents(all_records, record_key)
        others: dict[str, dict] = {}
        customer = customer_of(prospect)
        if followers or any(f.derived for f in record.fields):
            others = load_records(session, prospect)
            refused = derived_mismatches(record, values, others, customer)
            if refused:
                raise Invalid("the record is not valid: " + ", ".join(sorted(refused)),
                              code="invalid_record", details=refused)
        now = clock.now()
        if row is None:
            row = StageRecord(prospect_id=prospect.id, record_key=record_key, data={})
            session.add(row)
        merged = derive(record, merge(stored, values), others, customer)
        changed = sorted(k for k in set(stored) | set(merged) if stored.get(k) != merged.get(k))
        if changed:
            audit(session, "record_saved", actor=actor, target_type="prospect",
                  target_id=prospect.id,
                  detail=record_changes(record, record_key, stored, merged, changed))
        result = record_status(engine, record_key, merged)
        row.data = merged
        row.completeness = result.completeness
        row.complete = result.complete
        row.updated_at = now
        row.updated_by_id = actor.id
        if followers:
            _follow_sources(session, prospect, engine, followers, {**others, record_key: merged},
                            customer, actor, now)
        if engine.workflow.stage(prospect.stage).key == engine.workflow.stage_of_record(
                record_key).key:
            sync_cadence(session, prospect, engine, merged, actor, now)
    return result


def _follow_sources(session: Session, prospect: Prospect, engine: Engine, followers: list,
                    records: Mapping[str, dict], customer: Mapping[str, Any], actor: User,
                    now: datetime) -> None:
    """Records holding a value derived from the one just saved take its new value."""
    rows = {r.record_key: r for r in session.scalars(select(StageRecord).where(
        StageRecord.prospect_id == prospect.id,
        StageRecord.record_key.in_([f.key for f in followers])))}
    for follower in followers:
        row = rows.get(follower.key)
        if row is None:
            continue
        data = derive(follower, row.data or {}, records, customer)
        if data == (row.data or {}):
            continue
        result = record_status(engine, follower.key, data)
        row.data, row.completeness, row.complete = data, result.completeness, result.complete
        row.updated_at, row.updated_by_id = now, actor.id


# ------------------------------------------------------------------------ events

class _ScopeOf(NamedTuple):
    """A viewer for :func:`queries.scope` with bound parameters in place of its ids."""

    role: str
    id: Any
    team_id: Any


_PROSPECT_ATTRS = tuple(a.key for a in sa_inspect(Prospect).column_attrs)
_LOCKS: dict[tuple[str, bool], Any] = {}
_UNSET = object()


def _lock_statement(viewer: User, with_records: bool = False) -> Any:
    """The locking read of one prospect under ``viewer``'s scope rule (:func:`queries.scope`),
    built once per kind of viewer: every column of the row, in the mapper's order, and
    ``with_records`` (PostgreSQL) its stage records and their version
    (:func:`events.records_data`, :func:`events.records_version`)."""
    key = (viewer.role, viewer.team_id is None, with_records)
    found = _LOCKS.get(key)
    if found is None:
        stand_in = _ScopeOf(viewer.role, bindparam("viewer_id"),
                            None if viewer.team_id is None else bindparam("team_id"))
        p = Prospect.__table__
        columns = [p.c[name] for name in _PROSPECT_ATTRS]
        if with_records:
            columns += [records_data(p.c.id), records_version(p.c.id)]
        found = _LOCKS.setdefault(key, queries.scope(select(*columns), stand_in)
                                  .where(Prospect.id == bindparam("pid")).with_for_update())
    return found


def lock_visible(session: Session, viewer: User, prospect_id: Any) -> Prospect:
    """:func:`queries.get_visible` with ``for_update``, for the event path: the row locked
    until the transaction ends (NotFound outside the viewer's scope), as the session's
    instance of the prospect holding the locked row's values.

    The row is read by a Core statement built once (its compiled form and result
    description cached by the engine), not loaded as an ORM entity: the ORM's execution and
    loading cost more than the round trip on the path every event takes. The row's values
    become the instance's committed state: an instance the session already holds is
    brought up to date with them (``set_committed_value`` for each value that differs),
    otherwise a new instance takes them as loaded values and joins the session as
    persistent (``make_transient_to_detached``, then ``Session.add``), as a loaded one
    would. Pending changes are flushed first, as before any query."""
    return _as_instance(session, *_locked_row(session, viewer, prospect_id))


def lock_with_records(session: Session, viewer: User, prospect_id: Any
                      ) -> tuple[Prospect, dict[str, dict], Any]:
    """The event path's locking read: the prospect as :func:`lock_visible` gives it, its
    stage records (``{record_key: data}``) and what :func:`events.apply` checks them by.

    On PostgreSQL one statement: the records come with the row, read in the statement's
    snapshot, which precedes the lock when another writer held it; their version
    (:func:`events.records_version`) goes with them, and the write of the outcome checks
    it under the lock (:class:`events.RecordsMoved` when they changed meanwhile). On other
    databases the records are read after the lock and nothing needs checking (None)."""
    if session.get_bind().dialect.name != "postgresql":
        prospect = lock_visible(session, viewer, prospect_id)
        return prospect, load_records(session, prospect), None
    pid, row = _locked_row(session, viewer, prospect_id, with_records=True)
    n = len(_PROSPECT_ATTRS)
    records = {key: data or {} for key, data in (row[n] or {}).items()}
    return _as_instance(session, pid, row[:n]), records, row[n + 1]


def _locked_row(session: Session, viewer: User, prospect_id: Any,
                with_records: bool = False) -> tuple[int, Any]:
    pid = parse_id(prospect_id, "prospect")
    session.flush()
    row = session.connection().execute(_lock_statement(viewer, with_records), {
        "pid": pid, "viewer_id": viewer.id, "team_id": viewer.team_id}).first()
    if row is None:
        raise NotFound("no such prospect")
    return pid, row


def _as_instance(session: Session, pid: int, row: Any) -> Prospect:
    """The session's instance of prospect ``pid`` holding ``row`` (its columns in
    :data:`_PROSPECT_ATTRS`' order) as committed state (see :func:`lock_visible`)."""
    held = session.identity_map.get(session.identity_key(Prospect, (pid,)))
    if held is not None:
        values = instance_dict(held)
        for name, value in zip(_PROSPECT_ATTRS, row, strict=True):
            if values.get(name, _UNSET) != value:
                set_committed_value(held, name, value)
        return held
    prospect = Prospect()
    instance_dict(prospect).update(zip(_PROSPECT_ATTRS, row, strict=True))
    make_transient_to_detached(prospect)
    session.add(prospect)
    return prospect


def advance_prospect(session: Session, prospect_id: Any, event: Any, *, actor: User,
                     reason: Any = None, data: Mapping[str, Any] | None = None,
                     version: Any = None, new_owner: str | None = None,
                     reason_category: Any = None) -> Prospect:
    """Fire ``event`` on a prospect: guards, new stage and clock, history row, cadence tasks
    and escalations, all in one transaction (:func:`pipeline.prospects.events.apply`).

    Raises NotFound, Conflict (stale ``version``: nothing changes; ``duplicate_customer``:
    a reopened prospect's customer has another prospect that is not lost), Invalid with
    ``details.missing`` listing what the guards found missing, or code ``unknown_event`` /
    ``event_not_allowed``.
    """
    command = load(FireEvent, {"event": event, "reason": reason, "version": version,
                               "new_owner": new_owner, "reason_category": reason_category})
    try:
        return _fire(session, prospect_id, command, actor, data, read_first=True)
    except RecordsMoved:  # another writer changed the records while we waited for the lock
        return _fire(session, prospect_id, command, actor, data, read_first=False)


def _fire(session: Session, prospect_id: Any, command: Mapping[str, Any], actor: User,
          data: Mapping[str, Any] | None, *, read_first: bool) -> Prospect:
    """:func:`advance_prospect`'s transaction. ``read_first``: the records come with the
    locking read (:func:`lock_with_records`) and the write checks they are still current;
    otherwise they are read after the lock."""
    event, reason, version, new_owner = (command["event"], command["reason"],
                                         command["version"], command["new_owner"])
    category = command["reason_category"]
    with unit_of_work(session):
        if read_first:
            prospect, records, seen = lock_with_records(session, actor, prospect_id)
        else:
            prospect, seen = lock_visible(session, actor, prospect_id), None
            records = load_records(session, prospect)
        check_version(prospect, version)
        engine = engine_of(prospect)
        before = state_of(prospect)
        now = clock.now()
        try:
            outcome = engine.fire(before, event, now=now, records=records, reason=reason,
                                  data=data, role=actor.role)
        except NotPermitted as exc:  # the workflow gives this event to other roles
            raise Forbidden(exc.message, code=exc.code) from None
        except TransitionRefused as exc:
            raise Invalid(exc.message, code="transition_refused",
                          details={"missing": [p.as_dict() for p in exc.problems]}) from None
        except (UnknownEvent, EventNotAllowed) as exc:
            raise Invalid(exc.message, code=exc.code,
                          details={"event": event, "stage": before.stage,
                                   "status": before.status,
                                   "available_events": engine.available_events(
                                       before, records, role=actor.role)}
                          ) from None
        except EngineError as exc:  # pragma: no cover - every engine error is one of the above
            raise Invalid(exc.message, code=exc.code) from None
        if category is not None:
            outcome = _with_lost_reason(outcome, engine, category)
        if event == "reopen":
            # The customer may have another prospect meanwhile: one manager per customer.
            check_unique_customer(session, actor, customer_no=prospect.customer_no,
                                  id_number=prospect.id_number)
            outcome = _reopen_owner(session, prospect, outcome, engine, actor, new_owner)
        try:
            apply(session, prospect, outcome, actor=actor, now=now, records_seen=seen)
            flush_or_conflict(session)
        except IntegrityError as exc:
            if (field := unique_customer_field(exc)) is None:
                raise
            raise duplicate_customer(field) from None
    return prospect


def _with_lost_reason(outcome: Outcome, engine: Engine, category: str) -> Outcome:
    """The lose event's reason category (one of the workflow's ``lost_reasons``) kept in the
    history row's data beside the free-text reason; refused on any other event."""
    if outcome.event != "lose":
        raise Invalid("only the lose event takes a reason category",
                      details={"reason_category": ["Only for lose."]})
    keys = [c.key for c in engine.workflow.lost_reasons]
    if category not in keys:
        raise Invalid("unknown reason category", details={"reason_category": [
            "One of: " + ", ".join(keys) if keys else "This workflow has no categories."]})
    return replace(outcome, data={**(outcome.data or {}), "reason_category": category})


def _reopen_owner(session: Session, prospect: Prospect, outcome: Outcome, engine: Engine,
                  actor: User, new_owner: str | None) -> Outcome:
    """A reopened prospect's owner: the one named (another manager under the cap, the
    change audited and kept in the history row), or the current one under the cap."""
    if not new_owner:
        check_capacity(session, prospect.owner, engine)
        return outcome
    owner = _owner_for(session, actor, new_owner)
    if owner.id == prospect.owner_id:
        return outcome
    check_capacity(session, owner, engine)
    audit(session, "prospect_reassigned", actor=actor, target_type="prospect",
          target_id=prospect.id, detail={"from_owner_id": prospect.owner_id,
                                         "to_owner_id": owner.id, "via": "reopen"})
    return replace(outcome, owner_id=owner.id,
                   data={**(outcome.data or {}), "previous_owner_id": prospect.owner_id})


# ------------------------------------------------------------------------ workspace



def save_record_then(session: Session, prospect_id: Any, record_key: str, *, actor: User,
                     data: Any, event: str | None, version: Any = None
                     ) -> tuple[RecordResult, Prospect | None]:
    """Save a stage record and, when it is now complete, fire ``event`` (``advance`` or
    ``win``: a board drop whose records were missing).

    Two transactions: the record is kept even when the event is then refused. Returns the
    record's status and the moved prospect (None when the event was not fired). Raises what
    :func:`save_record` raises, and for the event what :func:`advance_prospect` raises.
    """
    result = save_record(session, prospect_id, record_key, actor=actor, data=data,
                         version=version)
    if event not in ("advance", "win") or not result.complete:
        return result, None
    return result, advance_prospect(session, prospect_id, event, actor=actor)


def log_contact(session: Session, prospect_id: Any, *, actor: User,
                data: Mapping[str, Any]) -> Contact:
    """Record a touch with the customer (``kind``: call, sms, visit, meeting, wechat, email;
    ``outcome``, ``note``; ``at``: an aware datetime or ISO string, default now, never in the
    future). Contacts feed the after-sale frequencies and the daily activity counts.

    The call cap (the workflow's ``customer_care.call_cap``, seed 000): one more call in a
    calendar month (the workflow's time zone) that already has the most allowed, to a
    customer whose assets exceed the tiering's ``high_assets``, is refused (Invalid, code
    ``call_cap``, with the count) unless ``override_reason`` is given; that reason is kept
    on the contact and in the audit. ``callback_at`` makes a dated callback task for the
    owner. The contact closes the customer's open after-sale tasks due by the end of its
    day, and the dated ones (a maturity, a repayment) shown as upcoming.

    Raises NotFound outside the actor's scope, Invalid naming each bad field (nothing is
    saved). One transaction.
    """
    with unit_of_work(session):
        prospect = queries.get_visible(session, actor, prospect_id, for_update=True)
        now = clock.now()
        data = load(LogContact, data)
        kind, outcome, note, at = data["kind"], data["outcome"], data["note"], data["at"] or now
        at = clock.as_utc(at)
        wf = engine_of(prospect).workflow
        reason = (data["override_reason"] or "").strip() or None
        over = _over_call_cap(session, prospect, wf, kind, at, reason)
        contact = Contact(prospect_id=prospect.id, user_id=actor.id, kind=kind,
                          outcome=outcome or None, note=(note or "").strip() or None,
                          at=at, created_at=now, callback_at=data["callback_at"],
                          override_reason=reason if over else None)
        session.add(contact)
        session.flush()
        if over:
            calls, cap = over
            audit(session, "call_cap_override", actor=actor, target_type="prospect",
                  target_id=prospect.id, detail={"contact_id": contact.id, "calls": calls,
                                                 "cap": cap}, note=reason)
        _close_tasks_by_contact(session, prospect, wf, contact, actor, now)
        if contact.callback_at is not None:
            session.add(CadenceTask(
                prospect_id=prospect.id, key=f"callback:{contact.id}", kind="callback",
                assignee_kind="owner", assignee_id=prospect.owner_id, clock_no=0,
                due_at=contact.callback_at, title=_first_line(contact.note),
                created_at=now))
            session.flush()
    return contact


def _first_line(text: str | None, limit: int = 200) -> str | None:
    line = (text or "").strip().splitlines()[0].strip() if (text or "").strip() else ""
    return line[:limit] or None


def month_bounds(moment: datetime, tz: str) -> tuple[datetime, datetime]:
    """The UTC bounds of the calendar month that contains ``moment`` in zone ``tz``."""
    zone = ZoneInfo(tz)
    local = moment.astimezone(zone)
    start = datetime(local.year, local.month, 1, tzinfo=zone)
    end = datetime(local.year + (local.month == 12), local.month % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(clock.UTC), end.astimezone(clock.UTC)


def calls_this_month(session: Session, prospect_id: int, kind: str, at: datetime,
                     tz: str) -> int:
    """Contacts of ``kind`` with the customer in the calendar month of ``at``."""
    start, end = month_bounds(at, tz)
    return session.scalar(select(func.count()).select_from(Contact).where(
        Contact.prospect_id == prospect_id, Contact.kind == kind, Contact.at >= start,
        Contact.at < end))


def _over_call_cap(session: Session, prospect: Prospect, wf: Any, kind: str, at: datetime,
                   reason: str | None) -> tuple[int, int] | None:
    """None when the contact is within the call cap; (calls so far, cap) when it goes over
    it with a reason; Invalid ``call_cap`` when it goes over it without one."""
    cap = wf.care.call_cap if wf.care is not None else None
    if cap is None or kind != cap.kind or wf.tiering is None or prospect.assets is None \
            or not prospect.assets > wf.tiering.high_assets:
        return None
    calls = calls_this_month(session, prospect.id, kind, at, wf.timezone)
    if calls < cap.per_month:
        return None
    if reason is None:
        raise Invalid(
            f"the customer has had {calls} calls this month; at most {cap.per_month} are "
            f"made to a customer with assets over {wf.tiering.high_assets:,.0f} unless a "
            "reason is given", code="call_cap",
            details={"override_reason": [Message(CALL_CAP % {"calls": calls}, CALL_CAP,
                                                 calls=calls)],
                     "calls": calls, "cap": cap.per_month})
    return calls, cap.per_month


CALL_CAP = "The customer has had %(calls)d calls this month, the most allowed: give a " \
           "reason to call again."


def _close_tasks_by_contact(session: Session, prospect: Prospect, wf: Any, contact: Contact,
                            actor: User, now: datetime) -> None:
    """The contact closes the customer's open after-sale tasks due by the end of its day
    (in the workflow's time zone), the dated ones shown as upcoming, and the campaigns
    started before it (whatever day they are due by)."""
    if wf.care is None:
        return
    _start, end = queries.local_day(contact.at, wf.timezone)
    dated = tuple(k for k in set(wf.care.events.values()) if k != wf.care.retention_task)
    t = CadenceTask.__table__
    session.execute(update(t).where(
        t.c.prospect_id == prospect.id, t.c.done_at.is_(None), t.c.kind != CADENCE,
        or_(t.c.due_at < end,
            and_(t.c.kind.in_(dated), t.c.due_at < end + timedelta(days=wf.care.upcoming_days)),
            and_(t.c.kind == "campaign", t.c.created_at <= contact.at)))
        .values(done_at=now, done_by_id=actor.id, contact_id=contact.id)
        .execution_options(synchronize_session=False))


def complete_task(session: Session, task_id: Any, *, actor: User,
                  data: Mapping[str, Any] | None = None) -> CadenceTask:
    """Mark a task done now, with an optional ``note`` (and, for a retention task, its
    ``outcome``: retained, partly_retained, or left with a note; see
    :class:`~pipeline.prospects.schemas.CompleteTask`).

    A first-contact step with a contact-log field (manager SMS, call…) is done by filling
    that field through :func:`save_record`, so the record, the cadence guard and the task
    agree; other tasks (the lead's call, after-sale work) are marked directly. Marking a
    done task again changes nothing. Raises NotFound (unknown task, or its prospect
    outside the actor's scope), Forbidden (a manager ticking the lead's task), Conflict
    (a cadence task of an earlier stage visit, or the prospect is lost), Invalid naming a
    bad field. A manager may not mark the lead's tasks nor the branch's steps (Forbidden).
    One transaction.
    """
    command = load(CompleteTask, dict(data or {}))
    task = session.get(CadenceTask, parse_id(task_id, "task"))
    if task is None:
        raise NotFound("no such task")
    prospect = queries.get_visible(session, actor, task.prospect_id)
    if task.done_at is not None:
        return task
    if task.assignee_kind == "team_lead" and actor.role == "manager":
        raise Forbidden("this task is the team lead's")
    if task.assignee_kind == "institution" and actor.role == "manager":
        # The branch's own step (its message is sent and marked by the outbox); a lead or
        # the supervisor may still mark it by hand, a manager may not claim it.
        raise Forbidden("this step is the branch's")
    cadence = task.kind == CADENCE
    if cadence and task.clock_no != prospect.clock_no:
        raise Conflict("this task belongs to an earlier stage visit", code="stale_task")
    if prospect.status == "lost":
        raise Conflict("the prospect is lost; reopen it first", code="prospect_lost")
    engine = engine_of(prospect)
    care = engine.workflow.care
    if command["outcome"] is not None and (care is None or task.kind != care.retention_task):
        raise Invalid("only a retention task has an outcome",
                      details={"outcome": [Message("Only a retention task has an outcome.")]})
    stage = engine.workflow.stage(prospect.stage)
    step = next((s for s in stage.cadence if s.key == task.key), None) if cadence else None
    if step is not None and step.done_field:
        record = next(r for r in stage.records if r.field(step.done_field))
        save_record(session, prospect.id, record.key, actor=actor,
                    data={step.done_field: clock.now().isoformat()})
        session.refresh(task)
        return task
    with unit_of_work(session):
        task.done_at = clock.now()
        task.done_by_id = actor.id
        task.done_note = (command["note"] or "").strip() or None
        task.outcome = command["outcome"]
    return task
