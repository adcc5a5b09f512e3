"""Reads behind the supervisor's view: the stage funnel, time in stage, cohorts, lost
reasons, escalations by decision, and the daily progress sheet and weekly work log.

Every figure is computed by the database with aggregates (and window functions over the
immutable history, ``stage_events``); Python only arranges the handful of result rows (one
per stage, team or manager). Percentiles are ``percentile_cont`` on PostgreSQL and an
equivalent ROW_NUMBER/COUNT window on SQLite with the same linear interpolation, so both
backends give the same answers.

A *stage visit* runs from the history row that entered a stage (``to_stage`` differs from
``from_stage``, or the first row, or a ``reopen``) to the row that left it: the next entry
into a stage, or a row that made the prospect lost. A visit belongs to the manager and
team of its latest history row (a reassignment moves the visit with the prospect).
:func:`visits_subquery` is that definition in SQL, over the history; the funnel reads the
same visits kept as rows in ``stage_visits``, written with each history row
(:mod:`pipeline.reports.visits`, which checks itself against this definition in the tests).

Performance (what the queries rely on):

- The funnel reads ``stage_visits``, not the history: one row per visit with its stage,
  times, stored duration once ended, exit, won and stalled flags, owner and team. On
  PostgreSQL it is one statement, a UNION ALL with one aggregate per stage: the whole
  branch reads each stage by an index-only scan of ``ix_stage_visits_stage`` (``stage,
  seconds``, including the times, exit, flags and the prospect the per-prospect counts
  need), so nothing is sorted by stage before the percentiles and parallel workers take whole stages (``percentile_cont`` itself cannot
  be split across workers). A team lead's or manager's view reads
  ``ix_stage_visits_team_stage`` / ``ix_stage_visits_owner_stage``. Ended visits carry
  their whole seconds and come in that order, so only open visits compute a duration per
  request and the percentiles' sort finds most of its input sorted. On the benchmark's
  province (1.27 million visits from 2 million history rows) the whole-province funnel
  went from 12.6 s to about 0.6 s on the shared 2-core machine (load 4-5), a team's from
  0.8-0.9 s to 30-40 ms. Counting each prospect once per stage (``count(DISTINCT
  prospect_id)``, re-entries apart) costs about a third more on the whole branch (measured
  on 1.4 million visits: about 0.8 s before, 1.0 s after, on the loaded shared machine).
- Each escalation finds its visit (the latest entry before it opened) by one probe of the
  (prospect_id, seq) index (:func:`escalated_visits`, the reference for the ``stalled``
  flag). Lost reasons filter ``ix_stage_events_at``; the daily sheet starts from
  ``ix_stage_events_owner_at`` and ``ix_contacts_user_at``; the weekly log from
  ``ix_stage_events_team_id`` and ``ix_contacts_user_at``.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    String,
    and_,
    case,
    cast,
    distinct,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session

from pipeline import clock, workflows
from pipeline.auth.models import Team, User
from pipeline.db import UTCDateTime
from pipeline.engine.deadlines import WorkingDays
from pipeline.escalations.models import Escalation
from pipeline.prospects.models import Contact, Prospect, StageEvent, StageVisit
from pipeline.prospects.stage_clock import StageClock, stage_clock, state_as_of
from pipeline.sql import dialect_name, seconds_between  # noqa: F401  (used by reports.visits)

# The daily activity norm of the seven-step process (seed 004, stage 2): every working day a
# manager makes 20 customer calls and meets 2 customers.
CALL_NORM = 20
MEETING_NORM = 2
# Contact kinds that count as meeting a customer (a visit is a meeting at the customer's).
MEETING_KINDS = ("meeting", "visit")
ADVANCE_EVENTS = ("advance", "win")

se = StageEvent.__table__


# ---------------------------------------------------------------- filters and scope

@dataclass(frozen=True)
class Filters:
    """What the supervisor narrowed the view to. ``start``/``end`` are aware UTC instants
    (``end`` exclusive); None leaves that side open."""

    team_id: int | None = None
    owner_id: int | None = None
    tier: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def branch_wide(viewer: User) -> bool:
    """Whether the viewer's scope is the whole branch (:func:`scope_clause` is true)."""
    return viewer.role in ("supervisor", "admin")


def scope_clause(viewer: User, owner_col: Any, team_col: Any) -> ColumnElement[bool]:
    """The role scoping of :func:`pipeline.prospects.queries.scope`, applied to the owner and
    team columns a history or escalation row carries: a manager their own, a team lead the
    team's, a supervisor or admin the branch."""
    if branch_wide(viewer):
        return true()
    if viewer.role == "team_lead" and viewer.team_id is not None:
        return team_col == viewer.team_id
    return owner_col == viewer.id


def _filter_clauses(f: Filters, owner_col: Any, team_col: Any, prospect_col: Any
                    ) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if f.team_id is not None:
        out.append(team_col == f.team_id)
    if f.owner_id is not None:
        out.append(owner_col == f.owner_id)
    if f.tier:
        out.append(prospect_col.in_(select(Prospect.id).where(Prospect.tier == f.tier)))
    return out


def _in_period(col: Any, f: Filters) -> ColumnElement[bool]:
    parts: list[ColumnElement[bool]] = []
    if f.start is not None:
        parts.append(col >= _ts(f.start))
    if f.end is not None:
        parts.append(col < _ts(f.end))
    return and_(true(), *parts)


def _ts(value: datetime) -> Any:
    return literal(value, UTCDateTime())


def _stage_order(workflow_key: str) -> tuple[str, ...]:
    return workflows.workflow(workflow_key).stage_keys


def _days(seconds: float | None) -> float | None:
    return None if seconds is None else round(float(seconds) / 86400, 2)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# ---------------------------------------------------------------- stage visits

def _entering(t: Any = se) -> ColumnElement[bool]:
    return or_(t.c.from_stage.is_(None), t.c.from_stage != t.c.to_stage,
               t.c.event == "reopen")


def _losing() -> ColumnElement[bool]:
    return and_(se.c.to_status == "lost",
                or_(se.c.from_status.is_(None), se.c.from_status != "lost"))


def visits_subquery(prospects: Any = None):
    """One row per stage visit: prospect_id, start_seq, stage, start_at, end_at (NULL while
    the prospect is still in the stage), exit (``lost`` or the event that entered the next
    stage: ``advance``, ``win``, ``back``), won (1 when the prospect has a ``win`` row at
    or after the row that entered the visit: every visit before a win, and the after-sale
    visit the win began, whatever rows follow it), owner_id and team_id.

    One window over each prospect's history in ``(prospect_id, seq)`` order — the order of
    the unique index, so PostgreSQL needs no sort — and no joins: a visit is represented by
    its last row (the row before the next entry, the last row of all, or the row that made
    the prospect lost), which carries the visit's stage and its latest owner and team. The
    visit's start is the latest entry so far; history times never decrease along ``seq``
    (every row is written with the one clock, under the prospect's row lock).

    ``prospects``, a select of prospect ids, limits the work to their histories (a team
    lead's or a manager's view need not window the whole branch).
    """
    entering, losing = _entering(), _losing()
    w = {"partition_by": se.c.prospect_id, "order_by": se.c.seq}
    is_entry = case((entering, 1), else_=0)
    rows = select(
        se.c.prospect_id, se.c.seq, se.c.at, se.c.to_stage, se.c.to_status,
        se.c.owner_id, se.c.team_id,
        case((losing, 1), else_=0).label("is_lost"),
        func.max(case((entering, se.c.seq))).over(**w).label("start_seq"),
        func.max(case((entering, se.c.at))).over(**w).label("start_at"),
        # After the last row there is no next visit: count that as "the next row enters".
        func.lead(is_entry, 1, 1).over(**w).label("next_is_entry"),
        func.lead(se.c.at, type_=UTCDateTime()).over(**w).label("next_at"),
        func.lead(se.c.event).over(**w).label("next_event"),
        # The prospect's last win, over the whole partition (same sort as the window above):
        # a correlated EXISTS per visit cost one index probe each — at two million events,
        # most of the province funnel's time.
        func.max(case((se.c.event == "win", se.c.seq)))
        .over(partition_by=se.c.prospect_id).label("last_win_seq"),
    ).where(true() if prospects is None else se.c.prospect_id.in_(prospects)).subquery("h")
    return select(
        rows.c.prospect_id, rows.c.start_seq, rows.c.to_stage.label("stage"),
        rows.c.start_at,
        case((rows.c.is_lost == 1, rows.c.at), else_=rows.c.next_at).label("end_at"),
        case((rows.c.is_lost == 1, literal("lost")), else_=rows.c.next_event).label("exit"),
        case((rows.c.last_win_seq >= rows.c.start_seq, 1), else_=0).label("won"),
        rows.c.owner_id, rows.c.team_id,
    ).where(or_(rows.c.is_lost == 1,
                and_(rows.c.next_is_entry == 1, rows.c.to_status != "lost"))).subquery("v")


# ---------------------------------------------------------------- the funnel

@dataclass
class StageFigures:
    key: str
    entered: int = 0
    reentered: int = 0
    current: int = 0
    advanced: int = 0
    lost: int = 0
    back: int = 0
    won: int = 0
    stalled: int = 0
    days_count: int = 0
    median_seconds: float | None = None
    p90_seconds: float | None = None

    @property
    def conversion(self) -> float | None:
        return _ratio(self.advanced, self.entered)

    @property
    def won_conversion(self) -> float | None:
        return _ratio(self.won, self.entered)

    @property
    def stalled_share(self) -> float | None:
        return _ratio(self.stalled, self.entered)

    @property
    def median_days(self) -> float | None:
        return _days(self.median_seconds)

    @property
    def p90_days(self) -> float | None:
        return _days(self.p90_seconds)

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "entered": self.entered, "reentered": self.reentered,
                "current": self.current,
                "advanced": self.advanced, "lost": self.lost, "conversion": self.conversion,
                "median_days": self.median_days, "p90_days": self.p90_days,
                "back": self.back, "won": self.won, "won_conversion": self.won_conversion,
                "stalled": self.stalled, "stalled_share": self.stalled_share,
                "days_count": self.days_count}


def funnel(session: Session, viewer: User, filters: Filters, *,
           workflow_key: str = workflows.DEFAULT_KEY, now: datetime | None = None
           ) -> list[StageFigures]:
    """Per stage of the workflow, in order:

    - ``entered``: the prospects (each counted once) with a visit that began in the period;
      ``reentered``: the further visits of the same prospects that began in the period (a
      prospect sent back a stage and entering it again, or reopened) — the visits begun are
      ``entered + reentered``;
    - ``advanced`` / ``lost`` / ``back`` / ``won`` / ``stalled``: of the prospects entered,
      how many left a visit begun in the period to the next stage, ended lost, went back a
      stage, were won since, had an escalation opened during such a visit — each prospect
      once, so every share of ``entered`` is at most 100%;
    - ``current``: visits open now (whenever they began; a prospect has one open visit);
    - median and 90th percentile of the days in the stage over every visit that left the
      stage in the period or is still in it now (open visits count up to ``now``).

    Read from ``stage_visits`` (one row per visit, kept with the history). On PostgreSQL one
    statement: a UNION ALL with one aggregate per stage, each reading its stage through an
    index (the whole branch by ``ix_stage_visits_stage``; a team or manager by
    their index), so no sort by stage comes before the percentiles and the stages can be
    aggregated by parallel workers (``percentile_cont`` cannot be split across workers
    itself). On SQLite two statements, the percentiles ranked by :func:`_percentiles`.
    """
    now = now or clock.now()
    v = StageVisit.__table__
    order = _stage_order(workflow_key)
    where = [scope_clause(viewer, v.c.owner_id, v.c.team_id),
             *_filter_clauses(filters, v.c.owner_id, v.c.team_id, v.c.prospect_id)]
    entered = _in_period(v.c.start_at, filters)
    in_days = or_(v.c.end_at.is_(None), _in_period(v.c.end_at, filters))
    # An ended visit's seconds were stored when it ended; an open one counts up to now.
    dur = func.coalesce(v.c.seconds, seconds_between(session, _ts(now), v.c.start_at))
    postgres = session.get_bind().dialect.name == "postgresql"

    def count_if(*conds: Any) -> Any:
        return func.count().filter(and_(*conds))

    def prospects_if(*conds: Any) -> Any:
        return func.count(distinct(v.c.prospect_id)).filter(and_(*conds))

    cols = [prospects_if(entered).label("entered"),
            count_if(entered).label("visits"),
            count_if(v.c.end_at.is_(None)).label("current"),
            prospects_if(entered, v.c.exit.in_(ADVANCE_EVENTS)).label("advanced"),
            prospects_if(entered, v.c.exit == "lost").label("lost"),
            prospects_if(entered, v.c.exit == "back").label("back"),
            prospects_if(entered, v.c.won.is_(True)).label("won"),
            prospects_if(entered, v.c.stalled.is_(True)).label("stalled"),
            count_if(in_days).label("n")]
    if postgres:
        # The per-stage sorts of the percentiles fit in memory with a little more than the
        # default work_mem; JIT compiling costs more than it saves here. Both settings end
        # with the transaction.
        session.execute(select(func.set_config("jit", "off", True),
                               func.set_config("work_mem", "64MB", True)))
        timed = cast(case((in_days, dur)), Float)  # percentile_cont skips the NULLs
        cols += [func.percentile_cont(0.5).within_group(timed).label("p50"),
                 func.percentile_cont(0.9).within_group(timed).label("p90")]
        stmt = union_all(*[select(literal(key).label("stage"), *cols)
                           .where(*where, v.c.stage == key) for key in order])
        counts = session.execute(stmt).mappings().all()
        pct = {row["stage"]: row for row in counts}
    else:
        # The workflow's own stages (stage keys are unique across workflows, see
        # pipeline.workflows.install), so another workflow's visits are not read.
        where.append(v.c.stage.in_(order))
        counts = session.execute(select(v.c.stage, *cols).where(*where)
                                 .group_by(v.c.stage)).mappings().all()
        durations = select(v.c.stage, dur.label("dur")).where(*where, in_days).subquery("d")
        pct = {row["stage"]: row for row in _percentiles(session, durations)}

    out = []
    by_stage = {row["stage"]: row for row in counts}
    for key in order:
        fig = StageFigures(key)
        if key in by_stage:
            for name in ("entered", "current", "advanced", "lost", "back", "won", "stalled"):
                setattr(fig, name, int(by_stage[key][name]))
            fig.reentered = int(by_stage[key]["visits"]) - fig.entered
        if key in pct and pct[key]["n"]:
            fig.days_count = int(pct[key]["n"])
            fig.median_seconds = pct[key]["p50"]
            fig.p90_seconds = pct[key]["p90"]
        out.append(fig)
    return out


def escalated_visits():
    """(prospect_id, start_seq, stage) of every visit that had an escalation. An escalation
    belongs to the visit under way when it opened: the latest entry at or before that time,
    found through the (prospect_id, seq) index once per escalation (escalations are few
    beside visits), if that entry was into the escalation's stage."""
    e = Escalation.__table__
    x = se.alias("entry")
    start_seq = select(func.max(x.c.seq)).where(
        x.c.prospect_id == e.c.prospect_id, x.c.at <= e.c.opened_at, _entering(x)
    ).scalar_subquery()
    opened = select(e.c.prospect_id, e.c.stage, start_seq.label("start_seq")).subquery("eo")
    return select(opened.c.prospect_id, opened.c.start_seq, opened.c.stage).distinct() \
        .subquery("esc")


def _percentiles(session: Session, d: Any) -> list[dict[str, Any]]:
    """Median and 90th percentile of ``d.dur`` per ``d.stage`` (continuous, interpolated)."""
    dur = cast(d.c.dur, Float)
    if session.get_bind().dialect.name == "postgresql":
        stmt = select(d.c.stage, func.count().label("n"),
                      func.percentile_cont(0.5).within_group(dur).label("p50"),
                      func.percentile_cont(0.9).within_group(dur).label("p90")
                      ).group_by(d.c.stage)
        return [dict(r) for r in session.execute(stmt).mappings()]
    # SQLite: rank the values per stage; the percentile sits at 0-based position
    # h = (n - 1) * p, between the values at floor(h) and floor(h) + 1 (percentile_cont).
    ranked = select(
        d.c.stage, dur.label("dur"),
        func.row_number().over(partition_by=d.c.stage, order_by=d.c.dur).label("rn"),
        func.count().over(partition_by=d.c.stage).label("n"),
    ).subquery("r")
    cols = [ranked.c.stage, func.max(ranked.c.n).label("n")]
    for name, p in (("p50", 0.5), ("p90", 0.9)):
        h = (ranked.c.n - 1) * p
        lo = cast(h, Integer)
        cols += [
            func.max(case((ranked.c.rn == lo + 1, ranked.c.dur))).label(f"{name}_lo"),
            func.max(case((ranked.c.rn == lo + 2, ranked.c.dur))).label(f"{name}_hi"),
            func.max(h - lo).label(f"{name}_frac"),
        ]
    inner = select(*cols).group_by(ranked.c.stage).subquery("q")
    out_cols = [inner.c.stage, inner.c.n]
    for name in ("p50", "p90"):
        lo_v, hi_v = inner.c[f"{name}_lo"], inner.c[f"{name}_hi"]
        out_cols.append((lo_v + (func.coalesce(hi_v, lo_v) - lo_v) * inner.c[f"{name}_frac"])
                        .label(name))
    return [dict(r) for r in session.execute(select(*out_cols)).mappings()]


# ---------------------------------------------------------------- cohorts

@dataclass
class Cohort:
    month: str
    started: int
    reached: dict[str, int]
    lost_now: int

    def share(self, stage: str) -> float | None:
        return _ratio(self.reached.get(stage, 0), self.started)


def month_starts(first: date, last: date) -> list[date]:
    """The first days of every month from ``first``'s month to ``last``'s, inclusive."""
    out, d = [], first.replace(day=1)
    while d <= last:
        out.append(d)
        d = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


def local_midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(), tzinfo=ZoneInfo(tz)).astimezone(clock.UTC)


def cohorts(session: Session, viewer: User, filters: Filters, months: list[date], *,
            tz: str, workflow_key: str = workflows.DEFAULT_KEY) -> list[Cohort]:
    """Prospects by the month (in ``tz``) they entered first contact, and how far each
    month's prospects got: how many ever reached each stage, and how many are lost now.
    ``months`` are month starts; one query."""
    if not months:
        return []
    order = _stage_order(workflow_key)

    def furthest(rows: Any) -> Any:
        return func.max(case(*[(rows.c.to_stage == key, i) for i, key in enumerate(order)],
                             else_=-1))

    # A prospect counts when its last history row is in the viewer's scope and filters, so
    # it has at least one row there. When the viewer or a filter narrows the scope, only
    # those prospects' histories are read, each through its (prospect, seq) index: a team's
    # few thousand prospects instead of grouping the whole branch's history.
    bounds = [local_midnight(m, tz) for m in months]
    bounds.append(local_midnight((months[-1].replace(day=28) + timedelta(days=4)).replace(day=1),
                                 tz))
    row = se.alias("in_scope")
    narrowing = _filter_clauses(filters, row.c.owner_id, row.c.team_id, row.c.prospect_id)
    if not branch_wide(viewer):
        narrowing.append(scope_clause(viewer, row.c.owner_id, row.c.team_id))
    if narrowing or workflow_key != workflows.DEFAULT_KEY:
        # Only this workflow's cases (its stage keys are its own). Another workflow than
        # the customers' is a small part of the history: its cases are found by their
        # entry into its first stage in the period (the (to_stage, at) index), not by
        # grouping the whole history.
        narrowing.append(row.c.to_stage.in_(order))
        if workflow_key != workflows.DEFAULT_KEY:
            narrowing += [row.c.to_stage == order[0], row.c.at >= _ts(bounds[0]),
                          row.c.at < _ts(bounds[-1])]
        ids = select(row.c.prospect_id).where(*narrowing).distinct().subquery("ids")

        def of_each(aggregate: Any) -> Any:
            rows = se.alias()
            return select(aggregate(rows)).where(
                rows.c.prospect_id == ids.c.prospect_id).scalar_subquery()

        per_prospect = select(
            ids.c.prospect_id.label("prospect_id"),
            of_each(lambda rows: func.min(rows.c.at)).label("first_at"),
            of_each(furthest).label("furthest"),
            of_each(lambda rows: func.max(rows.c.seq)).label("last_seq"),
        ).cte("pp").prefix_with("MATERIALIZED")  # each one once, not per mention below
        last = se.alias("last_row")
        lost_now = case((last.c.to_status == "lost", 1), else_=0)
        source = per_prospect.join(last, and_(last.c.prospect_id == per_prospect.c.prospect_id,
                                              last.c.seq == per_prospect.c.last_seq))
        where = [scope_clause(viewer, last.c.owner_id, last.c.team_id),
                 *_filter_clauses(filters, last.c.owner_id, last.c.team_id,
                                  per_prospect.c.prospect_id)]
    else:
        # The whole branch unfiltered: one pass over the history, which also tells whether
        # the last row is a loss (its last 'lost' row is its last row), without reading
        # each prospect's last row again in random order (4.5 s instead of 1.9 s here).
        per_prospect = select(
            se.c.prospect_id,
            func.min(se.c.at).label("first_at"),
            furthest(se).label("furthest"),
            func.max(se.c.seq).label("last_seq"),
            func.max(case((se.c.to_status == "lost", se.c.seq))).label("lost_seq"),
        ).where(se.c.to_stage.in_(order)).group_by(se.c.prospect_id).subquery("pp")
        lost_now = case((per_prospect.c.lost_seq == per_prospect.c.last_seq, 1), else_=0)
        source, where = per_prospect, []
    if session.get_bind().dialect.name == "postgresql":
        # JIT compiling this plan took longer than running it (0.8 s of 1.1 s for a team
        # of the province); the setting ends with the transaction.
        session.execute(select(func.set_config("jit", "off", True)))
    bucket = case(*[(and_(per_prospect.c.first_at >= _ts(bounds[i]),
                          per_prospect.c.first_at < _ts(bounds[i + 1])),
                     literal(months[i].strftime("%Y-%m"))) for i in range(len(months))])
    stmt = select(
        bucket.label("month"), func.count().label("started"),
        *[func.sum(case((per_prospect.c.furthest >= i, 1), else_=0)).label(f"s{i}")
          for i in range(len(order))],
        func.sum(lost_now).label("lost_now"),
    ).select_from(source).where(
        *where,
        per_prospect.c.first_at >= _ts(bounds[0]), per_prospect.c.first_at < _ts(bounds[-1]),
    ).group_by(bucket)
    found = {r["month"]: r for r in session.execute(stmt).mappings()}
    out = []
    for m in months:
        label = m.strftime("%Y-%m")
        r = found.get(label)
        if r is None:
            out.append(Cohort(label, 0, {k: 0 for k in order}, 0))
            continue
        out.append(Cohort(label, int(r["started"]),
                          {k: int(r[f"s{i}"] or 0) for i, k in enumerate(order)},
                          int(r["lost_now"] or 0)))
    return out


# ---------------------------------------------------------------- lost reasons, escalations

# The category of a loss that has none of the workflow's: rows written before the workflow
# listed its lost_reasons, and API clients that send the free-text reason only.
OTHER = "other"
REASON_CATEGORY = "reason_category"  # the key of the category in the history row's data


@dataclass
class LostReason:
    stage: str
    team: str | None
    category: str  # a key of the workflow's lost_reasons, or OTHER
    count: int
    # The free-text reasons given beside the category, most frequent first.
    notes: list[tuple[str, int]] = field(default_factory=list)


def lost_reasons(session: Session, viewer: User, filters: Filters, *,
                 workflow_key: str = workflows.DEFAULT_KEY, by_team: bool = True
                 ) -> list[LostReason]:
    """Prospects lost in the period, by the stage they were lost in, team and the reason's
    category (from the lose event's history row; :data:`OTHER` when it has none the
    workflow knows), each with its free-text notes counted; in stage order, then team, then
    most frequent first. One query. ``by_team=False`` adds the teams up (``team`` None): a
    branch of a hundred teams has thousands of (stage, team, category) rows, too many to
    read on one page."""
    wf = workflows.workflow(workflow_key)
    order = wf.stage_keys
    known = [c.key for c in wf.lost_reasons]
    category = se.c.data[REASON_CATEGORY].as_string()
    team = Team.name if by_team else literal(None, String).label("team")
    stmt = select(se.c.to_stage, team, category, se.c.reason, func.count().label("n")) \
        .select_from(se)
    if by_team:
        stmt = stmt.outerjoin(Team, Team.id == se.c.team_id)
    stmt = stmt.where(
            _losing(), _in_period(se.c.at, filters), se.c.to_stage.in_(order),
            scope_clause(viewer, se.c.owner_id, se.c.team_id),
            *_filter_clauses(filters, se.c.owner_id, se.c.team_id, se.c.prospect_id),
        ).group_by(se.c.to_stage, *([Team.name] if by_team else []), category, se.c.reason)
    groups: dict[tuple[str, str | None, str], LostReason] = {}
    for stage, team, cat, reason, n in session.execute(stmt):
        cat = cat if cat in known else OTHER
        group = groups.setdefault((stage, team, cat), LostReason(stage, team, cat, 0))
        group.count += int(n)
        if reason:
            group.notes.append((reason, int(n)))
    rank = {k: i for i, k in enumerate(order)}
    cat_rank = {k: i for i, k in enumerate(known)}
    rows = list(groups.values())
    for r in rows:
        r.notes.sort(key=lambda x: (-x[1], x[0]))
    rows.sort(key=lambda x: (rank.get(x.stage, len(order)), x.team or "", -x.count,
                             cat_rank.get(x.category, len(known))))
    return rows


@dataclass
class EscalationFigures:
    decision: str  # continue | reassign | abandon | open
    kind: str
    count: int
    avg_days_to_decide: float | None


def escalations_by_decision(session: Session, viewer: User, filters: Filters
                            ) -> list[EscalationFigures]:
    """Escalations opened in the period by decision (``open`` while undecided) and kind,
    with the average days from opening to the decision. One query."""
    e = Escalation.__table__
    decision = func.coalesce(e.c.decision, literal("open"))
    wait = seconds_between(session, e.c.decided_at, e.c.opened_at)
    stmt = select(decision.label("decision"), e.c.kind, func.count().label("n"),
                  func.avg(wait).label("wait")).where(
        _in_period(e.c.opened_at, filters),
        scope_clause(viewer, e.c.owner_id, e.c.team_id),
        *_filter_clauses(filters, e.c.owner_id, e.c.team_id, e.c.prospect_id),
    ).group_by(decision, e.c.kind)
    order = {"continue": 0, "reassign": 1, "abandon": 2, "open": 3}
    rows = [EscalationFigures(d, k, int(n), _days(w)) for d, k, n, w in session.execute(stmt)]
    rows.sort(key=lambda r: (order.get(r.decision, 9), r.kind))
    return rows


# ---------------------------------------------------------------- the daily progress sheet

def day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    return local_midnight(day, tz), local_midnight(day + timedelta(days=1), tz)


@dataclass
class SheetLine:
    prospect_id: int
    name: str
    tier: str
    stage: str
    status: str
    entered_at: datetime
    days_in_stage: float
    changes: list[dict[str, Any]] = field(default_factory=list)
    contacts: dict[str, int] = field(default_factory=dict)
    # The stage clock at the sheet's moment, the one the prospect page reads (it starts
    # again when a team lead reassigns the prospect, moves with a continue or a pause);
    # None when the history cannot be replayed.
    clock: StageClock | None = None


class DayNorms:
    """A day's norms of calls and meetings (PROCESS.md), none on a day off; for a figure
    with a ``working_day``."""

    working_day: bool

    @property
    def call_norm(self) -> int:
        return CALL_NORM if self.working_day else 0

    @property
    def meeting_norm(self) -> int:
        return MEETING_NORM if self.working_day else 0


@dataclass
class DailySheet(DayNorms):
    manager_id: int
    day: date
    start: datetime
    end: datetime
    as_of: datetime
    lines: list[SheetLine]
    calls: int
    meetings: int
    contacts: int
    working_day: bool
    events: dict[str, int]


def is_working_day(day: date, workflow_key: str = workflows.DEFAULT_KEY) -> bool:

    wf = workflows.workflow(workflow_key)
    return WorkingDays(wf.holiday_country, wf.timezone).is_working_day(day)


def daily_sheet(session: Session, manager_id: int, day: date, *, tz: str,
                now: datetime | None = None, workflow_key: str = workflows.DEFAULT_KEY
                ) -> DailySheet:
    """附件四, the customer management progress sheet of one manager for one day (in ``tz``):
    where each of the manager's prospects stood at the end of the day (or now, for today) —
    from the history — with its stage clock (:func:`_read_clocks`), what changed that day,
    and the day's contacts against the norm. Prospects lost before the day are left out.
    Five queries."""
    now = now or clock.now()
    start, end = day_bounds(day, tz)
    as_of = min(end, now)
    seen = and_(se.c.at < _ts(end), se.c.at <= _ts(now))
    order = _stage_order(workflow_key)
    # The workflow's cases only (its stage keys are its own): a complaint the manager
    # handles is not one of their customers.
    mine = select(se.c.prospect_id).where(se.c.owner_id == manager_id, seen,
                                          se.c.to_stage.in_(order))
    by_prospect = {"partition_by": se.c.prospect_id}
    h = select(
        se.c.prospect_id, se.c.to_stage, se.c.to_status, se.c.owner_id, se.c.at,
        func.row_number().over(order_by=se.c.seq.desc(), **by_prospect).label("rn"),
        func.max(case((_entering(), se.c.at))).over(**by_prospect).label("entered_at"),
    ).where(seen, se.c.prospect_id.in_(mine)).subquery("h")
    ordinal = case(*[(h.c.to_stage == k, i) for i, k in enumerate(order)], else_=len(order))
    rows = session.execute(
        select(h.c.prospect_id, Prospect.name, Prospect.tier, h.c.to_stage, h.c.to_status,
               h.c.entered_at, seconds_between(session, _ts(as_of), h.c.entered_at).label("secs"))
        .join(Prospect, Prospect.id == h.c.prospect_id)
        .where(h.c.rn == 1, h.c.owner_id == manager_id,
               or_(h.c.to_status != "lost", h.c.at >= _ts(start)))
        .order_by(ordinal, Prospect.name, h.c.prospect_id)).all()
    lines = [SheetLine(pid, name, tier, stage, status, entered, _days(secs) or 0.0)
             for pid, name, tier, stage, status, entered, secs in rows]
    by_id = {line.prospect_id: line for line in lines}
    _read_clocks(session, by_id, as_of, now, seen, workflow_key)
    today = and_(se.c.at >= _ts(start), seen)
    if by_id:
        today_rows = session.execute(
            select(se.c.prospect_id, se.c.seq, se.c.event, se.c.from_stage, se.c.to_stage,
                   se.c.to_status, se.c.at, se.c.reason, se.c.data)
            .where(today, se.c.prospect_id.in_(list(by_id)))
            .order_by(se.c.prospect_id, se.c.seq))
        for pid, seq, event, from_stage, to_stage, to_status, at, reason, data in today_rows:
            by_id[pid].changes.append({"seq": seq, "event": event, "from_stage": from_stage,
                                       "to_stage": to_stage, "to_status": to_status, "at": at,
                                       "reason": reason, "data": data})
    counts = session.execute(
        select(*[func.coalesce(func.sum(case((cond, 1), else_=0)), 0) for cond in (
            se.c.event == "create", se.c.event == "advance", se.c.event == "win", _losing(),
            se.c.event == "back")]).where(today, se.c.owner_id == manager_id,
                                          se.c.to_stage.in_(order))).one()
    events = dict(zip(("create", "advance", "win", "lost", "back"), map(int, counts)))
    c = Contact.__table__
    calls = meetings = total = 0
    for pid, kind, n in session.execute(
            select(c.c.prospect_id, c.c.kind, func.count())
            .where(c.c.user_id == manager_id, c.c.at >= _ts(start), c.c.at < _ts(end))
            .group_by(c.c.prospect_id, c.c.kind)):
        n = int(n)
        total += n
        calls += n if kind == "call" else 0
        meetings += n if kind in MEETING_KINDS else 0
        if pid in by_id:
            by_id[pid].contacts[kind] = by_id[pid].contacts.get(kind, 0) + n
    return DailySheet(manager_id, day, start, end, as_of, lines, calls, meetings, total,
                      is_working_day(day, workflow_key), events)


def _read_clocks(session: Session, by_id: dict[int, SheetLine], as_of: datetime,
                 now: datetime, seen: ColumnElement[bool], workflow_key: str) -> None:
    """Each line's stage clock at ``as_of``: for today the clock the prospect keeps (what
    its page shows), for a past day the engine's state then, replayed from the history up
    to the end of that day. One query."""
    if not by_id:
        return
    ids = list(by_id)
    if as_of >= now:
        for p in session.execute(select(Prospect.id, Prospect.status, Prospect.due_at,
                                        Prospect.paused_at).where(Prospect.id.in_(ids))):
            by_id[p.id].clock = stage_clock(p, as_of)
        return
    engine = workflows.engine(workflow_key)
    history: dict[int, list[dict[str, Any]]] = {pid: [] for pid in ids}
    for row in session.execute(
            select(se.c.prospect_id, se.c.event, se.c.to_stage, se.c.at, se.c.data)
            .where(seen, se.c.prospect_id.in_(ids)).order_by(se.c.prospect_id, se.c.seq)):
        history[row.prospect_id].append(row._asdict())
    for pid, rows in history.items():
        state = state_as_of(engine, rows)
        by_id[pid].clock = stage_clock(state, as_of) if state is not None else None


# ---------------------------------------------------------------- the weekly work log

@dataclass
class ManagerWeek:
    user_id: int
    name: str
    created: int = 0
    advanced: int = 0
    won: int = 0
    lost: int = 0
    back: int = 0
    escalated: int = 0
    calls: int = 0
    meetings: int = 0
    contacts: int = 0


@dataclass
class WeeklyFigures:
    team_id: int
    week_start: date
    start: datetime
    end: datetime
    working_days: int
    managers: list[ManagerWeek]
    decided: dict[str, int]

    def total(self, name: str) -> int:
        return sum(getattr(m, name) for m in self.managers)

    @property
    def call_norm(self) -> int:
        return CALL_NORM * self.working_days

    @property
    def meeting_norm(self) -> int:
        return MEETING_NORM * self.working_days


def week_start_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def weekly_figures(session: Session, team_id: int, week_start: date, *, tz: str,
                   now: datetime | None = None, workflow_key: str = workflows.DEFAULT_KEY
                   ) -> WeeklyFigures:
    """附件五, the weekly work log of a team for the week (Monday to Sunday in ``tz``) that
    begins on ``week_start``: per manager, prospects created, advanced, won, lost, sent back
    and escalated in the week, and calls and meetings against the norm over the working days
    elapsed; the team's escalation decisions of the week. Two queries
    (:func:`weekly_of_teams`)."""
    return weekly_of_teams(session, [team_id], week_start, tz=tz, now=now,
                           workflow_key=workflow_key)[team_id]


def weekly_of_teams(session: Session, team_ids: list[int], week_start: date, *, tz: str,
                    now: datetime | None = None, workflow_key: str = workflows.DEFAULT_KEY
                    ) -> dict[int, WeeklyFigures]:
    """The weekly figures of every team in ``team_ids`` at once: one statement for every
    count (a UNION ALL of the moves, the escalations opened, the decisions and the
    contacts, each grouped by team and manager) and one for the managers' names, however
    many teams. A move or an escalation counts for the team it was in then; a contact for
    its manager's team now (as the team's page lists its managers)."""
    now = now or clock.now()
    start = local_midnight(week_start, tz)
    end = local_midnight(week_start + timedelta(days=7), tz)
    in_week = and_(se.c.at >= _ts(start), se.c.at < _ts(end), se.c.at <= _ts(now))
    today_local = now.astimezone(ZoneInfo(tz)).date()
    days = [week_start + timedelta(days=i) for i in range(7)]
    working = sum(1 for d in days if d <= today_local and is_working_day(d, workflow_key))
    out = {t: WeeklyFigures(t, week_start, start, end, working, [], {}) for t in team_ids}
    if not team_ids:
        return out

    def count_if(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    order = _stage_order(workflow_key)
    e, c, zero = Escalation.__table__, Contact.__table__, literal(0)
    no_decision, no_owner = literal(None, String), literal(None, Integer)
    week_of = lambda col: and_(col >= _ts(start), col < _ts(end), col <= _ts(now))
    teams_now = select(User.id, User.team_id).where(User.team_id.in_(team_ids)).subquery()
    counts = union_all(
        select(se.c.team_id, literal("moves").label("kind"), se.c.owner_id,
               no_decision.label("decision"),
               count_if(se.c.event == "create"), count_if(se.c.event == "advance"),
               count_if(se.c.event == "win"), count_if(_losing()),
               count_if(se.c.event == "back"))
        .where(in_week, se.c.team_id.in_(team_ids), se.c.to_stage.in_(order))
        .group_by(se.c.team_id, se.c.owner_id),
        select(e.c.team_id, literal("escalated"), e.c.owner_id, no_decision, func.count(), zero,
               zero, zero, zero)
        .where(e.c.team_id.in_(team_ids), week_of(e.c.opened_at), e.c.stage.in_(order))
        .group_by(e.c.team_id, e.c.owner_id),
        select(e.c.team_id, literal("decided"), no_owner, e.c.decision, func.count(), zero,
               zero, zero, zero)
        .where(e.c.team_id.in_(team_ids), week_of(e.c.decided_at), e.c.stage.in_(order))
        .group_by(e.c.team_id, e.c.decision),
        select(teams_now.c.team_id, literal("contacts"), c.c.user_id, no_decision,
               count_if(c.c.kind == "call"), count_if(c.c.kind.in_(MEETING_KINDS)),
               func.count(), zero, zero)
        .join(teams_now, teams_now.c.id == c.c.user_id).where(week_of(c.c.at))
        .group_by(teams_now.c.team_id, c.c.user_id))
    rows = session.execute(counts).all()
    # The teams' managers, and anyone with figures in a team they have left since.
    wanted = {(t, uid) for t, _kind, uid, *_rest in rows if uid is not None}
    people = session.execute(
        select(User.id, User.name, User.team_id, User.role)
        .where(or_(and_(User.team_id.in_(team_ids), User.role == "manager"),
                   User.id.in_({uid for _t, uid in wanted})))
        .order_by(User.name, User.id)).all()
    managers: dict[tuple[int, int], ManagerWeek] = {}
    for uid, name, team, role in people:
        if team in out and role == "manager":
            managers[(team, uid)] = ManagerWeek(uid, name)
    names = {uid: name for uid, name, _team, _role in people}
    for key in sorted(wanted - set(managers), key=lambda k: (names.get(k[1], ""), k[1])):
        if key[1] in names:  # managers who left the team during or after the week
            managers[key] = ManagerWeek(key[1], names[key[1]])
    for team, kind, uid, decision, n1, n2, n3, n4, n5 in rows:
        if kind == "decided":
            out[team].decided[decision] = int(n1)
            continue
        m = managers.get((team, uid))
        if m is None:
            continue
        if kind == "moves":
            m.created, m.advanced, m.won, m.lost, m.back = (
                int(n1 or 0), int(n2 or 0), int(n3 or 0), int(n4 or 0), int(n5 or 0))
        elif kind == "escalated":
            m.escalated = int(n1)
        else:
            m.calls, m.meetings, m.contacts = int(n1 or 0), int(n2 or 0), int(n3)
    for (team, _uid), m in managers.items():
        out[team].managers.append(m)
    return out


def visible_teams(session: Session, viewer: User) -> list[Team]:
    stmt = select(Team).order_by(Team.name)
    if viewer.role not in ("supervisor", "admin"):
        stmt = stmt.where(Team.id == (viewer.team_id or -1))
    return list(session.scalars(stmt))


def visible_managers(session: Session, viewer: User, team_id: int | None = None
                     ) -> list[User]:
    return list(session.scalars(managers_seen(select(User), viewer, team_id)
                                .order_by(User.name, User.id)))


def managers_seen(stmt: Any, viewer: User, team_id: int | None = None) -> Any:
    """``stmt`` (over users) kept to the managers :func:`visible_managers` gives: the
    same rule as a statement, to read only some columns or use as a subquery."""
    stmt = stmt.where(User.role == "manager")
    if viewer.role == "team_lead" and viewer.team_id is not None:
        stmt = stmt.where(User.team_id == viewer.team_id)
    elif viewer.role not in ("supervisor", "admin"):
        stmt = stmt.where(User.id == viewer.id)
    if team_id is not None:
        stmt = stmt.where(User.team_id == team_id)
    return stmt


def ids_in(values: Iterable[int]) -> list[int]:
    return sorted(set(values))


# ---------------------------------------------------------------- branch totals

@dataclass
class ManagerDay:
    """One manager's figures for one day: contacts and the day's moves of their prospects."""

    user_id: int
    name: str
    team: str | None
    calls: int = 0
    meetings: int = 0
    contacts: int = 0
    created: int = 0
    advanced: int = 0
    won: int = 0
    lost: int = 0
    back: int = 0


DAY_FIGURES = ("calls", "meetings", "contacts", "created", "advanced", "won", "lost", "back")


@dataclass
class DayTotals(DayNorms):
    """The daily progress sheet's figures for every manager in view (a team lead's team,
    a supervisor's branch), by team, with the norms of the day."""

    day: date
    working_day: bool
    managers: list[ManagerDay]

    def teams(self) -> list[tuple[str | None, list[ManagerDay]]]:
        out: dict[str | None, list[ManagerDay]] = {}
        for m in self.managers:
            out.setdefault(m.team, []).append(m)
        return list(out.items())

    def total(self, name: str, rows: Iterable[ManagerDay] | None = None) -> int:
        return sum(getattr(m, name) for m in (self.managers if rows is None else rows))


def daily_totals(session: Session, managers: list[User], day: date, *, tz: str,
                 now: datetime | None = None, workflow_key: str = workflows.DEFAULT_KEY,
                 among: Any = None) -> DayTotals:
    """The day's contacts and moves per manager of ``managers`` (in ``tz``), ordered by
    team and name, for the branch's (or team's) totals. Three queries. ``among``: the
    same managers' ids as a statement (a branch's thousand managers as one subquery
    instead of a thousand bound ids)."""
    now = now or clock.now()
    start, end = day_bounds(day, tz)
    ids = [m.id for m in managers]
    named = ids if among is None else among
    team_names = dict(session.execute(select(Team.id, Team.name).where(
        Team.id.in_({m.team_id for m in managers if m.team_id is not None}))).all())
    rows = {m.id: ManagerDay(m.id, m.name, team_names.get(m.team_id)) for m in managers}

    def count_if(cond: Any) -> Any:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    if ids:
        today = and_(se.c.at >= _ts(start), se.c.at < _ts(end), se.c.at <= _ts(now))
        for uid, *counts in session.execute(
                select(se.c.owner_id, *[count_if(cond) for cond in (
                    se.c.event == "create", se.c.event == "advance",
                    se.c.event == "win", _losing(), se.c.event == "back")])
                .where(today, se.c.owner_id.in_(named),
                       se.c.to_stage.in_(_stage_order(workflow_key)))
                .group_by(se.c.owner_id)):
            m = rows[uid]
            m.created, m.advanced, m.won, m.lost, m.back = map(int, counts)
        c = Contact.__table__
        for uid, calls, meetings, n in session.execute(
                select(c.c.user_id, count_if(c.c.kind == "call"),
                       count_if(c.c.kind.in_(MEETING_KINDS)), func.count())
                .where(c.c.user_id.in_(named), c.c.at >= _ts(start), c.c.at < _ts(end))
                .group_by(c.c.user_id)):
            rows[uid].calls, rows[uid].meetings, rows[uid].contacts = (
                int(calls), int(meetings), int(n))
    ordered = sorted(rows.values(), key=lambda m: (m.team is None, m.team or "", m.name,
                                                   m.user_id))
    return DayTotals(day, is_working_day(day, workflow_key), ordered)


def weekly_branch(session: Session, teams: list[Team], week_start: date, *, tz: str,
                  now: datetime | None = None, workflow_key: str = workflows.DEFAULT_KEY
                  ) -> list[tuple[Team, WeeklyFigures]]:
    """The weekly work log of every team in ``teams`` (a supervisor's branch), in order;
    two queries for all of them (:func:`weekly_of_teams`)."""
    figures = weekly_of_teams(session, [t.id for t in teams], week_start, tz=tz, now=now,
                              workflow_key=workflow_key)
    return [(t, figures[t.id]) for t in teams]
