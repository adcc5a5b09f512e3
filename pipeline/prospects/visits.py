"""Stage visits kept as rows (``stage_visits``), written with the history.

The funnel counts visits and the time spent in them. Deriving the visits from the raw
history on every request meant windowing every prospect's whole history (two million rows
in a province); instead each history row updates the visit table in the transaction that
writes it (:func:`follow`), and the funnel reads that table. What a row does to the
visits is the engine's :func:`pipeline.engine.machine.visit_change`; the reference
definition from the whole history is :mod:`pipeline.reports.visits`, and the tests check
that the two agree.

Per history row (the prospect's row is locked by the service that writes it, so the
prospect's rows arrive in ``seq`` order):

- a row that enters a stage closes the open visit (``end_at``, ``exit`` = its event) and
  inserts the new one — two statements, the cost ``advance`` pays;
- a row that makes the prospect lost closes the open visit with ``exit`` ``lost`` and
  moves it to that row's owner and team (the losing row is the visit's latest row);
- any other row moves the open visit to the row's owner and team (a reassignment);
- a ``win`` also marks every visit of the prospect ``won`` (the win is at or after all
  of them), in the same UPDATE.

An escalation opened on a prospect marks its open visit ``stalled`` (:func:`mark_stalled`,
called where escalations are inserted).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    bindparam,
    case,
    false,
    func,
    insert,
    literal,
    literal_column,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from pipeline.db import DriverStatement, UTCDateTime
from pipeline.engine.machine import (
    VISIT_END,
    VISIT_ENTER,
    VISIT_ENTER_LOST,
    VISIT_LOSE,
    visit_change,
)
from pipeline.prospects.models import StageVisit
from pipeline.sql import seconds_between

sv = StageVisit.__table__


def _statements(dialect: str) -> dict[str, DriverStatement]:
    """The statements :func:`follow` sends, built once per dialect and sent through the
    driver (they are on the path of every event)."""
    at = bindparam("at", type_=UTCDateTime())
    mine = sv.c.prospect_id == bindparam("pid")
    is_open = sv.c.end_at.is_(None)
    seconds = seconds_between(dialect, at, sv.c.start_at)
    return {name: DriverStatement(stmt) for name, stmt in {
        # A row entering a stage ends the open visit...
        "close_open": update(sv).where(mine, is_open).values(
            end_at=at, seconds=seconds, exit=bindparam("exit")),
        # ...and a win also marks every visit of the prospect won.
        "close_won": update(sv).where(mine).values(
            won=True, end_at=func.coalesce(sv.c.end_at, at),
            seconds=case((is_open, seconds), else_=sv.c.seconds),
            exit=case((is_open, bindparam("exit")), else_=sv.c.exit)),
        # ...and opens the next (end_at, seconds and exit NULL while it is under way)...
        "open": insert(sv).values(
            prospect_id=bindparam("pid"), start_seq=bindparam("seq"), stage=bindparam("stage"),
            start_at=at, won=bindparam("won"), stalled=false(),
            owner_id=bindparam("owner_id"), team_id=bindparam("team_id")),
        # ...or, for a row entering a stage lost (a loss where the stage changes), the
        # visit that begins and ends with it.
        "open_lost": insert(sv).values(
            prospect_id=bindparam("pid"), start_seq=bindparam("seq"), stage=bindparam("stage"),
            start_at=at, end_at=at, seconds=literal_column("0"), exit="lost", won=false(),
            stalled=false(), owner_id=bindparam("owner_id"), team_id=bindparam("team_id")),
        # The losing row is the lost visit's latest row: it ends it and gives its owner.
        "lose": update(sv).where(mine, is_open).values(
            end_at=at, seconds=seconds, exit="lost", owner_id=bindparam("owner_id"),
            team_id=bindparam("team_id")),
        "move": update(sv).where(mine, is_open).values(
            owner_id=bindparam("owner_id"), team_id=bindparam("team_id")),
    }.items()}


_STATEMENTS: dict[str, dict[str, DriverStatement]] = {}


def follow(session: Session, row: Any) -> None:
    """Bring the prospect's visits up to date with ``row``, the history row just written in
    the session's transaction (a :class:`StageEvent` or anything with its attributes).
    One or two statements."""
    conn = session.connection()
    name = conn.dialect.name
    stmts = _STATEMENTS.get(name) or _STATEMENTS.setdefault(name, _statements(name))
    change = visit_change(row.event, row.from_stage, row.to_stage, row.from_status,
                          row.to_status)
    who = {"pid": row.prospect_id, "owner_id": row.owner_id, "team_id": row.team_id}
    if change in (VISIT_ENTER, VISIT_ENTER_LOST, VISIT_END):
        stmts["close_won" if row.event == "win" else "close_open"].run(
            conn, {"pid": row.prospect_id, "at": row.at, "exit": row.event})
        if change == VISIT_ENTER_LOST:
            stmts["open_lost"].run(conn, {**who, "seq": row.seq, "stage": row.to_stage,
                                          "at": row.at})
        elif change == VISIT_ENTER:
            stmts["open"].run(conn, {**who, "seq": row.seq, "stage": row.to_stage,
                                     "at": row.at, "won": row.event == "win"})
    elif change == VISIT_LOSE:
        stmts["lose"].run(conn, {**who, "at": row.at})
    else:
        stmts["move"].run(conn, who)


def following(change: str, win: bool, history: Any) -> list[Any]:
    """What :func:`follow` sends for a history row, as statements that take the row's
    values from ``history`` (a data-modifying CTE on PostgreSQL that inserts it and returns
    ``prospect_id``, ``seq``, ``event``, ``to_stage``, ``owner_id``, ``team_id`` and
    ``at``), so the row and its visit change go in one statement
    (:func:`pipeline.prospects.events.record_state`). ``change`` is the row's
    :func:`~pipeline.engine.machine.visit_change`; ``win`` whether its event is a win.

    The statements of one command share its snapshot: the visit inserted here is not among
    the open visits the UPDATE beside it closes."""
    h = history.c
    mine = sv.c.prospect_id == h.prospect_id
    is_open = sv.c.end_at.is_(None)
    seconds = seconds_between("postgresql", h.at, sv.c.start_at)
    if change == VISIT_LOSE:
        return [update(sv).where(mine, is_open).values(
            end_at=h.at, seconds=seconds, exit="lost", owner_id=h.owner_id,
            team_id=h.team_id)]
    if change not in (VISIT_ENTER, VISIT_ENTER_LOST, VISIT_END):
        return [update(sv).where(mine, is_open).values(owner_id=h.owner_id,
                                                       team_id=h.team_id)]
    if win:
        close = update(sv).where(mine).values(
            won=True, end_at=func.coalesce(sv.c.end_at, h.at),
            seconds=case((is_open, seconds), else_=sv.c.seconds),
            exit=case((is_open, h.event), else_=sv.c.exit))
    else:
        close = update(sv).where(mine, is_open).values(end_at=h.at, seconds=seconds,
                                                        exit=h.event)
    if change == VISIT_END:
        return [close]
    columns = ["prospect_id", "start_seq", "stage", "start_at", "won", "stalled", "owner_id",
               "team_id"]
    values = [h.prospect_id, h.seq, h.to_stage, h.at]
    if change == VISIT_ENTER_LOST:
        columns += ["end_at", "seconds", "exit"]
        values += [false(), false(), h.owner_id, h.team_id, h.at, literal_column("0"),
                   literal("lost")]
    else:
        values += [true() if win else false(), false(), h.owner_id, h.team_id]
    return [close, insert(sv).from_select(columns, select(*values))]


def mark_stalled(session: Session, prospect_ids: Iterable[int]) -> None:
    """An escalation was just opened on each of ``prospect_ids``: their open visits had
    one (the visit under way when it opened, as the reports' ``escalated_visits`` maps
    it). One statement; nothing when no escalation was created."""
    ids = list(prospect_ids)
    if ids:
        session.execute(update(sv).where(sv.c.prospect_id.in_(ids), sv.c.end_at.is_(None))
                        .values(stalled=True))
