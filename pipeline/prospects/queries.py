"""Reads of prospects, scoped to what the viewer may see."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Select, and_, bindparam, case, func, or_, select, union_all
from sqlalchemy.orm import Session

from pipeline import clock, workflows
from pipeline.auth.models import Team, User
from pipeline.db import DriverStatement
from pipeline.engine import identity
from pipeline.errors import NotFound, parse_id
from pipeline.prospects.events import state_of
from pipeline.prospects.models import (
    CADENCE,
    CadenceTask,
    Contact,
    Prospect,
    StageEvent,
    StageRecord,
)


def scope(stmt: Select, viewer: User) -> Select:
    """Restrict a select over Prospect to the viewer's prospects.

    A manager sees their own, a team lead their team's, a supervisor or admin the branch.
    """
    if viewer.role in ("supervisor", "admin"):
        return stmt
    if viewer.role == "team_lead":
        if viewer.team_id is None:
            return stmt.where(Prospect.owner_id == viewer.id)
        return stmt.where(Prospect.team_id == viewer.team_id)
    return stmt.where(Prospect.owner_id == viewer.id)


def can_see(viewer: User, prospect: Prospect) -> bool:
    if viewer.role in ("supervisor", "admin"):
        return True
    if viewer.role == "team_lead" and viewer.team_id is not None:
        return prospect.team_id == viewer.team_id
    return prospect.owner_id == viewer.id


def _one_visible(kind: str) -> Select:
    stmt = select(Prospect).where(Prospect.id == bindparam("pid"))
    if kind == "team":
        stmt = stmt.where(Prospect.team_id == bindparam("scope_id"))
    elif kind == "owner":
        stmt = stmt.where(Prospect.owner_id == bindparam("scope_id"))
    return stmt


_SCOPE_KINDS = ("all", "team", "owner")
# One prospect by id under each scope rule of :func:`scope`, built once: every write on a
# prospect starts here, and building and keying the statement each time cost more CPU
# than running it. The locking form (every event's first statement) refreshes an instance
# the session already holds with the locked row's values (populate_existing).
_ONE_VISIBLE = {kind: _one_visible(kind) for kind in _SCOPE_KINDS}
_LOCK_VISIBLE = {
    kind: _one_visible(kind).with_for_update().execution_options(populate_existing=True)
    for kind in _SCOPE_KINDS}


def get_visible(session: Session, viewer: User, prospect_id: Any, *,
                for_update: bool = False) -> Prospect:
    """The prospect if the viewer may see it; NotFound otherwise (never 403: no leaks).
    The scope is :func:`scope`'s.

    ``for_update`` locks the row until the transaction ends, and the instance returned
    then holds the locked row's values (an instance the session already had is brought
    up to date with them, as the row another writer may have changed since it was read).
    """
    pid = parse_id(prospect_id, "prospect")
    if viewer.role in ("supervisor", "admin"):
        kind, scope_id = "all", None
    elif viewer.role == "team_lead" and viewer.team_id is not None:
        kind, scope_id = "team", viewer.team_id
    else:
        kind, scope_id = "owner", viewer.id
    # Pending changes are flushed first (autoflush), as before any query.
    statement = _LOCK_VISIBLE[kind] if for_update else _ONE_VISIBLE[kind]
    prospect = session.scalars(statement, {"pid": pid, "scope_id": scope_id}).first()
    if prospect is None:
        raise NotFound("no such prospect")
    return prospect


_RECORDS_OF_ONE = DriverStatement(
    select(StageRecord.__table__.c.prospect_id, StageRecord.__table__.c.record_key,
           StageRecord.__table__.c.data)
    .where(StageRecord.__table__.c.prospect_id == bindparam("pid")))


def records_of(session: Session, prospect_ids: list[int]) -> dict[int, dict[str, dict]]:
    """Record data per prospect: ``{prospect_id: {record_key: data}}`` in one query."""
    out: dict[int, dict[str, dict]] = {pid: {} for pid in prospect_ids}
    if not prospect_ids:
        return out
    if len(prospect_ids) == 1:  # every write's guard check: through the driver
        rows: Any = _RECORDS_OF_ONE.run(session.connection(), {"pid": prospect_ids[0]}).rows
    else:
        rows = session.execute(
            select(StageRecord.prospect_id, StageRecord.record_key, StageRecord.data)
            .where(StageRecord.prospect_id.in_(prospect_ids)))
    for pid, key, data in rows:
        out[pid][key] = data or {}
    return out


def history_of(session: Session, prospect_id: int) -> list[StageEvent]:
    return list(session.scalars(
        select(StageEvent).where(StageEvent.prospect_id == prospect_id)
        .order_by(StageEvent.seq)))


def filtered(viewer: User, *, stage: str | None = None, owner: str | None = None,
             team: str | None = None, status: str | None = None, tier: str | None = None,
             overdue: bool = False, q: str | None = None, workflow: str | None = None) -> Select:
    """The viewer's prospects with the list filters of the API and the board: the cases of
    one ``workflow`` (default: the customer workflow, so no other case, e.g. a complaint,
    is ever listed as a customer)."""
    stmt = scope(select(Prospect), viewer).where(of_workflow(workflow))
    if stage:
        stmt = stmt.where(Prospect.stage == stage)
    if status:
        stmt = stmt.where(Prospect.status == status)
    if tier:
        stmt = stmt.where(Prospect.tier == tier)
    if owner:
        stmt = stmt.where(Prospect.owner_id == select(User.id).where(
            func.lower(User.email) == owner.lower()).scalar_subquery())
    if team:
        stmt = stmt.where(Prospect.team_id == select(Team.id).where(
            Team.name == team).scalar_subquery())
    if overdue:
        stmt = stmt.where(and_(Prospect.status == "active", Prospect.due_at < clock.now()))
    if q and (found := search_condition(q)) is not None:
        stmt = stmt.where(found)
    return stmt


def of_workflow(key: str | None = None) -> Any:
    """The condition "a case of workflow ``key``" (default: the customer workflow)."""
    return Prospect.workflow_key == (key or workflows.DEFAULT_KEY)


def search_condition(q: str) -> Any:
    """What a search box's ``q`` matches: a part of the name, or the whole customer number,
    mobile number (as :func:`identity.normal_mobile` stores it) or ID number (check letter
    upper-cased). A text with a digit in it is a number and is looked up whole in the
    numbers' indexes only (no name has digits, and a part-of-name match would scan)."""
    text = q.strip()
    if not text:
        return None
    numbers = [Prospect.customer_no == text]
    mobile = identity.normal_mobile(text)
    if mobile.isdigit():
        numbers.append(Prospect.phone == mobile)
    id_number = identity.normal_id_number(text)
    if len(id_number) == identity.ID_LENGTH:
        numbers.append(Prospect.id_number == id_number)
    if any(c.isdigit() for c in text):
        return or_(*numbers)
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(Prospect.name.ilike(f"%{escaped}%", escape="\\"), *numbers)


# ---------------------------------------------------------------- board and workspace
# The pages' reads: a fixed number of queries whatever the number of cards.

BOARD_PAGE = 50  # cards per column before "more"
# A whole branch's board (a supervisor's "all teams") opens on each column's count and its
# most urgent cards: a province's columns hold tens of thousands each.
WIDE_PAGE = 10
OPEN_STATUSES = ("active", "paused", "won")


class CardProspect(NamedTuple):
    """A card's prospect: what the card shows, what the engine needs to say what the current
    stage misses (``services.STATE_FIELDS``), and the owner's name; read-only. A tuple, not
    an ORM entity or a result row: a board reads hundreds only to show them, and entities
    (identity map, change tracking) and rows (each attribute a name lookup) cost more than
    the rest of the read."""

    id: int
    workflow_key: str
    name: str
    tier: str
    owner_id: int
    team_id: int | None
    phone: str | None
    version: int
    stage: str
    status: str
    stage_entered_at: datetime
    clock_started_at: datetime
    due_at: datetime | None
    warn_at: datetime | None
    paused_at: datetime | None
    paused_seconds: int
    clock_no: int
    lost_reason: str | None
    sms_opt_out: bool  # the customer asked for no SMS (the card says so)
    owner_name: str


CARD_COLUMNS = CardProspect._fields[:-1]  # the prospects' columns a card reads


@dataclass
class Card:
    """What a board card or a list row shows of a prospect (no personal data in full)."""

    prospect: CardProspect
    owner_name: str
    missing: list  # engine Problems of the current stage's records
    overdue: bool
    due_soon: bool
    missing_records: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.missing_records = sorted({p.record for p in self.missing if p.record})


@dataclass
class Column:
    stage: str
    count: int
    overdue: int
    cards: list[Card]

    @property
    def more(self) -> int:
        return max(self.count - len(self.cards), 0)


class ManagerLoad(NamedTuple):
    """A manager with the number of customers they maintain (shown out of the cap; None
    where the page does not count them)."""

    id: int
    name: str
    email: str
    count: int | None


@dataclass
class Board:
    columns: list[Column]
    total: int
    owners: list[ManagerLoad]  # the managers whose prospects the viewer sees (not a manager)
    teams: list[tuple[int, str]]
    mine: ManagerLoad | None = None  # a manager's own count
    cap: int = 250  # customers per manager (the default workflow's)


def board_statement(viewer: User, filters: dict[str, Any]) -> Select:
    """The viewer's prospects under the board's filters (status ``open`` by default)."""
    status = filters.get("status") or "open"
    stmt = filtered(viewer, owner=filters.get("owner"), team=filters.get("team"),
                    tier=filters.get("tier"), overdue=bool(filters.get("overdue")),
                    q=filters.get("q"), status=None if status == "open" else status,
                    workflow=filters.get("workflow"))
    if status == "open":
        stmt = stmt.where(Prospect.status.in_(OPEN_STATUSES))
    return stmt


def card_columns() -> list:
    return [getattr(Prospect, k) for k in CARD_COLUMNS]


def _urgency_order() -> list:
    # Most urgent first: the nearest (or most overdue) due time; no due time last.
    return [Prospect.due_at.is_(None), Prospect.due_at, Prospect.id]


def _stage_records() -> tuple[tuple[tuple[str, str], tuple[str, ...]], ...]:
    """((workflow, stage), its own record keys) of every stage that has records."""

    return tuple(((key, stage.key), tuple(r.key for r in stage.records))
                 for key, engine in workflows.all_engines().items()
                 for stage in engine.workflow.stages if stage.records)


def _current_records(card: Any, by_stage: tuple) -> list:
    """The card's current stage's own records, as one column each (the n-th column holds the
    data of the stage's n-th record, NULL where the stage has no n-th record or the card is
    not active). Only those decide what a card misses, so a card reads no other record
    (each is a JSON document to decode).

    Correlated subqueries in the select list: the database runs them only for the cards
    that pass the page limit, each one lookup in the unique (prospect, key) index, however
    many prospects the ranking went through (a join let PostgreSQL hash all of
    ``stage_records`` for a branch-wide board). The record key is a CASE over the card's
    workflow and stage rather than a list of (workflow, stage, record) triples, which the
    database plans in a fraction of the time."""
    width = max((len(records) for _stage, records in by_stage), default=0)
    one_workflow = len({wf for (wf, _stage), _records in by_stage}) == 1

    def key(n: int) -> Any:
        if one_workflow:  # a board's cards are of one workflow: its stage says the record
            return case({stage: records[n] for (_wf, stage), records in by_stage
                         if len(records) > n}, value=card.stage)
        return case(*((and_(card.workflow_key == wf, card.stage == stage), records[n])
                      for (wf, stage), records in by_stage if len(records) > n))

    return [select(StageRecord.data).where(
        StageRecord.prospect_id == card.id, card.status == "active",
        StageRecord.record_key == key(n)).scalar_subquery()
        for n in range(width)]


def cards_of(session: Session, source: Any, *, order_by: Callable[[Any], list]) -> list[Card]:
    """Cards for the prospects of ``source`` (a subquery of at least :data:`CARD_COLUMNS`),
    in one query: the prospect's columns, its owner's name and its current stage's records
    (an active card's "missing" flags), so no second query lists the cards' ids.
    ``order_by(source)`` gives the cards' order (a subquery's own order is not kept).
    """
    by_stage = _stage_records()
    stmt = _card_statement(source, order_by=order_by, by_stage=by_stage)
    return [card for card, _row in _cards_from(session, stmt, by_stage=by_stage)]


def _card_statement(source: Any, *, order_by: Callable[[Any], list], by_stage: tuple,
                    where: Any = None, extra: tuple = ()) -> Select:
    c = source.c
    # One row per card: its columns in CardProspect's order, its current stage's records
    # (see _current_records), then the extra columns.
    stmt = (select(*(c[k] for k in CARD_COLUMNS), User.name,
                   *_current_records(c, by_stage),
                   *extra)
            .join(User, User.id == c.owner_id)
            .order_by(*order_by(source)))
    return stmt if where is None else stmt.where(where)


def _cards_from(session: Session, stmt: Select, params: dict[str, Any] | None = None, *,
                by_stage: tuple) -> Iterator[tuple[Card, Any]]:
    """The cards of a :func:`_card_statement` (built with the same ``by_stage``), each with
    its row."""

    now = clock.now()
    record_keys = dict(by_stage)
    n = len(CardProspect._fields)
    # Core rows straight from the connection: the ORM's result machinery adds nothing to
    # plain columns. (Nothing is pending here: the pages read after their writes commit.)
    for row in session.connection().execute(stmt, params or {}).all():
        p = CardProspect(*row[:n])
        active = p.status == "active"
        if active:
            keys = record_keys.get((p.workflow_key, p.stage), ())
            records = {key: row[n + i] or {} for i, key in enumerate(keys)
                       if row[n + i] is not None}
            missing = workflows.engine(p.workflow_key).missing(state_of(p), records)
        else:
            missing = []
        clocked = active and p.due_at is not None
        yield Card(p, p.owner_name, missing, overdue=clocked and p.due_at < now,
                   due_soon=clocked and p.due_at >= now and p.warn_at is not None
                   and p.warn_at <= now), row


def _by_urgency(source: Any) -> list:
    return [source.c.due_at.is_(None), source.c.due_at, source.c.id]


@dataclass(frozen=True)
class _Viewer:
    """Who :func:`scope` restricts to, with bound parameters in place of the ids."""

    role: str
    id: Any
    team_id: Any


_OPEN_BOARDS: dict[tuple, Select] = {}


def _board_query(viewer: Any, filters: dict[str, Any], now: Any, limits: dict[str, int],
                 default_limit: int, by_stage: tuple) -> Select:
    """The board's one query: the first cards of each column by urgency, with their
    current-stage records, each card row carrying its column's count and overdue count."""
    base = board_statement(viewer, filters)
    overdue_expr = case((and_(Prospect.status == "active", Prospect.due_at < now), 1), else_=0)
    column = {"partition_by": Prospect.stage}
    # The counts ride on the ranking (a column with prospects shows at least its first
    # card), so no second pass over the viewer's prospects counts them.
    ranked = base.with_only_columns(
        *card_columns(), func.row_number().over(**column, order_by=_urgency_order()).label("rn"),
        func.count().over(**column).label("n"),
        func.sum(overdue_expr).over(**column).label("n_overdue")).subquery()
    limit_expr = case(limits, value=ranked.c.stage, else_=default_limit) if limits \
        else default_limit
    # No more cards than every stage's column full: a bound that cuts nothing, but tells
    # PostgreSQL how few rows come out (it guesses a third of the ranked prospects), so it
    # reads each shown card's records after sorting instead of planning (and JIT-compiling)
    # for a branch's worth of them.
    return _card_statement(ranked, where=ranked.c.rn <= limit_expr,
                           order_by=lambda r: [r.c.stage, r.c.rn],
                           extra=(ranked.c.n, ranked.c.n_overdue), by_stage=by_stage) \
        .limit(_stage_count() * max([default_limit, *limits.values()]))


def is_wide(viewer: Any, filters: dict[str, Any]) -> bool:
    """A board over the whole branch (a supervisor's or admin's "all teams") that no owner
    or search narrows: a province holds hundreds of thousands of prospects, so its columns
    are read one by one (:func:`_wide_columns`) rather than ranked together."""
    return viewer.role in ("supervisor", "admin") and not any(
        filters.get(k) for k in ("team", "owner", "q"))


def _wide_columns(session: Session, viewer: Any, filters: dict[str, Any], now: Any,
                  stages: list[str] | tuple[str, ...], limits: dict[str, int],
                  default_limit: int, by_stage: tuple
                  ) -> tuple[dict[str, tuple[int, int]], dict[str, list[Card]]]:
    """The columns of a whole-branch board: per stage the count and overdue count (two
    grouped counts) and the first cards by urgency, each column's its own index range
    (``ix_prospects_board_order``: workflow, stage, then the board's order over the open
    prospects), so no statement sorts the branch. Three statements, whatever the size of
    the branch; the same columns as :func:`_board_query` gives.
    """
    base = board_statement(viewer, filters)
    # The columns' counts from ``ix_prospects_open_stage`` alone (workflow and stage of
    # the open prospects), the overdue ones from the overdue range of each column's
    # ``ix_prospects_board_order``: two index-only reads, where one grouped count with the
    # overdue sum beside had to read every open prospect's row.
    late = dict(session.execute(
        base.where(Prospect.stage.in_(stages), Prospect.status == "active",
                   Prospect.due_at < now)
        .with_only_columns(Prospect.stage, func.count()).group_by(Prospect.stage)).all())
    counts = {stage: (n, late.get(stage, 0)) for stage, n in session.execute(
        base.with_only_columns(Prospect.stage, func.count()).group_by(Prospect.stage))}
    shown = [s for s in stages if counts.get(s, (0, 0))[0]]
    if not shown:
        return counts, {}
    # One limited read per column (UNION ALL of subqueries: SQLite takes no LIMIT on a
    # compound's own parts), in the index's order: due time ascending with none last (the
    # board's "due_at IS NULL, due_at", written as PostgreSQL's index reads it), then id.
    parts = []
    for stage in shown:
        top = base.where(Prospect.stage == stage).with_only_columns(*card_columns()) \
            .order_by(Prospect.due_at.asc().nulls_last(), Prospect.id) \
            .limit(limits.get(stage, default_limit)).subquery()
        parts.append(select(*top.c))
    source = parts[0].subquery() if len(parts) == 1 else union_all(*parts).subquery()
    stmt = _card_statement(source, order_by=lambda s: [s.c.stage, *_by_urgency(s)],
                           by_stage=by_stage)
    cards: dict[str, list[Card]] = {}
    for card, _row in _cards_from(session, stmt, by_stage=by_stage):
        cards.setdefault(card.prospect.stage, []).append(card)
    return counts, cards


def _stage_count() -> int:

    return len({s.key for engine in workflows.all_engines().values()
                for s in engine.workflow.stages})


def board(session: Session, viewer: User, filters: dict[str, Any], *,
          stages: list[str] | tuple[str, ...], limits: dict[str, int] | None = None,
          default_limit: int = BOARD_PAGE) -> Board:
    """The board: per stage the count, the overdue count and the first cards by urgency.

    ``limits`` raises one column's card count (its "more" link). One query for the cards,
    their records and the columns' counts, one for the filter choices (none on a manager's
    board) and one more for the teams of a supervisor, whatever the number of cards.
    """
    now = clock.now()
    # The board shows one workflow's cases (of_workflow): only its stages' records are read.
    shown = filters.get("workflow") or workflows.DEFAULT_KEY
    by_stage = tuple(item for item in _stage_records() if item[0][0] == shown)
    by_stage_cards: dict[str, list[Card]] = {}
    counts: dict[str, tuple[int, int]] = {}
    if is_wide(viewer, filters):
        counts, by_stage_cards = _wide_columns(session, viewer, filters, now, stages,
                                               limits or {}, default_limit, by_stage)
        return _board_of(session, viewer, filters, stages, counts, by_stage_cards,
                         count_loads=False)
    if limits or any(filters.get(k) for k in ("owner", "team", "tier", "overdue", "q")) \
            or (filters.get("status") or "open") != "open":
        stmt = _board_query(viewer, filters, now, limits or {}, default_limit, by_stage)
        params = {}
    else:
        # The board as it opens, the same statement for every viewer of a kind: built (and
        # keyed by SQLAlchemy's statement cache) once per process, not on every request.
        key = (viewer.role, viewer.team_id is None, default_limit, by_stage, _stage_count(),
               filters.get("workflow") or workflows.DEFAULT_KEY)
        stmt = _OPEN_BOARDS.get(key)
        if stmt is None:
            stand_in = _Viewer(viewer.role, bindparam("viewer_id"),
                               None if viewer.team_id is None else bindparam("team_id"))
            stmt = _OPEN_BOARDS[key] = _board_query(stand_in, filters, bindparam("now"), {},
                                                    default_limit, by_stage)
        params = {"viewer_id": viewer.id, "team_id": viewer.team_id, "now": now}
    for card, row in _cards_from(session, stmt, params, by_stage=by_stage):
        by_stage_cards.setdefault(card.prospect.stage, []).append(card)
        counts[card.prospect.stage] = (row[-2], row[-1] or 0)
    # A manager's own open board holds exactly the customers they maintain (the same
    # statuses, the customer workflow, their own): its count is theirs, with no query.
    own = viewer.role == "manager" and not limits and default_limit > 0 \
        and params and shown == workflows.DEFAULT_KEY \
        and set(OPEN_STATUSES) == set(MAINTAINED)
    return _board_of(session, viewer, filters, stages, counts, by_stage_cards,
                     own_count=sum(n for n, _late in counts.values()) if own else None)


def _board_of(session: Session, viewer: User, filters: dict[str, Any],
              stages: list[str] | tuple[str, ...], counts: dict[str, tuple[int, int]],
              by_stage_cards: dict[str, list[Card]], *, count_loads: bool = True,
              own_count: int | None = None) -> Board:
    """The board of these columns' counts and cards, with its filter choices: the managers
    with the customers each maintains (without ``count_loads``, a whole branch's managers
    without their counts: counting them would read every prospect of the branch again;
    ``own_count``: a manager's own count, already known from the board's rows)."""
    columns = [Column(stage, counts.get(stage, (0, 0))[0], counts.get(stage, (0, 0))[1],
                      by_stage_cards.get(stage, [])) for stage in stages]
    if own_count is not None and viewer.role == "manager":
        # manager_loads of a manager: the active manager themselves with their count.
        loads = [ManagerLoad(viewer.id, viewer.name, viewer.email, own_count)] \
            if viewer.active else []
    elif count_loads:
        loads = manager_loads(session, viewer, team=filters.get("team"))
    else:
        loads = [ManagerLoad(*row, None) for row in session.execute(
            select(User.id, User.name, User.email).where(
                User.role == "manager", User.active.is_(True)).order_by(User.name))]
    owners = loads if viewer.role != "manager" else []
    mine = next((m for m in loads if m.id == viewer.id), None) \
        if viewer.role == "manager" else None
    teams: list[tuple[int, str]] = []
    if viewer.role in ("supervisor", "admin"):
        teams = [tuple(r) for r in session.execute(select(Team.id, Team.name)
                                                    .order_by(Team.name))]
    return Board(columns, sum(c.count for c in columns), owners, teams, mine,
                 workflows.engine().workflow.escalation.max_active_per_manager)


# What the cap of customers per manager counts: every customer a manager maintains, in the
# pipeline or after-sale (seed 002).
MAINTAINED = ("active", "paused", "won")


def maintained_counts(session: Session, owner_ids: Iterable[int]) -> dict[int, int]:
    """How many customers each of ``owner_ids`` maintains (:data:`MAINTAINED`), in one
    query; a manager with none is 0."""
    ids = sorted(set(owner_ids))
    if not ids:
        return {}
    counts = dict(session.execute(
        select(Prospect.owner_id, func.count()).where(
            Prospect.owner_id.in_(ids), Prospect.status.in_(MAINTAINED), of_workflow())
        .group_by(Prospect.owner_id)).all())
    return {i: counts.get(i, 0) for i in ids}


def maintained_count(session: Session, owner_id: int) -> int:
    """How many customers one manager maintains: what the cap is checked against."""
    return session.scalar(select(func.count()).select_from(Prospect).where(
        Prospect.owner_id == owner_id, Prospect.status.in_(MAINTAINED), of_workflow()))


def manager_loads(session: Session, viewer: User, *, team: str | None = None
                  ) -> list[ManagerLoad]:
    """The managers of :func:`managers_in_scope` with their counts, in one query; a
    supervisor's board on one ``team`` (by name) counts only that team's managers, not a
    province's."""
    managers = select(User.id).where(User.role == "manager", User.active.is_(True))
    if team and viewer.role in ("supervisor", "admin"):
        managers = managers.where(User.team_id == select(Team.id).where(
            Team.name == team).scalar_subquery())
    if viewer.role == "team_lead":
        managers = managers.where(User.team_id == viewer.team_id)
    elif viewer.role == "manager":
        managers = managers.where(User.id == viewer.id)
    # Counted over the managers' own prospects wherever those sit (a manager who changed
    # teams keeps the customers of the old one).
    n = (select(Prospect.owner_id, func.count().label("n"))
         .where(Prospect.status.in_(MAINTAINED), Prospect.owner_id.in_(managers),
                of_workflow())
         .group_by(Prospect.owner_id)).subquery()
    stmt = (select(User.id, User.name, User.email, func.coalesce(n.c.n, 0))
            .outerjoin(n, n.c.owner_id == User.id)
            .where(User.id.in_(managers)).order_by(User.name))
    return [ManagerLoad(*row) for row in session.execute(stmt)]


def managers_in_scope(session: Session, viewer: User) -> list[tuple[int, str, str]]:
    """(id, name, e-mail) of the active managers whose prospects the viewer sees."""
    if viewer.role == "manager":
        return [(viewer.id, viewer.name, viewer.email)]
    stmt = select(User.id, User.name, User.email).where(
        User.role == "manager", User.active.is_(True)).order_by(User.name)
    if viewer.role == "team_lead":
        stmt = stmt.where(User.team_id == viewer.team_id)
    return [(r[0], r[1], r[2]) for r in session.execute(stmt)]


def column_cards(session: Session, viewer: User, filters: dict[str, Any], stage: str, *,
                 offset: int, limit: int = BOARD_PAGE) -> tuple[list[Card], int]:
    """One column's cards from ``offset`` (its "more" page) and how many follow them (a
    whole branch's column in the order of its index, :func:`_wide_columns`)."""
    base = board_statement(viewer, filters).where(Prospect.stage == stage)
    total = session.scalar(base.with_only_columns(func.count()))
    order = [Prospect.due_at.asc().nulls_last(), Prospect.id] if is_wide(viewer, filters) \
        else _urgency_order()
    page = base.with_only_columns(*card_columns()).order_by(*order) \
        .offset(offset).limit(limit).subquery()
    cards = cards_of(session, page, order_by=_by_urgency)
    return cards, max(total - offset - len(cards), 0)


def card_of(session: Session, viewer: User, prospect_id: int) -> Card:
    """One prospect's card (after a move): NotFound outside the viewer's scope."""
    one = scope(select(*card_columns()).where(Prospect.id == prospect_id), viewer).subquery()
    cards = cards_of(session, one, order_by=lambda s: [s.c.id])
    if not cards:
        raise NotFound("no such prospect")
    return cards[0]


@dataclass
class ProspectPage:
    prospect: Prospect
    records: dict[str, dict]
    record_rows: dict[str, StageRecord]
    history: list[StageEvent]
    tasks: list[CadenceTask]
    contacts: list[Contact]
    people: dict[int, str]  # user id -> name, for owners, actors and assignees
    team_name: str | None


def prospect_page(session: Session, viewer: User, prospect_id: Any) -> ProspectPage:
    """Everything the prospect page shows, in a fixed number of queries; NotFound outside
    the viewer's scope."""
    prospect = get_visible(session, viewer, prospect_id)
    rows = list(session.scalars(select(StageRecord).where(
        StageRecord.prospect_id == prospect.id)))
    history = history_of(session, prospect.id)
    tasks = list(session.scalars(select(CadenceTask).where(
        CadenceTask.prospect_id == prospect.id).order_by(CadenceTask.clock_no.desc(),
                                                         CadenceTask.due_at)))
    contacts = list(session.scalars(select(Contact).where(
        Contact.prospect_id == prospect.id).order_by(Contact.at.desc(), Contact.id.desc())))
    ids = {prospect.owner_id} | {h.actor_id for h in history if h.actor_id} \
        | {h.owner_id for h in history if h.owner_id} \
        | {h.data["from_owner"] for h in history if h.data and h.data.get("from_owner")} \
        | {t.assignee_id for t in tasks if t.assignee_id} \
        | {t.done_by_id for t in tasks if t.done_by_id} | {c.user_id for c in contacts if c.user_id}
    people = dict(session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())
    team_name = session.scalar(select(Team.name).where(Team.id == prospect.team_id)) \
        if prospect.team_id else None
    return ProspectPage(prospect, {r.record_key: r.data or {} for r in rows},
                        {r.record_key: r for r in rows}, history, tasks, contacts, people,
                        team_name)


class DayTask(NamedTuple):
    """A task on My day with its customer: name, tier, stage and status."""

    task: CadenceTask
    prospect_id: int
    name: str
    tier: str
    stage: str
    status: str
    workflow_key: str

    @property
    def kind(self) -> str:
        return self.task.kind


@dataclass
class MyDay:
    """A user's day. ``overdue_tasks`` were due before today (in the user's time zone),
    ``today_tasks`` are due today, ``upcoming`` are dated after-sale tasks (a maturity, a
    repayment) of the next days the workflow shows ahead; ``due_soon`` and ``overdue``
    are the user's prospects near or past their stage's deadline."""

    overdue_tasks: list[DayTask]
    today_tasks: list[DayTask]
    upcoming: list[DayTask]
    due_soon: list[Card]
    overdue: list[Card]
    activity: dict[str, int]  # contact kind -> count today
    day_start: datetime
    day_end: datetime

    @property
    def tasks(self) -> list[DayTask]:
        """Every task due by the end of today, overdue first."""
        return [*self.overdue_tasks, *self.today_tasks]


def local_day(now: datetime, tz: str) -> tuple[datetime, datetime]:
    """The UTC bounds of the calendar day that contains ``now`` in zone ``tz``."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    day = now.astimezone(zone).date()
    start = datetime.combine(day, time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    return start.astimezone(clock.UTC), end.astimezone(clock.UTC)


def my_day(session: Session, user: User, *, tz: str, limit: int = 100) -> MyDay:
    """A user's day: open tasks overdue and due today (first-contact steps of current
    visits, the lead's calls, after-sale work of customers not lost), the dated after-sale
    tasks coming up, prospects in their warning window and overdue ones (their own, most
    urgent first), and today's contacts by kind. A fixed number of queries."""
    now = clock.now()
    start, end = local_day(now, tz)
    care = workflows.engine().workflow.care
    ahead = timedelta(days=care.upcoming_days) if care else timedelta(0)
    dated = tuple(k for k in set(care.events.values()) if k != care.retention_task) \
        if care else ()
    t, p = CadenceTask, Prospect
    open_task = and_(t.done_at.is_(None), or_(
        and_(t.kind == CADENCE, t.clock_no == p.clock_no, p.status == "active"),
        and_(t.kind != CADENCE, p.status != "lost")))
    stmt = (select(t, p.id, p.name, p.tier, p.stage, p.status, p.workflow_key)
            .join(p, p.id == t.prospect_id)
            .where(t.assignee_id == user.id, open_task,
                   or_(t.due_at < end, and_(t.kind.in_(dated), t.due_at < end + ahead)))
            .order_by(t.due_at, t.id).limit(3 * limit))
    found = [DayTask(*r) for r in session.execute(stmt)]
    overdue_tasks = [d for d in found if d.task.due_at < start][:limit]
    today_tasks = [d for d in found if start <= d.task.due_at < end][:limit]
    upcoming = [d for d in found if d.task.due_at >= end][:limit]
    mine = select(*card_columns()).where(Prospect.owner_id == user.id,
                                         Prospect.status == "active", of_workflow())
    cards = [card for part in (mine.where(Prospect.due_at < now),
                               mine.where(Prospect.due_at >= now, Prospect.warn_at <= now))
             for card in cards_of(session, part.order_by(Prospect.due_at, Prospect.id)
                                  .limit(limit).subquery(), order_by=_by_urgency)]
    activity = dict(session.execute(
        select(Contact.kind, func.count()).where(Contact.user_id == user.id,
                                                 Contact.at >= start, Contact.at < end)
        .group_by(Contact.kind)).all())
    return MyDay(overdue_tasks, today_tasks, upcoming,
                 [c for c in cards if c.due_soon], [c for c in cards if c.overdue],
                 activity, start, end)
