"""The complaint report and the root-cause list (溯源整改).

Read from the cases' rows, the complaints' own rows, the history (the ``win`` row settles
a complaint, ``extend`` rows extend it) and the fields of the records the workflow's
``dimensions`` name (the channel and the cause, each read from its record's JSON by the
database): four queries whatever the number of complaints, each reaching the complaints'
own rows by their ids (never a scan of every customer's history), then grouped in Python,
all groupings from one reading (:func:`tables`). The root causes are counted by the
database.

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

from sqlalchemy import JSON, Select, case, func, select, type_coerce
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
    needs of each. Four queries, each reading only the complaints' own rows (by the
    prospect id's indexes), not the history or records of every customer."""
    wf = engine().workflow
    found = cases(viewer, start=start, end=end)
    rows = session.execute(found.order_by(Prospect.id)).all()
    if not rows:
        return []
    ids = found.with_only_columns(Prospect.id)
    # The settling (first ``win``) and the extensions, from the complaints' history only.
    settled: dict[int, datetime] = {}
    extended: set[int] = set()
    for pid, event, at in session.execute(
            select(StageEvent.prospect_id, StageEvent.event, StageEvent.at)
            .where(StageEvent.prospect_id.in_(ids), StageEvent.event.in_(("win", "extend")))):
        if event == "extend":
            extended.add(pid)
        elif pid not in settled or at < settled[pid]:
            settled[pid] = at
    facts: dict[int, dict[str, Any]] = {r.id: {} for r in rows}
    if wf.dimensions:
        names = list(wf.dimensions)
        for pid, *values in session.execute(
                select(StageRecord.prospect_id,
                       *(case((StageRecord.record_key == record, _field(fkey)))
                         for record, fkey in wf.dimensions.values()))
                .where(StageRecord.prospect_id.in_(ids), StageRecord.record_key.in_(
                    {record for record, _fkey in wf.dimensions.values()}))):
            facts[pid].update((name, v) for name, v in zip(names, values, strict=True)
                              if v is not None)
    managers = dict(session.execute(select(User.id, User.email).where(
        User.id.in_({r.owner_id for r in rows}))).all())
    found = [Line(r.id, r.received_at, settled.get(r.id), r.id in extended,
                  {"category": r.category, "manager": managers.get(r.owner_id), **facts[r.id]})
             for r in rows]
    _settling(found)
    return found


def report(session: Session, viewer: User, *, by: str, start: datetime | None = None,
           end: datetime | None = None, found: list[Line] | None = None) -> dict[str, Any]:
    """The complaint figures grouped ``by`` one of :data:`GROUPS`, and over all (of
    ``found``, the :func:`lines` already read, when given)."""
    if by not in GROUPS:
        raise ValueError(f"by must be one of {', '.join(GROUPS)}")
    if found is None:
        found = lines(session, viewer, start=start, end=end)
    eng = engine()
    days_allowed = eng.workflow.case_limit.days if eng.workflow.case_limit else None
    total = Figures(None)
    groups: dict[Any, Figures] = {}
    for line in found:
        key = line.values.get(by)
        for fig in (total, groups.setdefault(key, Figures(key))):
            fig.received += 1
            fig.extended += line.extended
            if line.days is not None:
                fig.settled += 1
                fig.days.append(line.days)
                fig.settled_in_time += line.in_time
    ordered = sorted(groups.values(), key=lambda f: (-f.received, str(f.group)))
    return {"by": by, "limit_days": days_allowed, "as_of": clock.now().isoformat(),
            "total": total.as_dict(), "groups": [f.as_dict() for f in ordered]}


def tables(session: Session, viewer: User, *, start: datetime | None = None,
           end: datetime | None = None) -> dict[str, dict[str, Any]]:
    """The report by each of :data:`GROUPS`, from one reading of the complaints."""
    found = lines(session, viewer, start=start, end=end)
    return {by: report(session, viewer, by=by, found=found) for by in GROUPS}


def root_causes(session: Session, viewer: User, *, start: datetime | None = None,
                end: datetime | None = None, at_least: int = RECUR_AT) -> list[dict[str, Any]]:
    """Causes that recur (at least ``at_least`` complaints in the period), most frequent
    first, each with its corrective actions and their owners."""
    if "cause" not in engine().workflow.dimensions:
        return []
    record, fkey = engine().workflow.dimensions["cause"]
    cause = _field(fkey)
    # Counted by the database over the cause records of the complaints in the period.
    counts: dict[str, int] = {c: n for c, n in session.execute(
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
