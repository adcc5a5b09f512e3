"""The complaint report and the root-cause list (溯源整改).

Read from the cases' rows, the complaints' own rows, the history (the ``win`` row settles
a complaint, ``extend`` rows extend it) and the fields of the records the workflow's
``dimensions`` name (the channel and the cause, each read from its record's JSON by the
database): one query whatever the number of complaints, each case's rows reached by its
key (never a scan of every customer's history), then grouped in Python, all groupings and
the total in one pass over one reading (:func:`tables`). The root causes are counted by
the database, or from that reading when the page has it.

Figures per group, over the complaints received in the period:

- ``received``; ``settled`` (settled by now);
- ``settled_in_time``: settled within the workflow's case limit (15 days) of receipt,
  and ``settled_in_time_pct``, its share of ``received`` (a complaint still open, or
  settled late, counts against it);
- ``extended``: complaints with at least one extension;
- ``median_days_to_settle``: over the settled ones, receipt to settling, in days.
"""
from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Select, func, select, type_coerce
from sqlalchemy.orm import Session

from pipeline import clock
from pipeline.auth.models import User
from pipeline.complaints.models import CauseAction, Complaint
from pipeline.complaints.services import WORKFLOW_KEY, engine
from pipeline.prospects import queries
from pipeline.prospects.models import Prospect, StageEvent, StageRecord

GROUPS = ("category", "cause", "channel", "manager")
DAY = timedelta(days=1)
RECUR_AT = 2  # a cause that comes back at least this often is a root cause to act on
BRANCH_WIDE = ("supervisor", "admin")  # who sees every complaint (queries.scope)


@dataclass
class Line:
    """One complaint as the report reads it."""

    id: int
    received_at: datetime
    settled_at: datetime | None
    extended: bool
    values: dict[str, Any]
    days: float | None = None  # receipt to settling, when settled
    in_time: bool = False  # settled within the workflow's case limit


def _settling(found: list[Line]) -> None:
    """Each settled line's days to settle and whether that was in time (once per line,
    however many groupings read it)."""
    eng = engine()
    allowed = eng.workflow.case_limit.days if eng.workflow.case_limit else None
    for line in found:
        if line.settled_at is not None:
            line.days = (line.settled_at - line.received_at) / DAY
            line.in_time = allowed is not None and line.settled_at <= eng.calendar.add_days(
                line.received_at, allowed)


@dataclass
class Figures:
    group: str | None
    received: int = 0
    settled: int = 0
    settled_in_time: int = 0
    extended: int = 0
    days: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group, "received": self.received, "settled": self.settled,
            "settled_in_time": self.settled_in_time,
            "settled_in_time_pct": round(100 * self.settled_in_time / self.received, 1)
            if self.received else None,
            "extended": self.extended,
            "median_days_to_settle": round(statistics.median(self.days), 2)
            if self.days else None,
        }


def _field(key: str) -> Any:
    """A record field's value as text, read by the database from the record's JSON (the
    report needs one field of each record, not the whole document decoded)."""
    return type_coerce(StageRecord.data, JSON)[key].as_string()


def cases(viewer: User, *, start: datetime | None = None, end: datetime | None = None
          ) -> Select:
    """The complaints the viewer may see received in [start, end): (id, handler, received
    at, category). Only a complaint case has a complaints row: no filter on the case's
    workflow, which would have the database look for the cases among every customer's
    prospect."""
    stmt = (queries.scope(select(Prospect.id, Prospect.owner_id, Complaint.received_at,
                                 Complaint.category), viewer)
            .join(Complaint, Complaint.prospect_id == Prospect.id))
    if start is not None:
        stmt = stmt.where(Complaint.received_at >= start)
    if end is not None:
        stmt = stmt.where(Complaint.received_at < end)
    return stmt


def lines(session: Session, viewer: User, *, start: datetime | None = None,
          end: datetime | None = None) -> list[Line]:
    """The complaints the viewer may see received in [start, end), with what the report
    needs of each. One query: per complaint its handler's e-mail, its settling (first
    ``win``) and whether it was extended, from its own history, and its dimensions'
    fields, from its own records, each found by the complaint's key (never the history or
    records of every customer)."""
    wf = engine().workflow
    case_id = Complaint.prospect_id
    if viewer.role in BRANCH_WIDE:
        # Every complaint: each handler by the case's key, not a join that would read
        # every customer's prospect to find the cases among them.
        owner: Any = select(Prospect.owner_id).where(Prospect.id == case_id) \
            .correlate(Complaint).scalar_subquery()
        found = select(case_id, owner, Complaint.received_at, Complaint.category)
        if start is not None:
            found = found.where(Complaint.received_at >= start)
        if end is not None:
            found = found.where(Complaint.received_at < end)
    else:
        owner = Prospect.owner_id
        found = cases(viewer, start=start, end=end)
    settled = select(func.min(StageEvent.at)).where(
        StageEvent.prospect_id == case_id, StageEvent.event == "win").scalar_subquery()
    # Counted per case (an EXISTS would be planned as one scan of every history row).
    extended = select(func.count()).where(StageEvent.prospect_id == case_id,
                                          StageEvent.event == "extend").scalar_subquery()
    names = list(wf.dimensions)
    fields = [select(_field(fkey)).where(StageRecord.prospect_id == case_id,
                                         StageRecord.record_key == record).scalar_subquery()
              for record, fkey in wf.dimensions.values()]
    email = select(User.email).where(User.id == owner).scalar_subquery()
    if session.get_bind().dialect.name == "postgresql":
        # The per-case lookups are costed above PostgreSQL's JIT threshold, and compiling
        # them takes longer than running them; the setting ends with the transaction.
        session.execute(select(func.set_config("jit", "off", True)))
    out = []
    for pid, _owner, received_at, category, manager, settled_at, was_extended, *values \
            in session.connection().execute(  # plain rows: no ORM loading per case
                found.add_columns(email, settled, extended, *fields).order_by(case_id)).all():
        facts = {"category": category, "manager": manager}
        for name, v in zip(names, values, strict=True):
            if v is not None:
                facts[name] = v
        out.append(Line(pid, received_at, settled_at, bool(was_extended), facts))
    _settling(out)
    return out


def _add(fig: Figures, line: Line) -> None:
    fig.received += 1
    fig.extended += line.extended
    if line.days is not None:
        fig.settled += 1
        fig.days.append(line.days)
        fig.settled_in_time += line.in_time


def _tables(found: list[Line], groupings: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The figures of ``found`` by each of ``groupings`` and over all, in one pass."""
    eng = engine()
    days_allowed = eng.workflow.case_limit.days if eng.workflow.case_limit else None
    total = Figures(None)
    by_group: dict[str, dict[Any, Figures]] = {by: {} for by in groupings}
    for line in found:
        _add(total, line)
        for by, groups in by_group.items():
            key = line.values.get(by)
            group = groups.get(key)
            if group is None:
                group = groups[key] = Figures(key)
            _add(group, line)
    whole = total.as_dict()
    as_of = clock.now().isoformat()
    return {by: {"by": by, "limit_days": days_allowed, "as_of": as_of, "total": dict(whole),
                 "groups": [f.as_dict() for f in sorted(
                     groups.values(), key=lambda f: (-f.received, str(f.group)))]}
            for by, groups in by_group.items()}


def report(session: Session, viewer: User, *, by: str, start: datetime | None = None,
           end: datetime | None = None, found: list[Line] | None = None) -> dict[str, Any]:
    """The complaint figures grouped ``by`` one of :data:`GROUPS`, and over all (of
    ``found``, the :func:`lines` already read, when given)."""
    if by not in GROUPS:
        raise ValueError(f"by must be one of {', '.join(GROUPS)}")
    if found is None:
        found = lines(session, viewer, start=start, end=end)
    return _tables(found, (by,))[by]


def tables(session: Session, viewer: User, *, start: datetime | None = None,
           end: datetime | None = None, found: list[Line] | None = None
           ) -> dict[str, dict[str, Any]]:
    """The report by each of :data:`GROUPS`, from one reading of the complaints (``found``,
    the :func:`lines` already read, when given), in one pass over them."""
    if found is None:
        found = lines(session, viewer, start=start, end=end)
    return _tables(found, GROUPS)


def root_causes(session: Session, viewer: User, *, start: datetime | None = None,
                end: datetime | None = None, at_least: int = RECUR_AT,
                found: list[Line] | None = None) -> list[dict[str, Any]]:
    """Causes that recur (at least ``at_least`` complaints in the period), most frequent
    first, each with its corrective actions and their owners. ``found``: the
    :func:`lines` already read, whose causes are counted instead of asking the database
    again."""
    if "cause" not in engine().workflow.dimensions:
        return []
    if found is not None:
        counts: dict[str, int] = {}
        for line in found:
            if c := line.values.get("cause"):
                counts[c] = counts.get(c, 0) + 1
    else:
        record, fkey = engine().workflow.dimensions["cause"]
        cause = _field(fkey)
        # Counted by the database over the cause records of the complaints in the period.
        counts = {c: n for c, n in session.execute(
            select(cause, func.count()).where(
                StageRecord.prospect_id.in_(cases(viewer, start=start, end=end)
                                            .with_only_columns(Prospect.id)),
                StageRecord.record_key == record)
            .group_by(cause)) if c}
    recurring = [c for c, n in counts.items() if n >= at_least]
    actions = _actions(session, recurring)
    return [{"cause": c, "complaints": counts[c], "actions": actions.get(c, [])}
            for c in sorted(recurring, key=lambda c: (-counts[c], c))]


def _actions(session: Session, causes: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    causes = list(causes)
    if not causes:
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for row, email, name in session.execute(
            select(CauseAction, User.email, User.name).join(User, User.id == CauseAction.owner_id)
            .where(CauseAction.workflow_key == WORKFLOW_KEY, CauseAction.cause.in_(causes))
            .order_by(CauseAction.created_at, CauseAction.id)):
        out.setdefault(row.cause, []).append({
            "id": row.id, "action": row.action, "owner": email, "owner_name": name,
            "created_at": row.created_at.isoformat(),
            "done_at": row.done_at.isoformat() if row.done_at else None})
    return out
