"""Bind a ``transitions`` state machine to prospect state and fire events.

The machine's state is the prospect's stage (``model_attribute="stage"``); events that
leave the stage where it is (lose, pause, resume, no_meeting) are internal transitions.
The engine also works out the clock: stage entry, shared budgets, pauses, due and
warning times. It never touches a database: callers pass a :class:`ProspectState` and
apply the returned :class:`Outcome` themselves.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from transitions import Machine

from pipeline import clock
from pipeline.engine.deadlines import calendar_for, due_at, warn_at
from pipeline.engine.definition import DECISIONS, EVENTS, TIERS, Extension, Workflow
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
    "extend": (frozenset({"active", "paused"}), None),
    # A won customer's new need (seed 004: 谋求客户新的需求) opens a new round of the
    # process; the earlier rounds stay in the history.
    "new_round": (frozenset({"won"}), "active"),
    # An after-sale customer who leaves the bank (seed 002), with the reason: lost,
    # counted apart from prospects that never closed by the event's name.
    "leave": (frozenset({"won"}), "lost"),
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


class NoExtensionLeft(EventNotAllowed):
    """Every extension of the case's limit has been taken."""

    code = "no_extension_left"


class NotPermitted(EngineError):
    """The workflow gives this event (the next extension) to other roles."""

    code = "not_permitted"


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
class Task:
    """A task an outcome creates: a cadence step of the stage visit it starts."""

    key: str
    assignee: str  # institution | owner | team_lead
    due_at: datetime
    clock_no: int


@dataclass(frozen=True)
class EscalationChange:
    """An escalation an outcome opens or closes; written by whoever registered for
    ``action`` (the escalations domain), in the same transaction.

    ``close_ended``: the stage visit ``clock_no`` is over (the prospect moved on, was won
    or lost), so its open stage escalations close. ``open``: a stage escalation of
    ``kind`` opens at once on the current visit.
    """

    action: str
    clock_no: int
    kind: str | None = None


# How a history row changes the stage visits (see :func:`visit_change`).
VISIT_ENTER, VISIT_ENTER_LOST, VISIT_END, VISIT_LOSE, VISIT_MOVE = (
    "enter", "enter_lost", "end", "lose", "move")


def visit_change(event: str, from_stage: str | None, to_stage: str,
                 from_status: str | None, to_status: str) -> str:
    """What a history row does to the prospect's stage visits: ``enter`` (the open visit
    ends with this event and a new one starts), ``enter_lost`` (the open visit ends and one
    that begins and ends lost is recorded), ``end`` (the open visit ends, none starts),
    ``lose`` (the open visit ends lost), ``move`` (the open visit stays, with this row's
    owner and team). A ``win`` also marks every visit of the prospect won."""
    entering = from_stage is None or from_stage != to_stage or event == "reopen"
    losing = to_status == "lost" and from_status != "lost"
    if entering:
        if losing:
            return VISIT_ENTER_LOST
        return VISIT_END if to_status == "lost" else VISIT_ENTER
    return VISIT_LOSE if losing else VISIT_MOVE


@dataclass(frozen=True)
class Outcome:
    """Everything one command changes, for :func:`pipeline.prospects.events.apply` to write:
    the new state, the history row (``history_event``, the stages and statuses, ``reason``
    and ``data``), the tasks the visit it starts brings, the escalations to open or
    close, a new owner, and (:attr:`visit`) the stage-visit change."""

    event: str
    from_stage: str | None
    to_stage: str
    from_status: str | None
    to_status: str
    state: ProspectState
    stage_changed: bool
    reason: str | None = None
    data: Mapping[str, Any] | None = None
    tasks: tuple[Task, ...] = ()
    escalations: tuple[EscalationChange, ...] = ()
    owner_id: int | None = None
    history_event: str | None = None

    @property
    def recorded_as(self) -> str:
        """The event name the history row carries."""
        return self.history_event or self.event

    @property
    def visit(self) -> str:
        return visit_change(self.recorded_as, self.from_stage, self.to_stage,
                            self.from_status, self.to_status)


def copy_state(state: ProspectState) -> ProspectState:
    """A copy of ``state`` (cheaper than ``dataclasses.replace``: replays copy millions)."""
    new = ProspectState.__new__(ProspectState)
    new.__dict__.update(state.__dict__)
    return new


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
        self._dests = {(t.event, t.source): t.dest for t in workflow.transitions}
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
        if event == "extend" and self.next_extension(state) is None:
            raise NoExtensionLeft("every extension of the limit has been taken")

    def next_extension(self, state: ProspectState) -> Extension | None:
        """The extension of the case's limit an ``extend`` would take now: the first one
        that moves the due time later than it is (None: none left, or no case limit)."""
        limit = self.workflow.case_limit
        if limit is None or state.clock_started_at is None:
            return None
        for ext in limit.extensions:
            due = due_at(self.calendar, state.clock_started_at, ext.to_days,
                         state.paused_seconds)
            if state.due_at is None or due > state.due_at:
                return ext
        return None

    def check_role(self, state: ProspectState, event: str, role: str | None) -> None:
        """Raise NotPermitted when the workflow gives ``event`` (the next extension) to
        other roles than ``role``; a None role is not checked (the system's own commands)."""
        if event != "extend" or role is None:
            return
        ext = self.next_extension(state)
        if ext is not None and role not in ext.by:
            raise NotPermitted(f"the extension to {ext.to_days} days is for "
                               f"{' or '.join(ext.by)} to give")

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
                         records: Mapping[str, Mapping[str, Any]], *,
                         role: str | None = None) -> list[str]:
        """Events that can fire now (a reason still has to be given where one is needed);
        with ``role``, only those that role may fire."""
        out = []
        ctx = self.context(state, records)
        for event in EVENTS:
            try:
                self.check_allowed(state, event)
                self.check_role(state, event, role)
            except EngineError:
                continue
            if not self.problems(event, ctx, skip=INPUT_GUARDS):
                out.append(event)
        return out

    # ------------------------------------------------------------------ firing
    def fire(self, state: ProspectState, event: str, *, now: datetime,
             records: Mapping[str, Mapping[str, Any]] | None = None,
             reason: str | None = None, data: Mapping[str, Any] | None = None,
             role: str | None = None) -> Outcome:
        """Fire ``event`` on a copy of ``state`` at ``now``, guards first.

        Returns the Outcome (new state and every effect); raises UnknownEvent,
        EventNotAllowed (NoExtensionLeft), NotPermitted (``role`` may not fire it), or
        TransitionRefused carrying the problems (what is missing).
        """
        self.check_allowed(state, event)
        self.check_role(state, event, role)
        probe = copy_state(state)
        ctx = self.context(state, records or {}, reason, data)
        problems = self._trigger(probe, event, ctx)
        if problems:
            raise TransitionRefused(f"{event} refused: " + "; ".join(p.message for p in problems),
                                    problems)
        return self.transition(state, event, now=now, reason=reason, stage=probe.stage)

    def transition(self, state: ProspectState, event: str, *, now: datetime,
                   reason: str | None = None, stage: str | None = None) -> Outcome:
        """The outcome of ``event`` once its guards have passed: the destination from the
        workflow's transitions (or ``stage``, where the machine already moved), the clock,
        the tasks and escalation changes. No guard is checked: :meth:`fire` checks them;
        replaying a history that was already accepted (a data load) calls this directly.
        """
        if event == "extend":
            return self._extension(state, now, reason)
        new = copy_state(state)
        if stage is None:
            dest = self._dests.get((event, state.stage))
            if (event, state.stage) not in self._dests:
                raise EventNotAllowed(f"{event} is not possible from stage {state.stage}")
            stage = dest if dest is not None else state.stage
        new.stage = stage
        _, to_status = EVENT_STATUSES[event]
        stage_changed = new.stage != state.stage or event == "reopen"
        if event == "pause":
            new.paused_at = now
        elif event == "resume":
            self._unpause(new, now)
        elif event in ("lose", "leave"):
            new.paused_at = None
            new.lost_reason = (reason or "").strip()
        elif event == "reopen":
            new.lost_reason = None
        case_clock = self.workflow.case_limit is not None and event != "reopen"
        if stage_changed:
            keep = (event == "advance"
                    and self.workflow.stage(state.stage).budget is not None
                    and self.workflow.stage(state.stage).budget
                    == self.workflow.stage(new.stage).budget)
            if case_clock:
                new.stage_entered_at = now  # the case's one clock runs on
            else:
                self._enter(new, now, keep_budget=keep)
        if to_status:
            new.status = to_status
        escalations: tuple[EscalationChange, ...] = ()
        if (stage_changed and not case_clock) or new.status in ("won", "lost"):
            escalations = (EscalationChange("close_ended", state.clock_no),)
        elif event == "no_meeting":
            escalations = (EscalationChange("open", new.clock_no, "no_meeting"),)
        return Outcome(event, state.stage, new.stage, state.status, new.status, new,
                       stage_changed, reason=_reason(reason),
                       tasks=self.cadence_tasks(new, now) if stage_changed else (),
                       escalations=escalations)

    def _extension(self, state: ProspectState, now: datetime, reason: str | None) -> Outcome:
        """``extend``: the case is due ``to_days`` of the next extension after its clock
        started (paused time added); a new clock, so it is warned and escalated again
        against the new limit, and an escalation of the old one closes."""
        ext = self.next_extension(state)
        if ext is None:
            raise NoExtensionLeft("every extension of the limit has been taken")
        new = copy_state(state)
        new.clock_no += 1
        start = state.clock_started_at
        # A pause still running is added when it ends (resume), as for any clock.
        due = due_at(self.calendar, start, ext.to_days, state.paused_seconds)
        new.due_at = due
        span = self.calendar.add_days(start, ext.to_days) - start
        new.warn_at = warn_at(due, span, self.workflow.escalation.warn_at)
        number = self.workflow.case_limit.extensions.index(ext) + 1
        return Outcome("extend", state.stage, new.stage, state.status, new.status, new, False,
                       reason=_reason(reason),
                       data={"extension": number, "to_days": ext.to_days,
                             "due_at": due.isoformat()},
                       escalations=(EscalationChange("close_ended", state.clock_no),))

    def create(self, now: datetime, stage: str | None = None) -> Outcome:
        """The outcome of creating a prospect in ``stage`` (the first stage) at ``now``."""
        state = self.start(now, stage)
        return Outcome("create", None, state.stage, None, state.status, state, True,
                       tasks=self.cadence_tasks(state, now))

    def cadence_tasks(self, state: ProspectState, now: datetime) -> tuple[Task, ...]:
        """The cadence steps of the visit ``state`` starts at ``now``, each due from the
        stage entry or from the step it follows."""
        due: dict[str, datetime] = {}
        out = []
        for step in self.workflow.stage(state.stage).cadence:
            base = due[step.after] if step.after else now
            due[step.key] = base + timedelta(hours=step.offset_hours)
            out.append(Task(step.key, step.assignee, due[step.key], state.clock_no))
        return tuple(out)

    def sync_cadence(self, stage: str, tasks: Mapping[str, tuple[datetime, datetime | None]],
                     data: Mapping[str, Any], now: datetime
                     ) -> dict[str, tuple[datetime, datetime | None]]:
        """The cadence tasks of the current visit after its stage record ``data`` was
        saved: ``tasks`` maps a step's key to its (due, done) times; the answer maps every
        step present to its new (due, done). A step is done when its record field is set
        (at that time, never later than ``now``), undone when the field is cleared; the
        steps after it are due from the time it was done. A step whose ``cancelled_by``
        field is set (a reply) and that was not done is closed at that time: it is no
        longer needed (:meth:`cancelled_steps` names these)."""
        out: dict[str, tuple[datetime, datetime | None]] = {}
        anchor: dict[str, datetime] = {}
        for step in self.workflow.stage(stage).cadence:
            if step.key not in tasks:
                continue
            due, done = tasks[step.key]
            if step.after and step.after in anchor:
                due = anchor[step.after] + timedelta(hours=step.offset_hours)
            value = data.get(step.done_field) if step.done_field else None
            cancel = data.get(step.cancelled_by) if step.cancelled_by else None
            if not value and cancel:
                anchor[step.key] = due
                if done is None:
                    done = min(_moment(cancel), now)
                out[step.key] = (due, done)
                continue
            if value:
                done_time = value if isinstance(value, datetime) else clock.parse(value)
                anchor[step.key] = done_time
                if done is None:
                    done = min(done_time, now)
            else:
                anchor[step.key] = due
                if done is not None and step.done_field:
                    done = None
            out[step.key] = (due, done)
        return out

    def cancelled_steps(self, stage: str, data: Mapping[str, Any]) -> frozenset[str]:
        """The cadence steps of ``stage`` that its record ``data`` cancels: the field
        named by the step's ``cancelled_by`` is set and the step's own is not."""
        return frozenset(
            step.key for step in self.workflow.stage(stage).cadence
            if step.cancelled_by and data.get(step.cancelled_by)
            and not (step.done_field and data.get(step.done_field)))

    def decide(self, state: ProspectState, decision: str, *, now: datetime,
               days: int | None = None, reason: str | None = None,
               records: Mapping[str, Mapping[str, Any]] | None = None,
               new_owner_id: int | None = None, on_this_visit: bool = True) -> Outcome:
        """A team lead's decision on an escalation, as an outcome like any event's.

        ``continue``: the stage is due ``days`` (default: the workflow's) after ``now``
        when the escalation is ``on_this_visit`` of an open prospect (history event
        ``decision_continue``); ``reassign``: ``new_owner_id`` takes the prospect over and
        the stage clock starts again (history event ``reassign``); ``abandon``: the
        ``lose`` event with ``reason``, guards included. Raises what :meth:`fire` raises.
        """
        if decision == "abandon":
            return self.fire(state, "lose", now=now, records=records, reason=reason)
        if decision == "continue":
            data: dict[str, Any] = {}
            new = copy_state(state)
            if on_this_visit and self.workflow.case_limit is None:
                # A case's limit moves only by its extensions (``extend``), never by a
                # lead's continue.
                new = self.extend(state, now, days)
                data = {"extend_days": days or self.workflow.escalation.continue_days,
                        "due_at": new.due_at.isoformat() if new.due_at else None}
            return Outcome("continue", state.stage, new.stage, state.status, new.status, new,
                           False, reason=_reason(reason), data=data,
                           history_event="decision_continue")
        if decision == "reassign":
            new = (self.restart_clock(state, now)
                   if state.status in ("active", "paused") and self.workflow.case_limit is None
                   else copy_state(state))  # a case's clock runs on for its new handler
            return Outcome("reassign", state.stage, new.stage, state.status, new.status, new,
                           False, reason=_reason(reason), owner_id=new_owner_id)
        raise UnknownEvent(f"unknown decision {decision!r}; known: {', '.join(DECISIONS)}")

    def hand_over(self, state: ProspectState, new_owner_id: int, *,
                  reason: str | None = None) -> Outcome:
        """A case given to another person to handle (history event ``assign``): the owner
        changes, the state and its clock stay as they are."""
        return Outcome("assign", state.stage, state.stage, state.status, state.status,
                       copy_state(state), False, reason=_reason(reason), owner_id=new_owner_id,
                       history_event="assign")

    def retier(self, state: ProspectState, from_tier: str, to_tier: str, *,
               manual: bool) -> Outcome:
        """A change of the customer's tier, as an outcome like any event's: the state stays
        as it is, and the history row ``tier_change`` says from which tier to which and
        whether a person set it (``manual``) or it followed the assets. Raises ValueError
        for an unknown tier or a tier that does not change."""
        for tier in (from_tier, to_tier):
            if tier not in TIERS:
                raise ValueError(f"unknown tier {tier!r}; known: {', '.join(TIERS)}")
        if from_tier == to_tier:
            raise ValueError("the tier does not change")
        return Outcome("tier_change", state.stage, state.stage, state.status, state.status,
                       copy_state(state), False,
                       data={"from": from_tier, "to": to_tier, "manual": bool(manual)},
                       history_event="tier_change")

    def transfer(self, state: ProspectState, new_owner_id: int, *,
                 reason: str | None = None, data: Mapping[str, Any] | None = None) -> Outcome:
        """A supervisor's move of a customer to ``new_owner_id`` (a manager who leaves
        hands the book over): the history row ``reassign`` with ``data`` (who from, who
        to); the state stays as it is, so the stage's clock and its tasks run on for the
        new owner (a team lead's ``reassign`` decision restarts the clock instead)."""
        return Outcome("reassign", state.stage, state.stage, state.status, state.status,
                       copy_state(state), False, reason=_reason(reason),
                       data=dict(data) if data else None, owner_id=new_owner_id)

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
        new = copy_state(state)
        new.clock_no += 1
        due = self.calendar.add_days(now, days)
        new.due_at = due
        new.warn_at = due - (due - now) * (1 - self.workflow.escalation.warn_at)
        return new

    def restart_clock(self, state: ProspectState, now: datetime) -> ProspectState:
        """A reassignment: the current stage's clock starts again for the new owner."""
        new = copy_state(state)
        new.clock_no += 1
        new.clock_started_at = now
        new.paused_seconds = 0
        if new.paused_at is not None:
            new.paused_at = now
        self._set_due(new, due_at(self.calendar, now, self.workflow.limit_days(new.stage)))
        return new


def _moment(value: Any) -> datetime:
    """A record's date-time value (an aware datetime or its ISO text)."""
    return value if isinstance(value, datetime) else clock.parse(value)


def _reason(reason: str | None) -> str | None:
    return reason.strip() if isinstance(reason, str) and reason.strip() else None
