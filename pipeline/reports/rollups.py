"""Rollups of the funnel for the whole branch, kept by a job.

The branch-wide, unfiltered funnel page (a supervisor's or admin's, no team, manager or
tier) reads every stage visit of the branch when computed live: over a million visits in a
province, seconds at ten times that. A job (:func:`build_all`: ``flask --app wsgi reports
rollup`` and the in-process scheduler every ``PIPELINE_ROLLUP_MINUTES``) sums the visits
into a few tens of thousands of rows per workflow, and that view reads them while they are
fresher than ``PIPELINE_ROLLUP_MAX_AGE_MINUTES`` and in the caller's time zone
(:func:`usable`); otherwise, and for every narrowed view, the funnel is computed live as
before. Figures read from a rollup are those of the moment it was built (``built_at``):
visits open then, durations up to then; the page and the API say so.

Rows are per workflow, per stage, per day in the build's time zone (days are whole days,
counted from 1970-01-01), so any period of whole days — the funnel's ``from``/``to`` —
is the sum of its days:

- **Counts stay exact.** Each visit carries the day of the same prospect's previous visit
  into the same stage, and of the previous one with the same exit kind (advanced, lost,
  went back), won, stalled (NULL when none). A visit counts a prospect as entered in
  ``[from, to]`` when it began in the period and its previous visit began before ``from``
  (or never): exactly one visit per prospect does. The same holds for each outcome with its
  own previous day. A prospect's first visits are counted per stage and day
  (:data:`pipeline.reports.models.rollup_visits`: all an unbounded period reads); the
  other visits keep their previous days (``rollup_reentries``), read for a period with a
  start.
- **Days in stage are the one approximation.** Visits are counted by end day (or open
  when the rollup was built) and whole days in the stage, with the whole hours of that day
  side by side; also by month of the end day, and all ended visits together, so a period
  reads its whole months and only its edge days. The percentiles are found in the days
  first, then interpolated within the hour: each of the two ranked values
  ``percentile_cont`` interpolates between is placed evenly within its hour, so the median
  and the 90th percentile are within one hour (1/24 day) of the exact figures. This is the
  product's decision.
- **Cohorts are exact**: prospects by the day of their first entry, the furthest stage
  reached and whether they are lost now.

Lost reasons and escalations by decision stay live: they read their own indexes (the
losses since migration 0015, the escalations) and cost milliseconds at branch scale.

A build replaces every workflow's rows and records ``built_at`` in one transaction, once at
a time across processes and hosts: on PostgreSQL under an advisory lock that a concurrent
build does not wait for (it skips), on SQLite under the write lock every transaction takes.
A scheduled build also skips when a build newer than half its interval is there already,
so several hosts running the scheduler build about once per interval between them. The
windows over the visits sort one range of about :data:`CHUNK` prospects at a time. On the
benchmark's province (270,000 prospects, 1.3 million visits) a build took 10-16 s on the
shared 2-core machine (load 3-7); the whole province's funnel read from it 27-50 ms, a
period of months about 30 ms (live: 0.5-1.1 s), the supervisor's page 131 ms (live 1.3 s).
"""
from __future__ import annotations

import logging
import time as timer
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    true,
    type_coerce,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from pipeline import clock, workflows
from pipeline.auth.models import User
from pipeline.db import UTCDateTime, unit_of_work
from pipeline.prospects.models import Prospect, StageVisit
from pipeline.reports import queries
from pipeline.reports.models import (
    HOUR_COLUMNS,
    OUTCOMES,
    RollupBuild,
    rollup_cohorts,
    rollup_durations,
    rollup_reentries,
    rollup_visits,
)
from pipeline.sql import dialect_name, seconds_between

log = logging.getLogger("pipeline.reports.rollups")

ROLLUP_LOCK = 0x726F_6C6C  # PostgreSQL advisory lock: one rollup build at a time
EPOCH = date(1970, 1, 1)
DAY = 86400
HOUR = 3600
CHUNK = 200_000  # prospects (by id) per statement of the visits' windows
sv = StageVisit.__table__


# ---------------------------------------------------------------- days in a time zone

def day_number(moment: datetime, tz: str) -> int:
    """The day (in ``tz``, counted from 1970-01-01) that ``moment`` falls in."""
    return (clock.as_utc(moment).astimezone(ZoneInfo(tz)).date() - EPOCH).days


def day_date(number: int) -> date:
    return EPOCH + timedelta(days=number)


def _offsets(tz: str, lo: datetime, hi: datetime) -> list[tuple[int | None, int]]:
    """The time zone's UTC offsets (seconds) between ``lo`` and ``hi``: (until, offset)
    pairs, ``until`` the epoch second the offset ends (None for the last one)."""
    zone = ZoneInfo(tz)

    def offset(epoch: int) -> int:
        value = datetime.fromtimestamp(epoch, clock.UTC).astimezone(zone).utcoffset()
        return int(value.total_seconds()) if value is not None else 0

    start, end = int(lo.timestamp()) - 2 * DAY, int(hi.timestamp()) + 2 * DAY
    out: list[tuple[int | None, int]] = []
    step = 6 * HOUR
    current = offset(start)
    t = start
    while t < end:
        nxt = min(t + step, end)
        if offset(nxt) != current:
            a, b = t, nxt  # the change is in (a, b]: find its first second
            while b - a > 1:
                mid = (a + b) // 2
                if offset(mid) == current:
                    a = mid
                else:
                    b = mid
            out.append((b, current))
            current = offset(b)
            t = b
        else:
            t = nxt
    out.append((None, current))
    return out


def _day_expr(dialect: str, col: Any, offsets: list[tuple[int | None, int]]) -> Any:
    """The local day number of ``col`` (a stored naive UTC timestamp; NULL for NULL),
    exact at local midnights."""
    if dialect == "postgresql":
        # The date of the shifted timestamp (a date cast is cheaper per row than the
        # epoch's numeric arithmetic).
        def shift(seconds: int) -> Any:
            # Written into the statement (a whole number): a constant the planner folds,
            # not a bound value computed again for every row.
            return func.make_interval(0, 0, 0, 0, 0, 0, literal_column(str(int(seconds))))

        if len(offsets) == 1:
            shifted = col + shift(offsets[0][1])
        else:
            shifted = col + case(*[(col < _utc(until), shift(off)) for until, off in offsets[:-1]],
                                 else_=shift(offsets[-1][1]))
        return type_coerce(cast(shifted, Date) - _inline(EPOCH, Date), Integer)
    # SQLite: whole seconds since 1970 (strftime rounds down), shifted, in whole days.
    secs = cast(func.strftime("%s", col), BigInteger)
    if len(offsets) == 1:
        shifted = secs + offsets[0][1]
    else:
        shifted = secs + case(*[(secs < until, off) for until, off in offsets[:-1]],
                              else_=offsets[-1][1])
    return shifted // DAY


def _inline(value: Any, type_: Any = None) -> Any:
    """A constant of the build's statements, written into the statement when it is sent
    rather than bound: PostgreSQL ran the windows over the visits three times slower with
    these values as parameters."""
    if isinstance(value, list):
        return bindparam(None, value, expanding=True, literal_execute=True)
    return literal(value, type_, literal_execute=True)


def _utc(epoch: int | None) -> Any:
    return literal(datetime.fromtimestamp(epoch or 0, clock.UTC), UTCDateTime())


# ---------------------------------------------------------------- the build

@dataclass
class BuildSummary:
    built: list[str]
    skipped: str | None = None  # why nothing was built: "busy" or "fresh"
    built_at: str | None = None
    visits: int = 0
    rows: int = 0
    ms: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"built": self.built, "skipped": self.skipped, "built_at": self.built_at,
                "visits": self.visits, "rows": self.rows, "ms": self.ms}


def build_all(session: Session, *, tz: str, now: datetime | None = None,
              fresh_within: timedelta | None = None,
              workflow_keys: Iterable[str] | None = None) -> BuildSummary:
    """Rebuild the rollups of every workflow (or ``workflow_keys``) from the stage visits,
    days in ``tz``, as of ``now`` (the clock's now): one transaction that replaces the
    rows and records ``built_at``. On PostgreSQL a build already under way elsewhere makes
    this one skip (``skipped="busy"``); with ``fresh_within``, a build of every workflow
    newer than that makes it skip too (``skipped="fresh"``), so a scheduled run on several
    hosts builds once."""
    now = now or clock.now()
    ZoneInfo(tz)  # an unknown zone fails here, before anything is written
    keys = list(workflow_keys) if workflow_keys is not None else list(workflows.all_engines())
    started = timer.perf_counter()
    summary = BuildSummary(built=[])
    with unit_of_work(session):
        dialect = dialect_name(session)
        if dialect == "postgresql":
            got = session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"),
                                 {"key": ROLLUP_LOCK})
            if not got:
                summary.skipped = "busy"
                return summary
            # Sorting the visits for the windows fits in memory; JIT costs more than it
            # saves. Both end with the transaction.
            session.execute(select(func.set_config("jit", "off", True),
                                   func.set_config("work_mem", "128MB", True)))
        if fresh_within is not None:
            since = now - fresh_within
            fresh = session.scalar(select(func.count()).select_from(RollupBuild).where(
                RollupBuild.workflow_key.in_(keys), RollupBuild.built_at > since))
            if fresh == len(keys):
                summary.skipped = "fresh"
                return summary
        for key in keys:
            visits, rows = _build_one(session, dialect, key, tz, now)
            summary.built.append(key)
            summary.visits += visits
            summary.rows += rows
        summary.ms = round((timer.perf_counter() - started) * 1000)
        for key in keys:
            session.execute(delete(RollupBuild).where(RollupBuild.workflow_key == key))
        session.add_all([RollupBuild(workflow_key=key, timezone=tz, built_at=now,
                                     visits=summary.visits, build_ms=summary.ms)
                         for key in keys])
    summary.built_at = now.isoformat()
    _tidy(session)
    log.info("rollup built: %s", summary.as_dict())
    return summary


ROLLUP_TABLES = ("rollup_visits", "rollup_reentries", "rollup_durations", "rollup_cohorts",
                 "rollup_builds")


def _tidy(session: Session) -> None:
    """PostgreSQL: after a build, reclaim the rows it replaced and refresh the tables'
    statistics (``VACUUM (ANALYZE)``, outside the build's transaction; it blocks no
    reader, and it does not try to shorten the files, which would wait for the readers).
    Each build replaces every row, so without it the next reads would step over the dead
    ones until autovacuum came by. A failure is logged, the build stands."""
    if dialect_name(session) != "postgresql":
        return
    try:
        with session.get_bind().engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                text(f"VACUUM (ANALYZE, TRUNCATE false) {', '.join(ROLLUP_TABLES)}"))
    except SQLAlchemyError as exc:
        log.warning("rollup tables not vacuumed: %s", type(exc).__name__)


def _build_one(session: Session, dialect: str, key: str, tz: str, now: datetime
               ) -> tuple[int, int]:
    """Replace the rows of workflow ``key``; (visits read, rows written)."""
    order = workflows.workflow(key).stage_keys
    for table in (rollup_visits, rollup_reentries, rollup_durations, rollup_cohorts):
        session.execute(delete(table).where(table.c.workflow_key == key))
    mine = sv.c.stage.in_(_inline(list(order)))
    lo, hi, visits = session.execute(
        select(func.min(sv.c.start_at), func.max(sv.c.start_at), func.count())
        .where(mine)).one()
    if not visits:
        return 0, 0
    lo = clock.as_utc(lo)
    hi = max(clock.as_utc(hi), now)
    last_end = session.scalar(select(func.max(sv.c.end_at)).where(mine))
    if last_end is not None:
        hi = max(hi, clock.as_utc(last_end))
    offsets = _offsets(tz, lo, hi)
    _build_visits(session, dialect, key, mine, offsets)
    _build_durations(session, dialect, key, mine, offsets, now)
    for in_range in _ranges(session, key, mine):  # rows of several ranges add up
        _build_cohorts(session, dialect, key, order, in_range, offsets)
    rows = sum(session.scalar(select(func.count()).select_from(t).where(t.c.workflow_key == key))
               or 0 for t in (rollup_visits, rollup_reentries, rollup_durations,
                              rollup_cohorts))
    return int(visits), int(rows)


def _build_visits(session: Session, dialect: str, key: str, mine: Any,
                  offsets: list[tuple[int | None, int]]) -> None:
    """The visits' rows: grouped a range of prospects at a time (:func:`_ranges`) into
    rows set apart (``workflow_key`` :func:`_staging`), then summed."""
    staging = _staging(key)
    for in_range in _ranges(session, key, mine):
        _stage_visits(session, dialect, staging, in_range, offsets)
    x = rollup_reentries
    names = ["workflow_key", "stage", "day", "exit_kind", "won", "stalled", "prev_day",
             "prev_exit_day", "prev_won_day", "prev_stalled_day", "n"]
    keys = [x.c[c] for c in names[1:-1]]
    staged = x.c.workflow_key == staging

    def first(cond: Any, prev: Any) -> Any:
        return func.sum(case((and_(cond, prev.is_(None)), x.c.n), else_=0))

    # The days' totals from every visit; only the re-entries kept with their days.
    session.execute(insert(rollup_visits).from_select(
        ["workflow_key", "stage", "day", "visits", "entered", *OUTCOMES],
        select(literal(key), x.c.stage, x.c.day, func.sum(x.c.n),
               first(true(), x.c.prev_day),
               *[first(x.c.exit_kind == k, x.c.prev_exit_day)
                 for k in ("advanced", "lost", "back")],
               first(x.c.won.is_(True), x.c.prev_won_day),
               first(x.c.stalled.is_(True), x.c.prev_stalled_day))
        .where(staged).group_by(x.c.stage, x.c.day)))
    session.execute(insert(x).from_select(names, select(
        literal(key), *keys, func.sum(x.c.n)).where(staged, x.c.prev_day.is_not(None))
        .group_by(*keys)))
    session.execute(delete(x).where(staged))


def _ranges(session: Session, key: str, mine: Any) -> list[Any]:
    """``mine`` cut into ranges of prospect ids of about :data:`CHUNK` prospects each (one
    range up to that): the windows and the per-prospect groups sort or hash one range at a
    time, in memory whatever the bank's size."""
    low, high = session.execute(select(func.min(sv.c.prospect_id), func.max(sv.c.prospect_id))
                                .where(mine)).one()
    prospects = session.scalar(select(func.count()).select_from(Prospect)
                               .where(Prospect.workflow_key == key)) or 0
    count = max(-(-prospects // CHUNK), 1)
    if low is None or count == 1:
        return [mine]
    step = -(-(int(high) - int(low) + 1) // count)
    return [and_(mine, sv.c.prospect_id >= start, sv.c.prospect_id < start + step)
            for start in range(int(low), int(high) + 1, step)]


def _staging(key: str) -> str:
    """The ``workflow_key`` of a build's rows before they are summed (never committed)."""
    return f"~{key}"


def _stage_visits(session: Session, dialect: str, key: str, mine: Any,
                  offsets: list[tuple[int | None, int]]) -> None:
    kind = case((sv.c.exit.in_(_inline(list(queries.ADVANCE_EVENTS))), _inline("advanced")),
                (sv.c.exit == _inline("lost"), _inline("lost")),
                (sv.c.exit == _inline("back"), _inline("back")))
    base = select(sv.c.prospect_id, sv.c.stage, sv.c.start_seq,
                  _day_expr(dialect, sv.c.start_at, offsets).label("day"),
                  kind.label("exit_kind"), sv.c.won, sv.c.stalled).where(mine) \
        .offset(0).subquery("b")  # OFFSET 0: each row's day computed once, not per use
    # Every window is over one order, each prospect's visits into a stage: one sort of the
    # visits. The latest day so far with each outcome, this visit included (the default
    # frame, no bound offset: PostgreSQL ran a "1 PRECEDING" frame given as a parameter
    # three times slower), then the previous row's value of it: the latest before this one.
    order = {"partition_by": [base.c.prospect_id, base.c.stage], "order_by": base.c.start_seq}
    outcomes = {"advanced": base.c.exit_kind == _inline("advanced"),
                "lost": base.c.exit_kind == _inline("lost"),
                "back": base.c.exit_kind == _inline("back"),
                "won": base.c.won.is_(True), "stalled": base.c.stalled.is_(True)}
    so_far = select(
        base.c.prospect_id, base.c.stage, base.c.start_seq, base.c.day, base.c.exit_kind,
        base.c.won, base.c.stalled,
        *[func.max(case((cond, base.c.day))).over(**order).label(f"last_{name}")
          for name, cond in outcomes.items()]).subquery("s")
    again = {"partition_by": [so_far.c.prospect_id, so_far.c.stage],
             "order_by": so_far.c.start_seq}

    def previous(name: str | None = None) -> Any:
        return func.lag(so_far.c.day if name is None else so_far.c[f"last_{name}"]) \
            .over(**again)

    prev_exit = case(*[(so_far.c.exit_kind == _inline(k), previous(k))
                       for k in ("advanced", "lost", "back")])
    w = select(
        so_far.c.stage, so_far.c.day, so_far.c.exit_kind, so_far.c.won, so_far.c.stalled,
        previous().label("prev_day"), prev_exit.label("prev_exit_day"),
        case((so_far.c.won.is_(True), previous("won"))).label("prev_won_day"),
        case((so_far.c.stalled.is_(True), previous("stalled"))).label("prev_stalled_day"),
    ).subquery("w")
    cols = [w.c.stage, w.c.day, w.c.exit_kind, w.c.won, w.c.stalled, w.c.prev_day,
            w.c.prev_exit_day, w.c.prev_won_day, w.c.prev_stalled_day]
    grouped = select(_inline(key), *cols, func.count()).group_by(*cols)
    session.execute(insert(rollup_reentries).from_select(
        ["workflow_key", "stage", "day", "exit_kind", "won", "stalled", "prev_day",
         "prev_exit_day", "prev_won_day", "prev_stalled_day", "n"], grouped))


def _build_durations(session: Session, dialect: str, key: str, mine: Any,
                     offsets: list[tuple[int | None, int]], now: datetime) -> None:
    # An ended visit's seconds were stored when it ended; an open one counts up to the
    # build, as the live funnel counts it up to its now.
    secs = func.coalesce(sv.c.seconds,
                         seconds_between(dialect, literal(now, UTCDateTime()), sv.c.start_at))
    base = select(sv.c.stage, (secs // DAY).label("days"), (secs // HOUR % 24).label("hour"),
                  _day_expr(dialect, sv.c.end_at, offsets).label("end_day")).where(mine) \
        .offset(0).subquery("d")  # OFFSET 0: each row's hour computed once, not per use
    cols = [base.c.stage, base.c.end_day, base.c.days]
    span = case((base.c.end_day.is_(None), literal("open")), else_=literal("day"))
    names = ["workflow_key", "span", "stage", "end_day", "days", "n", *HOUR_COLUMNS]
    session.execute(insert(rollup_durations).from_select(names, select(
        literal(key), span, *cols, func.count(),
        *[func.count().filter(base.c.hour == i) for i in range(24)]).group_by(*cols)))
    # Every ended visit, whatever its day: a period with no end reads these few rows.
    d = rollup_durations
    session.execute(insert(d).from_select(names, select(
        literal(key), literal("all"), d.c.stage, null(), d.c.days, func.sum(d.c.n),
        *[func.sum(d.c[c]) for c in HOUR_COLUMNS])
        .where(d.c.workflow_key == key, d.c.span == "day").group_by(d.c.stage, d.c.days)))
    # And by month (``end_day`` the month's first day): a long period reads its whole
    # months from these rows, only the days at its edges from the days' rows.
    bounds = session.execute(select(func.min(d.c.end_day), func.max(d.c.end_day)).where(
        d.c.workflow_key == key, d.c.span == "day")).one()
    if bounds[0] is None:
        return
    starts = _month_starts(int(bounds[0]), int(bounds[1]))
    month = _inline(starts[0]) if len(starts) == 1 else \
        case(*[(d.c.end_day < _inline(after), _inline(start))
               for start, after in zip(starts, starts[1:])], else_=_inline(starts[-1]))
    by_month = select(d.c.stage, month.label("month"), d.c.days, d.c.n,
                      *[d.c[c] for c in HOUR_COLUMNS]) \
        .where(d.c.workflow_key == key, d.c.span == "day").subquery("m")
    session.execute(insert(d).from_select(names, select(
        literal(key), literal("month"), by_month.c.stage, by_month.c.month, by_month.c.days,
        func.sum(by_month.c.n), *[func.sum(by_month.c[c]) for c in HOUR_COLUMNS])
        .group_by(by_month.c.stage, by_month.c.month, by_month.c.days)))


def _month_starts(first: int, last: int) -> list[int]:
    """The first days (day numbers) of the months from ``first``'s to ``last``'s."""
    out, current = [], day_date(first).replace(day=1)
    while (current - EPOCH).days <= last:
        out.append((current - EPOCH).days)
        current = (current.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


def _month_at_or_after(number: int) -> int:
    d = day_date(number)
    if d.day == 1:
        return number
    return ((d.replace(day=28) + timedelta(days=4)).replace(day=1) - EPOCH).days


def _build_cohorts(session: Session, dialect: str, key: str, order: tuple[str, ...],
                   mine: Any, offsets: list[tuple[int | None, int]]) -> None:
    # A prospect's first history row enters its first visit, and every row's stage is
    # one of its visits' stages: the visits give the cohorts' first entry and furthest
    # stage. It is lost now when its latest visit ended lost (only a reopen, which begins
    # a visit, takes a prospect out of lost).
    index = case(*[(sv.c.stage == k, i) for i, k in enumerate(order)], else_=-1)
    per = select(
        func.min(sv.c.start_at).label("first_at"),
        func.max(index).label("furthest"),
        case((func.max(sv.c.start_seq) == func.max(case((sv.c.exit == "lost", sv.c.start_seq))),
              True), else_=False).label("lost_now"),
    ).where(mine).group_by(sv.c.prospect_id).subquery("p")
    first_day = _day_expr(dialect, per.c.first_at, offsets)
    cols = [first_day, per.c.furthest, per.c.lost_now]
    session.execute(insert(rollup_cohorts).from_select(
        ["workflow_key", "first_day", "furthest", "lost_now", "n"],
        select(literal(key), *cols, func.count()).group_by(*cols)))


# ---------------------------------------------------------------- when to read it

def latest(session: Session, workflow_key: str) -> RollupBuild | None:
    return session.scalars(select(RollupBuild).where(
        RollupBuild.workflow_key == workflow_key)).first()


def usable(session: Session, viewer: User, filters: queries.Filters, *, workflow_key: str,
           tz: str, max_age: timedelta, now: datetime | None = None) -> RollupBuild | None:
    """The rollup the funnel page may read instead of the visits, or None: for a viewer of
    the whole branch with no team, manager or tier filter, a period of whole days in
    ``tz``, and a rollup of the workflow built in ``tz`` no longer than ``max_age`` ago."""
    if not queries.branch_wide(viewer) or filters.team_id is not None \
            or filters.owner_id is not None or filters.tier:
        return None
    build = latest(session, workflow_key)
    now = now or clock.now()
    if build is None or build.timezone != tz or build.built_at < now - max_age:
        return None
    for bound in (filters.start, filters.end):
        if bound is not None and queries.local_midnight(
                bound.astimezone(ZoneInfo(tz)).date(), tz) != bound:
            return None
    return build


def _day_range(build: RollupBuild, filters: queries.Filters) -> tuple[int | None, int | None]:
    """The filters' period as days of the rollup: [first, end) (None: open)."""
    first = day_number(filters.start, build.timezone) if filters.start is not None else None
    end = day_number(filters.end, build.timezone) if filters.end is not None else None
    return first, end


def _in_days(col: Any, first: int | None, end: int | None) -> Any:
    parts = []
    if first is not None:
        parts.append(col >= first)
    if end is not None:
        parts.append(col < end)
    return and_(true(), *parts)


# ---------------------------------------------------------------- the funnel from it

def funnel(session: Session, build: RollupBuild, filters: queries.Filters
           ) -> list[queries.StageFigures]:
    """:func:`pipeline.reports.queries.funnel` of the whole branch as of ``build.built_at``,
    read from the rollup: the counts exactly, the percentiles of days in stage within an
    hour (see the module's docstring). Three small queries, four for a period with a
    start."""
    key = build.workflow_key
    order = workflows.workflow(key).stage_keys
    first, end = _day_range(build, filters)
    r = rollup_visits
    counts: dict[str, dict[str, int]] = {}
    for row in session.execute(
            select(r.c.stage, *[func.sum(r.c[c]).label(c)
                                for c in ("visits", "entered", *OUTCOMES)])
            .where(r.c.workflow_key == key, _in_days(r.c.day, first, end))
            .group_by(r.c.stage)).mappings():
        counts[row["stage"]] = {k: int(v or 0) for k, v in row.items() if k != "stage"}
    if first is not None:
        # A period that starts later: a prospect's first visit in it may be a re-entry
        # (its previous visit began before the period), and counts it then.
        x = rollup_reentries

        def before(cond: Any, prev: Any) -> Any:
            return func.coalesce(func.sum(case((and_(cond, prev < first), x.c.n), else_=0)), 0)

        for row in session.execute(
                select(x.c.stage, before(true(), x.c.prev_day).label("entered"),
                       *[before(x.c.exit_kind == k, x.c.prev_exit_day).label(k)
                         for k in ("advanced", "lost", "back")],
                       before(x.c.won.is_(True), x.c.prev_won_day).label("won"),
                       before(x.c.stalled.is_(True), x.c.prev_stalled_day).label("stalled"))
                .where(x.c.workflow_key == key, _in_days(x.c.day, first, end))
                .group_by(x.c.stage)).mappings():
            mine = counts.setdefault(row["stage"], dict.fromkeys(("visits", "entered",
                                                                  *OUTCOMES), 0))
            for k in ("entered", *OUTCOMES):
                mine[k] += int(row[k])

    # Days in stage: the visits that ended in the period or were open at the build.
    d = rollup_durations
    ended = d.c.span == "all" if first is None and end is None else \
        _ended_in(first, end)
    timed = and_(d.c.workflow_key == key, or_(d.c.span == "open", ended))
    hist: dict[str, dict[int, int]] = {}
    current: dict[str, int] = {}
    for stage, days, span, n in session.execute(
            select(d.c.stage, d.c.days, d.c.span, func.sum(d.c.n))
            .where(timed).group_by(d.c.stage, d.c.days, d.c.span)):
        hist.setdefault(stage, {})
        hist[stage][int(days)] = hist[stage].get(int(days), 0) + int(n)
        if span == "open":
            current[stage] = current.get(stage, 0) + int(n)
    wanted: dict[str, dict[str, list[tuple[int, int]]]] = {}
    needed: set[tuple[str, int]] = set()
    for stage, by_day in hist.items():
        n = sum(by_day.values())
        wanted[stage] = {}
        for name, p in (("p50", 0.5), ("p90", 0.9)):
            h = (n - 1) * p
            ranks = [int(h)] + ([int(h) + 1] if int(h) + 1 < n else [])
            spots = [_locate(by_day, rank) for rank in ranks]
            wanted[stage][name] = spots
            needed.update((stage, day) for day, _ in spots)
    hours: dict[tuple[str, int], dict[int, int]] = {}
    if needed:
        for stage, days, *by_hour in session.execute(
                select(d.c.stage, d.c.days, *[func.sum(d.c[c]) for c in HOUR_COLUMNS])
                .where(timed, or_(*[and_(d.c.stage == stage, d.c.days == days)
                                    for stage, days in sorted(needed)]))
                .group_by(d.c.stage, d.c.days)):
            hours[(stage, int(days))] = {int(days) * 24 + i: int(n)
                                         for i, n in enumerate(by_hour) if n}

    out = []
    for stage in order:
        fig = queries.StageFigures(stage)
        row = counts.get(stage)
        if row is not None:
            for name in ("entered", *OUTCOMES):
                setattr(fig, name, row[name])
            fig.reentered = row["visits"] - fig.entered
        fig.current = current.get(stage, 0)
        by_day = hist.get(stage)
        n = sum(by_day.values()) if by_day else 0
        if n:
            fig.days_count = n
            for name, spots in wanted[stage].items():
                values = [_value_at(hours.get((stage, day), {}), day, within)
                          for day, within in spots]
                h = (n - 1) * (0.5 if name == "p50" else 0.9)
                frac = h - int(h)
                value = values[0] if len(values) == 1 else \
                    values[0] + (values[1] - values[0]) * frac
                setattr(fig, "median_seconds" if name == "p50" else "p90_seconds", value)
        out.append(fig)
    return out


def _locate(counts: dict[int, int], rank: int) -> tuple[int, int]:
    """The bucket holding the 0-based ``rank`` of the values counted by bucket, and the
    rank within it."""
    seen = 0
    for bucket in sorted(counts):
        if rank < seen + counts[bucket]:
            return bucket, rank - seen
        seen += counts[bucket]
    raise ValueError("rank beyond the count")


def _value_at(hours: dict[int, int], day: int, rank: int) -> float:
    """The estimated seconds of the value at ``rank`` among the visits of whole days
    ``day``, counted by hour (``hours``: whole hours -> visits): spread evenly within its
    hour, so within an hour of the true value."""
    hour, within = _locate(hours, rank)
    return float(hour * HOUR + HOUR * (within + 0.5) / hours[hour])


def _ended_in(first: int | None, end: int | None) -> Any:
    """The duration rows of the visits that ended on the days [first, end): the whole
    months between from the months' rows, the days at the edges from the days' rows."""
    d = rollup_durations
    month_a = None if first is None else _month_at_or_after(first)
    month_b = None if end is None else (day_date(end).replace(day=1) - EPOCH).days
    if month_a is not None and month_b is not None and month_a >= month_b:
        return and_(d.c.span == "day", _in_days(d.c.end_day, first, end))
    edges = []
    if first is not None:
        edges.append(_in_days(d.c.end_day, first, month_a))
    if end is not None:
        edges.append(_in_days(d.c.end_day, month_b, end))
    parts = [and_(d.c.span == "month", _in_days(d.c.end_day, month_a, month_b))]
    if edges:
        parts.append(and_(d.c.span == "day", or_(*edges)))
    return or_(*parts)


# ---------------------------------------------------------------- cohorts from it

def cohorts(session: Session, build: RollupBuild, months: list[date]) -> list[queries.Cohort]:
    """:func:`pipeline.reports.queries.cohorts` of the whole branch as of the build, from
    the rollup (exact). ``months`` are month starts; one query."""
    if not months:
        return []
    order = workflows.workflow(build.workflow_key).stage_keys
    starts = [(m - EPOCH).days for m in months]
    after = (months[-1].replace(day=28) + timedelta(days=4)).replace(day=1)
    ends = starts[1:] + [(after - EPOCH).days]
    c = rollup_cohorts
    found: dict[int, queries.Cohort] = {
        i: queries.Cohort(m.strftime("%Y-%m"), 0, {k: 0 for k in order}, 0)
        for i, m in enumerate(months)}
    rows = session.execute(
        select(c.c.first_day, c.c.furthest, c.c.lost_now, func.sum(c.c.n))
        .where(c.c.workflow_key == build.workflow_key, c.c.first_day >= starts[0],
               c.c.first_day < ends[-1])
        .group_by(c.c.first_day, c.c.furthest, c.c.lost_now))
    for first_day, furthest, lost_now, n in rows:
        i = next(j for j in range(len(months)) if starts[j] <= first_day < ends[j])
        cohort, n = found[i], int(n)
        cohort.started += n
        for idx, stage in enumerate(order):
            if furthest >= idx:
                cohort.reached[stage] += n
        if lost_now:
            cohort.lost_now += n
    return [found[i] for i in range(len(months))]



def max_age(config: Any) -> timedelta:
    """How old a rollup the funnel may read (``PIPELINE_ROLLUP_MAX_AGE_MINUTES``)."""
    return timedelta(minutes=int(config.get("PIPELINE_ROLLUP_MAX_AGE_MINUTES") or 0))


def scheduled_build(app: Any) -> dict:
    """One scheduled build (the in-process scheduler's ``rollup`` job, every
    ``PIPELINE_ROLLUP_MINUTES``), skipped when another process is building or built within
    half the interval: with several hosts, about one build per interval between them."""
    from pipeline.db import get_db

    minutes = max(int(app.config.get("PIPELINE_ROLLUP_MINUTES") or 0), 1)
    with app.app_context():
        session = get_db(app).sessionmaker()
        try:
            return build_all(session, tz=app.config["PIPELINE_TIMEZONE"],
                             fresh_within=timedelta(minutes=minutes) / 2).as_dict()
        finally:
            session.close()
