"""The stage visits as the history defines them, for rows written in bulk.

The visit rows (``stage_visits``) are kept by the write path,
:func:`pipeline.prospects.visits.follow`, one history row at a time. What a visit is
stays defined in one place, :func:`pipeline.reports.queries.visits_subquery` (and
:func:`pipeline.reports.queries.escalated_visits` for the stalled flag): :func:`rebuild`
recomputes the rows from the history with it (bulk loaders, test histories written
around the services), and the tests check that it and ``follow`` agree.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, insert, select, true

from pipeline.prospects.models import StageVisit
from pipeline.prospects.visits import follow, mark_stalled  # noqa: F401  (the write path)
from pipeline.reports import queries

sv = StageVisit.__table__

COLUMNS = ("prospect_id", "start_seq", "stage", "start_at", "end_at", "seconds", "exit", "won",
           "stalled", "owner_id", "team_id")


def from_history(dialect: Any, prospects: Any = None) -> Any:
    """The visit rows as the history defines them (``COLUMNS``, in that order): the
    reference :func:`queries.visits_subquery` with the escalation mapping of
    :func:`queries.escalated_visits` as ``stalled``. ``prospects`` (a select of ids or a
    list) limits it to those histories; ``dialect`` is a Session, Connection or dialect
    name (the seconds are computed differently on SQLite)."""
    v = queries.visits_subquery(prospects)
    esc = queries.escalated_visits()
    return select(
        v.c.prospect_id, v.c.start_seq, v.c.stage, v.c.start_at, v.c.end_at,
        queries.seconds_between(dialect, v.c.end_at, v.c.start_at), v.c.exit,
        v.c.won == 1, esc.c.prospect_id.is_not(None), v.c.owner_id, v.c.team_id,
    ).select_from(v).outerjoin(esc, (esc.c.prospect_id == v.c.prospect_id)
                               & (esc.c.start_seq == v.c.start_seq)
                               & (esc.c.stage == v.c.stage))


def rebuild(session: Any, prospect_ids: Iterable[int] | None = None) -> None:
    """Recompute the visits of ``prospect_ids`` (every prospect when None) from their
    history and escalations: for rows written in bulk around the services (the demo and
    benchmark loaders, hand-built test histories). ``session`` is a Session or a
    Connection; part of its transaction."""
    ids = None if prospect_ids is None else list(prospect_ids)
    if ids is not None and not ids:
        return
    session.execute(delete(sv).where(true() if ids is None else sv.c.prospect_id.in_(ids)))
    session.execute(insert(sv).from_select(list(COLUMNS), from_history(session, ids)))
