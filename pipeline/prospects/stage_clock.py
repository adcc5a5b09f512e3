"""The stage clock as people read it, in one place for every page and sheet.

A prospect's clock is the state the engine keeps: when it started (entering the stage, the
first stage of a shared budget, or a team lead's reassignment, which starts it again), when
it runs out (``due_at``, moved by a lead's continue or an extension, pushed back by pauses)
and whether it runs (``status``). The prospect page, the board, My day and the reports all
read it through :func:`clock_reading`, so a prospect is never "20 days left" in one place
and overdue in another.

For a moment in the past the clock is the engine's state then: :func:`state_as_of` replays
the prospect's history rows up to that moment through the engine, as the events were first
applied.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.engine.definition import EVENTS
from pipeline.engine.machine import Engine, EngineError, ProspectState

DAY = 86400.0


def clock_reading(due: datetime | None, status: str, now: datetime) -> tuple[str, int, str]:
    """(phrase kind, number, css class) of a stage clock at ``now``: ``days_left``,
    ``hours_left``, ``days_overdue``, ``hours_overdue``, ``paused`` or ``""`` (no clock:
    won, lost or a stage without a limit), with whole days or hours, rounded down."""
    if status == "paused":
        return "paused", 0, "paused"
    if status in ("won", "lost") or due is None:
        return "", 0, ""
    seconds = (due - now).total_seconds()
    if seconds >= 0:
        days = int(seconds // DAY)
        if days >= 1:
            return "days_left", days, "left"
        return "hours_left", max(int(seconds // 3600), 0), "soon"
    days = int(-seconds // DAY)
    if days >= 1:
        return "days_overdue", days, "overdue"
    return "hours_overdue", max(int(-seconds // 3600), 1), "overdue"


@dataclass(frozen=True)
class StageClock:
    """A prospect's stage clock read at ``as_of``."""

    status: str
    due_at: datetime | None
    paused_at: datetime | None
    as_of: datetime

    @property
    def reading(self) -> tuple[str, int, str]:
        return clock_reading(self.due_at, self.status, self.as_of)

    @property
    def overdue(self) -> bool:
        return self.reading[2] == "overdue"

    @property
    def days_left(self) -> float | None:
        """Days until the clock runs out, negative once it has (one decimal, the same
        instant :func:`clock_reading` reads); a paused clock keeps what it had left when
        it stopped. None without a running or paused clock."""
        if self.due_at is None or self.status not in ("active", "paused"):
            return None
        at = self.paused_at if self.status == "paused" and self.paused_at else self.as_of
        return round((self.due_at - at).total_seconds() / DAY, 1)


def stage_clock(state: Any, as_of: datetime) -> StageClock:
    """The clock of ``state`` (a prospect, a :class:`ProspectState` or anything with
    ``status``, ``due_at`` and ``paused_at``) read at ``as_of``."""
    return StageClock(state.status, state.due_at, state.paused_at, as_of)


def state_as_of(engine: Engine, rows: Iterable[Mapping[str, Any]]) -> ProspectState | None:
    """The engine's state after the history ``rows`` of one prospect (in ``seq`` order,
    each with ``event``, ``to_stage``, ``at`` and ``data``): every event replayed as the
    engine applied it, a lead's continue with the days it gave, a lead's reassignment
    (a ``reassign`` row of an escalation's decision) starting the clock again. A move
    that changes no clock (a supervisor's transfer, a hand-over, a tier change) leaves it
    as it was. None when there is no row, or when a row does not replay (a history the
    engine cannot follow, e.g. from an older workflow)."""
    state: ProspectState | None = None
    try:
        for row in rows:
            event, at, data = row["event"], row["at"], row.get("data") or {}
            if state is None:
                if event != "create":
                    return None
                state = engine.start(at, row["to_stage"])
            elif event == "decision_continue":
                state = engine.decide(state, "continue", now=at, days=data.get("extend_days"),
                                      on_this_visit=bool(data.get("due_at"))).state
            elif event == "reassign":
                if data.get("escalation_id") is not None:
                    state = engine.decide(state, "reassign", now=at).state
            elif event in EVENTS:
                state = engine.transition(state, event, now=at,
                                          stage=row["to_stage"]).state
    except EngineError:
        return None
    return state
