"""Every command's outcome lists its effects (the engine alone, no database)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.engine import Engine, TransitionRefused, load_workflow
from pipeline.engine.machine import (
    VISIT_END,
    VISIT_ENTER,
    VISIT_ENTER_LOST,
    VISIT_LOSE,
    VISIT_MOVE,
    EscalationChange,
    visit_change,
)
from pipeline.workflows import DEFAULT_DIR
from tests.factories import COMPLETE

T = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_workflow(DEFAULT_DIR / "seven_step.yaml"))


def records(stage: str) -> dict:
    key, data = COMPLETE[stage]
    return {key: data}


def test_create_lists_the_history_and_the_first_stage_tasks(engine):
    out = engine.create(T)
    first = engine.workflow.stage(out.to_stage)
    assert (out.recorded_as, out.from_stage, out.to_status, out.visit) == (
        "create", None, "active", VISIT_ENTER)
    assert [t.key for t in out.tasks] == [s.key for s in first.cadence]
    assert all(t.clock_no == out.state.clock_no == 1 for t in out.tasks)
    assert out.tasks[0].due_at == T and out.escalations == ()


def test_advance_closes_the_visit_escalation_and_starts_no_tasks_without_cadence(engine):
    start = engine.create(T).state
    out = engine.fire(start, "advance", now=T + DAY, records=records("first_contact"))
    assert out.stage_changed and out.tasks == ()
    assert out.escalations == (EscalationChange("close_ended", start.clock_no),)
    assert out.state.clock_no == start.clock_no + 1 and out.visit == VISIT_ENTER


def test_no_meeting_opens_an_escalation_on_the_current_visit(engine):
    start = engine.create(T).state
    log = {"contact_log": {"institution_sms_at": "2026-03-02T01:00:00Z",
                           "manager_sms_at": "2026-03-03T01:00:00Z",
                           "call_at": "2026-03-05T01:00:00Z"}}
    out = engine.fire(start, "no_meeting", now=T + 4 * DAY, records=log, reason="no answer")
    assert out.escalations == (EscalationChange("open", start.clock_no, "no_meeting"),)
    assert (out.reason, out.visit, out.stage_changed) == ("no answer", VISIT_MOVE, False)


def test_pause_keeps_the_visit_and_lose_ends_it(engine):
    start = engine.create(T).state
    paused = engine.fire(start, "pause", now=T + DAY, reason="  travelling ")
    assert paused.escalations == () and paused.reason == "travelling"
    lost = engine.fire(paused.state, "lose", now=T + 2 * DAY, reason="no interest")
    assert lost.visit == VISIT_LOSE and lost.to_status == "lost"
    assert lost.escalations == (EscalationChange("close_ended", start.clock_no),)
    reopened = engine.fire(lost.state, "reopen", now=T + 3 * DAY, reason="came back")
    assert reopened.visit == VISIT_ENTER and reopened.tasks  # a new first-contact visit


def test_decisions_are_outcomes_too(engine):
    start = engine.create(T).state
    now = T + 22 * DAY
    cont = engine.decide(start, "continue", now=now, days=3, reason="travelling")
    assert (cont.recorded_as, cont.state.due_at, cont.data["extend_days"]) == (
        "decision_continue", now + 3 * DAY, 3)
    assert cont.escalations == () and cont.owner_id is None
    stale = engine.decide(start, "continue", now=now, on_this_visit=False)
    assert stale.state.due_at == start.due_at and not stale.data
    moved = engine.decide(start, "reassign", now=now, new_owner_id=42)
    assert (moved.recorded_as, moved.owner_id, moved.state.clock_started_at) == (
        "reassign", 42, now)
    dropped = engine.decide(start, "abandon", now=now, reason="no interest")
    assert (dropped.recorded_as, dropped.to_status) == ("lose", "lost")
    assert dropped.escalations == (EscalationChange("close_ended", start.clock_no),)
    with pytest.raises(TransitionRefused):
        engine.decide(start, "abandon", now=now, reason="")


def test_transition_is_fire_without_guards(engine):
    """What a data load replays: the same outcome as firing, once guards have passed."""
    start = engine.create(T).state
    fired = engine.fire(start, "advance", now=T + DAY, records=records("first_contact"))
    replayed = engine.transition(start, "advance", now=T + DAY)
    assert replayed == fired


@pytest.mark.parametrize(("row", "change"), [
    (("create", None, "a", None, "active"), VISIT_ENTER),
    (("advance", "a", "b", "active", "active"), VISIT_ENTER),
    (("win", "a", "b", "active", "won"), VISIT_ENTER),
    (("lose", "a", "a", "active", "lost"), VISIT_LOSE),
    (("lose", "a", "b", "active", "lost"), VISIT_ENTER_LOST),
    (("reopen", "a", "a", "lost", "active"), VISIT_ENTER),
    (("back", "b", "a", "lost", "lost"), VISIT_END),
    (("pause", "a", "a", "active", "paused"), VISIT_MOVE),
    (("reassign", "a", "a", "active", "active"), VISIT_MOVE),
])
def test_visit_change(row, change):
    assert visit_change(*row) == change


def test_sync_cadence_marks_steps_done_and_retimes_the_next(engine):
    start = engine.create(T)
    stage = start.to_stage
    tasks = {t.key: (t.due_at, None) for t in start.tasks}
    first = start.tasks[0]
    step = engine.workflow.stage(stage).cadence[0]
    done_at = T + timedelta(hours=3)
    synced = engine.sync_cadence(stage, tasks, {step.done_field: done_at.isoformat()},
                                 T + DAY)
    assert synced[first.key] == (first.due_at, done_at)
    follower = next(s for s in engine.workflow.stage(stage).cadence if s.after == step.key)
    assert synced[follower.key][0] == done_at + timedelta(hours=follower.offset_hours)
    undone = engine.sync_cadence(stage, {k: v for k, v in synced.items()}, {}, T + DAY)
    assert undone[first.key][1] is None


def test_texts_with_a_nul_character_are_refused_before_any_database_sees_them():
    from pipeline.errors import Invalid
    from pipeline.prospects.schemas import FireEvent
    from pipeline.validation import load

    with pytest.raises(Invalid) as info:
        load(FireEvent, {"event": "pause", "reason": "away\x00"})
    assert "reason" in info.value.details
