"""Property-based tests of the workflow engine: any sequence of events, at any times, with
any completeness of the records and any reasons, on any prospect.

* the prospect is always in a state the workflow allows, reached by a transition the
  workflow defines;
* its history replays to that state, exactly;
* a stage's due date never moves earlier while its clock runs; only a new clock (entering
  a stage, ``back``, reopening, or a team lead's decision) sets a new due date, and a new
  stage's own clock is never already past when it starts.

The pure tests run the engine without a database; one test drives the real services on
SQLite and PostgreSQL with fewer examples.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pipeline.engine import Engine, ProspectState, load_workflow
from pipeline.engine.definition import EVENTS
from pipeline.engine.machine import EngineError
from pipeline.workflows import DEFAULT_DIR
from tests.factories import COMPLETE

T = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
ENGINE = Engine(load_workflow(DEFAULT_DIR / "seven_step.yaml"))
WF = ENGINE.workflow
STATUSES = {"active", "paused", "won", "lost"}
DECISIONS = ("extend", "restart_clock")  # a team lead's continue / a reassignment
STAGE_ENTRIES = {"advance", "win", "back", "reopen", "new_round"}


# ---------------------------------------------------------------- strategies

RECORDS = {key: data for key, data in COMPLETE.values()}
# A record saved before a step: which one, and the fields left out (none: complete).
record_saves = st.one_of(
    st.none(),
    st.sampled_from(sorted(RECORDS)).flatmap(lambda key: st.tuples(
        st.just(key), st.sets(st.sampled_from(sorted(RECORDS[key])), max_size=3))))
reasons = st.one_of(st.none(), st.just(""), st.just("   "), st.text(min_size=1, max_size=40))
# Forward moves are drawn more often so that sequences reach the later stages.
step_events = st.sampled_from(["advance"] * 6 + ["win"] * 2 + list(EVENTS) + list(DECISIONS)
                              + ["teleport"])  # "teleport": an unknown event
steps = st.tuples(
    step_events,
    st.integers(min_value=0, max_value=24 * 40),  # hours since the previous step
    record_saves,
    reasons,
    st.integers(min_value=1, max_value=30),  # days of a continue decision
)


@dataclass(frozen=True)
class Done:
    """One accepted step: enough to replay it."""

    event: str
    at: datetime
    records: dict
    reason: str | None
    days: int
    from_stage: str
    from_status: str
    to_stage: str
    to_status: str


# ---------------------------------------------------------------- the model

def apply(state: ProspectState, step: tuple, now: datetime) -> ProspectState:
    event, _hours, records, reason, days = step
    if event == "extend":
        if state.status not in ("active", "paused"):
            raise EngineError("no decision on a closed prospect")
        return ENGINE.extend(state, now, days)
    if event == "restart_clock":
        if state.status not in ("active", "paused"):
            raise EngineError("no decision on a closed prospect")
        return ENGINE.restart_clock(state, now)
    return ENGINE.fire(state, event, now=now, records=records, reason=reason).state


def replay(history: list[Done]) -> ProspectState:
    state = ENGINE.start(T)
    for done in history:
        state = apply(state, (done.event, 0, done.records, done.reason, done.days), done.at)
    return state


def check_state(state: ProspectState) -> None:
    """A state the workflow allows."""
    assert state.stage in WF.stage_keys
    assert state.status in STATUSES
    # Won is the last stage; in the last stage a customer is won, or lost by leaving.
    assert state.status != "won" or state.stage == WF.stage_keys[-1]
    assert state.stage != WF.stage_keys[-1] or state.status in ("won", "lost")
    assert (state.status == "paused") == (state.paused_at is not None)
    if state.status == "lost":
        assert state.lost_reason and state.lost_reason.strip()
    else:
        assert state.lost_reason is None
    if state.status in ("active", "paused"):
        assert state.due_at is not None and state.warn_at is not None
        assert state.warn_at <= state.due_at
        assert state.stage_entered_at is not None and state.clock_started_at is not None
    assert state.paused_seconds >= 0 and state.clock_no >= 1


def check_transition(done: Done) -> None:
    """The step is one the workflow defines, leading where the workflow says."""
    if done.event in DECISIONS:
        assert (done.to_stage, done.to_status) == (done.from_stage, done.from_status)
        return
    [t] = [t for t in WF.transitions if t.event == done.event and t.source == done.from_stage]
    assert done.to_stage == (t.dest or done.from_stage)


def check_due(before: ProspectState, after: ProspectState, done: Done) -> None:
    if done.event in DECISIONS or after.due_at is None:
        return
    if after.clock_no == before.clock_no:
        # The same clock: pausing, resuming, losing, a no-meeting escalation never make the
        # stage due earlier.
        assert before.due_at is None or after.due_at >= before.due_at
        return
    assert done.event in STAGE_ENTRIES, done
    budget = WF.stage(before.stage).budget
    if done.event == "advance" and budget is not None and budget == WF.stage(after.stage).budget:
        # A stage sharing its predecessor's budget keeps the budget's due date.
        assert after.due_at >= before.due_at
    else:
        assert after.due_at > done.at  # a fresh clock is never already overdue


STAGE_RECORD = {stage: key for stage, (key, _data) in COMPLETE.items()}


def run(sequence: list[tuple] | None = None, draw: Any = None,
        length: int = 0) -> tuple[ProspectState, list[Done]]:
    """Play ``sequence``, or ``length`` steps drawn one by one with ``draw`` (which then
    saves the current stage's record more often, so that sequences get far)."""
    state, now, history = ENGINE.start(T), T, []
    records: dict[str, dict] = {}
    check_state(state)
    for n in range(len(sequence) if sequence is not None else length):
        if sequence is not None:
            event_, hours, save, reason, days = sequence[n]
        else:
            event_, hours, save, reason, days = draw(steps)
            if state.stage in STAGE_RECORD and draw(st.booleans()):
                key = STAGE_RECORD[state.stage]
                save = (key, draw(st.sets(st.sampled_from(sorted(RECORDS[key])), max_size=1)))
        now += timedelta(hours=hours)
        if save is not None:
            key, dropped = save
            records = {**records, key: {k: v for k, v in RECORDS[key].items()
                                        if k not in dropped}}
        snapshot = replace(state)
        try:
            new = apply(state, (event_, hours, records, reason, days), now)
        except EngineError:
            assert state == snapshot  # a refusal changes nothing
            continue
        done = Done(event_, now, records, reason, days, state.stage, state.status,
                    new.stage, new.status)
        check_state(new)
        check_transition(done)
        check_due(state, new, done)
        history.append(done)
        state = new
    return state, history


# ---------------------------------------------------------------- pure engine

@settings(max_examples=150, deadline=None)
@given(st.data(), st.integers(min_value=0, max_value=40))
def test_any_sequence_of_events_keeps_the_prospect_in_an_allowed_state(data, length):
    state, history = run(draw=data.draw, length=length)
    event(f"reached {state.stage} ({state.status})")  # shown by --hypothesis-show-statistics
    for earlier, later in pairwise(history):  # the history is continuous
        assert (earlier.to_stage, earlier.to_status) == (later.from_stage, later.from_status)
    assert replay(history) == state


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["advance", "win"]), min_size=1, max_size=10),
       st.integers(min_value=0, max_value=24 * 60))
def test_complete_records_always_lead_forward(events, hours):
    """With every record complete, advance/win only ever move towards after-sale."""
    records = RECORDS
    state = ENGINE.start(T)
    order = list(WF.stage_keys)
    now = T
    for name in events:
        now += timedelta(hours=hours)
        try:
            new = ENGINE.fire(state, name, now=now, records=records).state
        except EngineError:
            assert name == "win" and state.stage != "close" or name == "advance" \
                and state.stage in ("close", "after_sale")
            continue
        assert order.index(new.stage) == order.index(state.stage) + 1
        state = new


# ---------------------------------------------------------------- through the services

service_steps = st.tuples(
    st.sampled_from(["save", "save", "advance", "win", "back", "lose", "pause", "resume",
                     "reopen", "no_meeting"]),
    st.integers(min_value=0, max_value=24 * 30),
    st.sampled_from(sorted(k for k, _ in COMPLETE.values())),
    st.booleans(),  # full or partial record
    reasons,
)


@settings(max_examples=12, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(sequence=st.lists(service_steps, max_size=14))
def test_services_keep_state_records_and_history_consistent(session, factory, sequence):
    """The same properties through ``save_record`` / ``advance_prospect``: the stored
    history replays to the stored state, and refused steps change nothing."""
    from sqlalchemy import select

    from pipeline import clock
    from pipeline.errors import ServiceError
    from pipeline.prospects.models import Prospect, StageEvent
    from pipeline.prospects.queries import records_of
    from pipeline.prospects.services import advance_prospect, save_record, state_of

    clock.set_now(T)
    owner = factory.user("manager", "Team P")
    p = factory.prospect(owner)
    now = T
    for action, hours, record, full, reason in sequence:
        now += timedelta(hours=hours)
        clock.set_now(now)
        before = (state_of(session.get(Prospect, p.id)), records_of(session, [p.id])[p.id])
        try:
            if action == "save":
                data = dict(dict(COMPLETE.values())[record])
                if not full:
                    data.pop(min(data))
                save_record(session, p.id, record, actor=owner, data=data)
            else:
                advance_prospect(session, p.id, action, actor=owner, reason=reason)
        except ServiceError:
            session.expire_all()
            after = (state_of(session.get(Prospect, p.id)), records_of(session, [p.id])[p.id])
            assert after == before
    session.expire_all()
    stored = session.get(Prospect, p.id)
    state = state_of(stored)
    check_state(state)
    rows = list(session.scalars(select(StageEvent).where(StageEvent.prospect_id == p.id)
                                .order_by(StageEvent.seq)))
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    assert (rows[0].from_stage, rows[0].to_stage) == (None, WF.stage_keys[0])
    for earlier, later in pairwise(rows):
        assert (earlier.to_stage, earlier.to_status) == (later.from_stage, later.from_status)
        assert earlier.at <= later.at
    assert (rows[-1].to_stage, rows[-1].to_status) == (stored.stage, stored.status)


def test_the_model_rejects_a_forged_history():
    """The replay check is not vacuous: a history with a step removed replays elsewhere."""
    steps_ = [("advance", 24, ("contact_log", set()), None, 7), ("pause", 1, None, "holiday", 7),
              ("resume", 48, None, None, 7), ("advance", 24, ("info_sheet", set()), None, 7)]
    state, history = run(steps_)
    assert len(history) == 4 and state.stage == "decision_maker"
    with pytest.raises(EngineError):
        replay(history[:1] + history[2:])  # resume without pause
    assert replay(history[:3]) != state


def test_an_extension_survives_the_move_within_a_shared_budget():
    """Found by the property above: a team lead gives the learn stage more time, the manager
    then moves into decision_maker (same 21-day budget); the due date must not jump back."""
    day = timedelta(days=1)
    state = ENGINE.fire(ENGINE.start(T), "advance", now=T, records=RECORDS).state
    extended = ENGINE.extend(state, T + 20 * day, 10)
    assert extended.due_at > state.due_at
    moved = ENGINE.fire(extended, "advance", now=T + 25 * day, records=RECORDS).state
    assert moved.stage == "decision_maker" and moved.due_at == extended.due_at
    assert moved.due_at > T + 25 * day
