"""The engine alone: events, guards and the clock, with no database."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from pipeline.engine import (
    Engine,
    EventNotAllowed,
    ProspectState,
    TransitionRefused,
    UnknownEvent,
    load_workflow,
)
from pipeline.engine.deadlines import WorkingDays
from pipeline.engine.definition import parse_workflow
from pipeline.engine.guards import GUARDS
from pipeline.workflows import DEFAULT_DIR
from tests.factories import COMPLETE

T = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_workflow(DEFAULT_DIR / "seven_step.yaml"))


def complete(*stages: str) -> dict:
    return {COMPLETE[s][0]: COMPLETE[s][1] for s in stages}


ALL = complete("first_contact", "learn", "decision_maker", "needs", "allocation", "close")


def walk(engine: Engine, to: str, start: datetime = T) -> ProspectState:
    state = engine.start(start)
    now = start
    while state.stage != to:
        now += DAY
        event = "win" if state.stage == "close" else "advance"
        state = engine.fire(state, event, now=now, records=ALL).state
    return state


def test_start(engine):
    s = engine.start(T)
    assert (s.stage, s.status, s.clock_no) == ("first_contact", "active", 1)
    assert s.due_at == T + 21 * DAY
    assert s.warn_at == T + timedelta(days=21 * 0.8)


def test_walk_through_all_seven_stages(engine):
    s = walk(engine, "after_sale")
    assert s.status == "won" and s.due_at is None and s.warn_at is None


@pytest.mark.parametrize("stage, missing_field", [
    ("first_contact", "meeting_booked_at"),
    ("decision_maker", "identified"),
    ("needs", "life_stage"),
    ("allocation", "options"),
])
def test_advance_refused_says_what_is_missing(engine, stage, missing_field):
    s = walk(engine, stage)
    with pytest.raises(TransitionRefused) as info:
        engine.fire(s, "advance", now=T + 30 * DAY, records={})
    fields = {p.field for p in info.value.problems}
    assert missing_field in fields
    assert all(p.record for p in info.value.problems)


def test_info_sheet_needs_seventy_percent(engine):
    s = walk(engine, "learn")
    sheet = dict(COMPLETE["learn"][1])
    sheet.pop("age")
    sheet.pop("risk_preference")  # 21 of 31 fields: 67.7 %
    with pytest.raises(TransitionRefused, match="68% complete; at least 70%"):
        engine.fire(s, "advance", now=T + 9 * DAY, records={"info_sheet": sheet})
    sheet["sex"] = "male"
    assert engine.fire(s, "advance", now=T + 9 * DAY,
                       records={"info_sheet": sheet}).to_stage == "decision_maker"


@pytest.mark.parametrize("customer, product, ok", [
    ("C3", "R3", True), ("C5", "R1", True), ("C2", "R3", False), ("C1", "R2", False),
])
def test_close_needs_risk_match(engine, customer, product, ok):
    s = walk(engine, "close")
    checklist = dict(COMPLETE["close"][1], customer_risk_level=customer,
                     product_risk_level=product)
    if ok:
        assert engine.fire(s, "win", now=T + 9 * DAY,
                           records={"closing_checklist": checklist}).state.status == "won"
    else:
        with pytest.raises(TransitionRefused) as info:
            engine.fire(s, "win", now=T + 9 * DAY, records={"closing_checklist": checklist})
        assert [p.code for p in info.value.problems] == ["risk_mismatch"]


def test_close_needs_every_checklist_step(engine):
    s = walk(engine, "close")
    checklist = dict(COMPLETE["close"][1], signed=False)
    with pytest.raises(TransitionRefused) as info:
        engine.fire(s, "win", now=T, records={"closing_checklist": checklist})
    assert [p.field for p in info.value.problems] == ["signed"]


def test_proposals_need_two_or_three_options_and_a_valid_choice(engine):
    s = walk(engine, "allocation")
    for options, chosen in ([["a"], 0], [["a", "b"], 2], [["a", "b"], None]):
        with pytest.raises(TransitionRefused):
            engine.fire(s, "advance", now=T, records={"proposals": {"options": options,
                                                                    "chosen": chosen}})


def test_events_not_allowed(engine):
    s = engine.start(T)
    with pytest.raises(UnknownEvent):
        engine.fire(s, "jump", now=T)
    with pytest.raises(EventNotAllowed, match="win is not possible from stage first_contact"):
        engine.fire(s, "win", now=T, records=ALL)
    with pytest.raises(EventNotAllowed, match="back is not possible from stage first_contact"):
        engine.fire(s, "back", now=T, reason="x")
    with pytest.raises(EventNotAllowed, match="resume is not possible for a active"):
        engine.fire(s, "resume", now=T)
    won = walk(engine, "after_sale")
    for event in ("advance", "lose", "back", "pause", "reopen"):
        with pytest.raises(EventNotAllowed):
            engine.fire(won, event, now=T, reason="r", records=ALL)


@pytest.mark.parametrize("event", ["lose", "pause", "back", "reopen"])
def test_reason_required(engine, event):
    s = walk(engine, "needs")
    if event == "reopen":
        s = engine.fire(s, "lose", now=T, reason="gone").state
    with pytest.raises(TransitionRefused) as info:
        engine.fire(s, event, now=T, reason="   ")
    assert info.value.problems[0].code == "reason_required"


def test_shared_budget_of_learn_and_decision_maker(engine):
    s = walk(engine, "learn")  # entered learn at T + 1 day
    entered = s.stage_entered_at
    assert s.due_at == entered + 21 * DAY
    after = engine.fire(s, "advance", now=entered + 15 * DAY, records=ALL).state
    assert after.stage == "decision_maker"
    assert after.due_at == entered + 21 * DAY  # the same budget, not a fresh 21 days
    assert after.stage_entered_at == entered + 15 * DAY
    needs = engine.fire(after, "advance", now=entered + 16 * DAY, records=ALL).state
    assert needs.due_at == entered + 30 * DAY  # 16 + 14


def test_pause_does_not_count(engine):
    s = engine.start(T)
    paused = engine.fire(s, "pause", now=T + 5 * DAY, reason="customer annoyed").state
    assert paused.status == "paused" and paused.paused_at == T + 5 * DAY
    resumed = engine.fire(paused, "resume", now=T + 15 * DAY).state
    assert resumed.status == "active" and resumed.paused_at is None
    assert resumed.due_at == T + 31 * DAY
    assert resumed.warn_at == s.warn_at + 10 * DAY
    assert resumed.paused_seconds == 10 * 86400


def test_pause_carries_over_within_a_shared_budget(engine):
    s = walk(engine, "learn")
    entered = s.stage_entered_at
    s = engine.fire(s, "pause", now=entered + 2 * DAY, reason="r").state
    s = engine.fire(s, "resume", now=entered + 5 * DAY).state
    s = engine.fire(s, "advance", now=entered + 6 * DAY, records=ALL).state
    assert s.due_at == entered + 24 * DAY


def test_back_restarts_the_clock(engine):
    s = walk(engine, "needs")
    back = engine.fire(s, "back", now=T + 40 * DAY, reason="decision maker changed").state
    assert back.stage == "decision_maker"
    assert back.clock_started_at == T + 40 * DAY
    assert back.due_at == T + 61 * DAY
    assert back.clock_no == s.clock_no + 1


def test_lose_and_reopen(engine):
    s = walk(engine, "allocation")
    lost = engine.fire(s, "lose", now=T + 10 * DAY, reason="bought elsewhere").state
    assert lost.status == "lost" and lost.lost_reason == "bought elsewhere"
    assert lost.stage == "allocation"
    again = engine.fire(lost, "reopen", now=T + 60 * DAY, reason="came back").state
    assert (again.stage, again.status, again.lost_reason) == ("first_contact", "active", None)
    assert again.due_at == T + 81 * DAY


def test_lose_while_paused(engine):
    s = engine.fire(engine.start(T), "pause", now=T + DAY, reason="r").state
    lost = engine.fire(s, "lose", now=T + 2 * DAY, reason="moved away").state
    assert lost.status == "lost" and lost.paused_at is None


def test_no_meeting_needs_the_cadence_tried(engine):
    s = engine.start(T)
    with pytest.raises(TransitionRefused) as info:
        engine.fire(s, "no_meeting", now=T, records={"contact_log": {"institution_sms_at": "x"}})
    assert {p.field for p in info.value.problems} == {"manager_sms_at", "call_at"}
    tried = {"institution_sms_at": "a", "manager_sms_at": "b", "call_at": "c"}
    out = engine.fire(s, "no_meeting", now=T, records={"contact_log": tried})
    assert out.state.stage == "first_contact" and not out.stage_changed


def test_available_events_and_missing(engine):
    s = engine.start(T)
    assert engine.available_events(s, {}) == ["lose", "pause"]
    assert engine.available_events(s, ALL) == ["advance", "lose", "no_meeting", "pause"]
    assert [p.field for p in engine.missing(s, {})] == ["meeting_booked_at"]
    assert engine.missing(s, ALL) == []
    paused = engine.fire(s, "pause", now=T, reason="r").state
    assert engine.available_events(paused, ALL) == ["lose", "resume"]


def test_decisions_extend_and_restart(engine):
    s = walk(engine, "needs")
    ext = engine.extend(s, T + 30 * DAY)
    assert ext.due_at == T + 37 * DAY and ext.clock_no == s.clock_no + 1
    assert engine.extend(s, T + 30 * DAY, 3).due_at == T + 33 * DAY
    restarted = engine.restart_clock(s, T + 30 * DAY)
    assert restarted.due_at == T + 44 * DAY and restarted.clock_started_at == T + 30 * DAY


def test_firing_does_not_mutate_the_input(engine):
    s = engine.start(T)
    engine.fire(s, "advance", now=T + DAY, records=ALL)
    assert s.stage == "first_contact" and s.clock_no == 1


def test_shared_and_per_event_machines_agree():
    wf = load_workflow(DEFAULT_DIR / "seven_step.yaml")
    shared, single = Engine(wf, shared=True), Engine(wf, shared=False)
    a, b = shared.start(T), single.start(T)
    for i, event in enumerate(["advance", "advance", "pause", "resume", "advance", "back"]):
        now = T + (i + 1) * DAY
        a = shared.fire(a, event, now=now, records=ALL, reason="r").state
        b = single.fire(b, event, now=now, records=ALL, reason="r").state
    assert a == b


def test_threads_share_one_machine(engine):
    """Events fire on the shared machine without adding the state to it, so threads (a
    threaded server's requests) need no lock: each walk ends where a walk alone ends."""
    from concurrent.futures import ThreadPoolExecutor

    stages = ["learn", "needs", "close", "after_sale", "decision_maker", "allocation"]
    alone = {s: walk(engine, s) for s in stages}
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(lambda s: (s, walk(engine, s)), stages * 40))
    assert all(state == alone[s] for s, state in together)
    assert engine.machine.models == []  # nothing was left bound to the machine


def test_working_days_skip_weekends_and_chinese_holidays():
    cal = WorkingDays("CN", "Asia/Shanghai")
    # Friday 2026-09-25 10:00 Shanghai; National Day holiday runs 1-7 October 2026
    start = datetime(2026, 9, 25, 2, 0, tzinfo=UTC)
    due = cal.add_days(start, 5)
    local = due.astimezone(cal.tz)
    assert local.hour == 10
    counted = [d for d in (date(2026, 9, 26) + timedelta(days=i) for i in range(30))
               if cal.is_working_day(d) and d <= local.date()]
    assert len(counted) == 5
    assert not cal.is_working_day(date(2026, 10, 1))
    assert local.date() > date(2026, 10, 7)


def test_working_days_workflow():
    raw = {"key": "wd", "calendar": "working_days",
           "stages": [{"key": "a", "limit_days": 1, "records": []}, {"key": "b", "records": []}],
           "transitions": [{"event": "advance", "from": "a", "to": "b"}]}
    eng = Engine(parse_workflow(raw, "inline", GUARDS))
    friday = datetime(2026, 3, 6, 2, 0, tzinfo=UTC)
    assert eng.start(friday).due_at == datetime(2026, 3, 9, 2, 0, tzinfo=UTC)
