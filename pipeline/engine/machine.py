"""Bind a ``transitions`` state machine to prospect state and fire events.

The machine's state is the prospect's stage (``model_attribute="stage"``); events that
leave the stage where it is (lose, pause, resume, no_meeting) are internal transitions.
The engine also works out the clock: stage entry, shared budgets, pauses, due and
warning times. It never touches a database: callers pass a :class:`ProspectState` and
apply the returned :class:`Outcome` themselves.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from transitions import Machine

from pipeline.engine.deadlines import calendar_for, due_at, warn_at
from pipeline.engine.definition import EVENTS, Workflow
from pipeline.engine.guards import GUARDS, GuardContext, Problem, record_problems

# Which statuses each event may fire from, and the status it leads to (None: unchanged).
EVENT_STATUSES: dict[str, tuple[frozenset[str], str | None]] = {
    "advance": (frozenset({"active"}), None),
    "win": (frozenset({"active"}), "won"),
    "lose": (frozenset({"active", "paused"}), "lost"),
    "no_meeting": (frozenset({"active"}), None),
    "back": (frozenset({"active"}), None),
    "pause": (frozenset({"active"}), "paused"),
    "resume": (frozenset({"paused"}), "active"),
    "reopen": (frozenset({"lost"}), "active"),
}
INPUT_GUARDS = frozenset({"reason_given"})  # guards on what the caller sends, not on records


class EngineError(Exception):
    """Base class of the engine's refusals."""

    code = "engine_error"

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []


class UnknownEvent(EngineError):
    code = "unknown_event"


class EventNotAllowed(EngineError):
    code = "event_not_allowed"


class TransitionRefused(EngineError):
    code = "transition_refused"


@dataclass
class ProspectState:
    """What the engine needs to know of a prospect (a plain object, no ORM)."""

    stage: str
    status: str = "active"
    stage_entered_at: datetime | None = None
    clock_started_at: datetime | None = None
    due_at: datetime | None = None
    warn_at: datetime | None = None
    paused_at: datetime | None = None
    paused_seconds: int = 0
    clock_no: int = 0
    lost_reason: str | None = None


@dataclass(frozen=True)
class Outcome:
    event: str
    from_stage: str
    to_stage: str
    from_status: str
    to_status: str
    state: ProspectState
    stage_changed: bool


class Engine:
    """A workflow's state machine and clock.

    ``shared=True`` (the default) builds one ``transitions`` machine with ``model=None``
    and fires each event on the prospect's state through the machine's ``Event`` (nothing
    is added to the machine, so threads share it freely); ``shared=False`` builds a
    machine per event (kept for the benchmark that compares the two).
    """

    def __init__(self, workflow: Workflow, *, shared: bool = True) -> None:
        self.workflow = workflow
        self.calendar = calendar_for(workflow.calendar, workflow.holiday_country,
                                     workflow.timezone)
        self.shared = shared
        self._guards = {(t.event, t.source): t.guards for t in workflow.transitions}
        self.machine = self._build(None) if shared else None

    # ------------------------------------------------------------------ machine
    def _build(self, model: Any) -> Machine:
        keys = list(self.workflow.stage_keys)
        return Machine(
            model=model,
            states=keys,
            transitions=[
                {"trigger": t.event, "source": t.source, "dest": t.dest,
                 "conditions": [self._condition]}
                for t in self.workflow.transitions
            ],
            initial=model.stage if model is not None else keys[0],
            auto_transitions=False,
            model_attribute="stage",
            send_event=True,
        )

    def _condition(self, event_data: Any) -> bool:
        ctx: GuardContext = event_data.kwargs["ctx"]
        problems = self.problems(event_data.event.name, ctx)
        event_data.kwargs["problems"].extend(problems)
        return not problems

    def _trigger(self, model: ProspectState, event: str, ctx: GuardContext) -> list[Problem]:
        problems: list[Problem] = []
        if self.shared:
            # The event fires on the model as it is, without add_model/remove_model: those
            # bind a trigger and a state check per event and stage to the model on every
            # call (most of the machine's cost), and change the shared machine, which then
            # needed a lock. The event reads and sets the model's ``stage`` alone.
            ok = self.machine.events[event].trigger(model, ctx=ctx, problems=problems)
        else:
            self._build(model)
            ok = model.trigger(event, ctx=ctx, problems=problems)
        if not ok and not problems:  # pragma: no cover - a guard said no without saying why
            problems.append(Problem("refused", f"{event} is not possible now"))
        return problems

    # ------------------------------------------------------------------ guards
    def context(self, state: ProspectState, records: Mapping[str, Mapping[str, Any]],
                reason: str | None = None, data: Mapping[str, Any] | None = None) -> GuardContext:
        return GuardContext(self.workflow, self.workflow.stage(state.stage), records, reason,
                            data or {})

    def problems(self, event: str, ctx: GuardContext, *, skip: frozenset = frozenset()) -> list:
        out: list[Problem] = []
        for name in self._guards.get((event, ctx.stage.key), ()):
            if name not in skip:
                out.extend(GUARDS[name](ctx))
        return out

    def check_allowed(self, state: ProspectState, event: str) -> None:
        """Raise UnknownEvent / EventNotAllowed if ``event`` cannot fire from ``state``."""
        if event not in EVENTS:
            raise UnknownEvent(f"unknown event {event!r}; known: {', '.join(EVENTS)}")
        statuses, _ = EVENT_STATUSES[event]
        if state.status not in statuses:
            raise EventNotAllowed(f"{event} is not possible for a {state.status} prospect")
        if (event, state.stage) not in self._guards:
            raise EventNotAllowed(f"{event} is not possible from stage {state.stage}")

    def missing(self, state: ProspectState, records: Mapping[str, Mapping[str, Any]]) -> list:
        """What the current stage's records still lack."""
        if state.status in ("won", "lost"):
            return []
        ctx = self.context(state, records)
        out: list[Problem] = []
        for record in ctx.stage.records:
            out.extend(record_problems(ctx, record))
        return out

    def available_events(self, state: ProspectState,
                         records: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """Events that can fire now (a reason still has to be given where one is needed)."""
        out = []
        ctx = self.context(state, records)
        for event in EVENTS:
            try:
                self.check_allowed(state, event)
            except EngineError:
                continue
            if not self.problems(event, ctx, skip=INPUT_GUARDS):
                out.append(event)
        return out

    # ------------------------------------------------------------------ firing
    def fire(self, state: ProspectState, event: str, *, now: datetime,
             records: Mapping[str, Mapping[str, Any]] | None = None,
             reason: str | None = None, data: Mapping[str, Any] | None = None) -> Outcome:
        """Fire ``event`` on a copy of ``state`` at ``now``.

        Returns the Outcome with the new state; raises UnknownEvent, EventNotAllowed, or
        TransitionRefused carrying the problems (what is missing).
        """
        self.check_allowed(state, event)
        new = replace(state)
        ctx = self.context(state, records or {}, reason, data)
        problems = self._trigger(new, event, ctx)
        if problems:
            raise TransitionRefused(f"{event} refused: " + "; ".join(p.message for p in problems),
                                    problems)
        _, to_status = EVENT_STATUSES[event]
        stage_changed = new.stage != state.stage or event == "reopen"
        if event == "pause":
            new.paused_at = now
        elif event == "resume":
            self._unpause(new, now)
        elif event == "lose":
            new.paused_at = None
            new.lost_reason = (reason or "").strip()
        elif event == "reopen":
            new.lost_reason = None
        if stage_changed:
            keep = (event == "advance"
                    and self.workflow.stage(state.stage).budget is not None
                    and self.workflow.stage(state.stage).budget
                    == self.workflow.stage(new.stage).budget)
            self._enter(new, now, keep_budget=keep)
        if to_status:
            new.status = to_status
        return Outcome(event, state.stage, new.stage, state.status, new.status, new,
                       stage_changed)

    def start(self, now: datetime, stage: str | None = None) -> ProspectState:
        """The state of a new prospect entering ``stage`` (the first stage) at ``now``."""
        state = ProspectState(stage=stage or self.workflow.stage_keys[0])
        self._enter(state, now, keep_budget=False)
        if state.stage == self.workflow.stage_keys[-1] and state.due_at is None:
            state.status = "won"
        return state

    def _limit_span(self, start: datetime, stage: str) -> timedelta | None:
        limit = self.workflow.limit_days(stage)
        if limit is None:
            return None
        return self.calendar.add_days(start, limit) - start

    def _enter(self, state: ProspectState, now: datetime, *, keep_budget: bool) -> None:
        previous_due = state.due_at if keep_budget else None
        state.stage_entered_at = now
        state.clock_no += 1
        if not keep_budget or state.clock_started_at is None:
            state.clock_started_at = now
            state.paused_seconds = 0
        due = due_at(self.calendar, state.clock_started_at, self.workflow.limit_days(state.stage),
                     state.paused_seconds)
        if previous_due is not None and due is not None and due < previous_due:
            # A team lead's extension of the shared budget survives the move to the next
            # stage of that budget: progress must not make the prospect due earlier.
            due = previous_due
        self._set_due(state, due)

    def _set_due(self, state: ProspectState, due: datetime | None) -> None:
        state.due_at = due
        span = self._limit_span(state.clock_started_at or due, state.stage) if due else None
        state.warn_at = warn_at(due, span, self.workflow.escalation.warn_at) if span else None

    def _unpause(self, state: ProspectState, now: datetime) -> None:
        if state.paused_at is not None:
            delta = max(now - state.paused_at, timedelta(0))
            state.paused_seconds += int(delta.total_seconds())
            if state.due_at is not None:
                state.due_at += delta
            if state.warn_at is not None:
                state.warn_at += delta
        state.paused_at = None

    # ------------------------------------------------------------------ decisions
    def extend(self, state: ProspectState, now: datetime, days: int | None = None) -> ProspectState:
        """A team lead's *continue*: the stage is due ``days`` (default 7) after ``now``."""
        days = self.workflow.escalation.continue_days if days is None else days
        new = replace(state)
        new.clock_no += 1
        due = self.calendar.add_days(now, days)
        new.due_at = due
        new.warn_at = due - (due - now) * (1 - self.workflow.escalation.warn_at)
        return new

    def restart_clock(self, state: ProspectState, now: datetime) -> ProspectState:
        """A reassignment: the current stage's clock starts again for the new owner."""
        new = replace(state)
        new.clock_no += 1
        new.clock_started_at = now
        new.paused_seconds = 0
        if new.paused_at is not None:
            new.paused_at = now
        self._set_due(new, due_at(self.calendar, now, self.workflow.limit_days(new.stage)))
        return new
