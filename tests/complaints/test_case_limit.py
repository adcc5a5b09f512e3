"""The whole-case limit and its extensions as data (pure: no database): what the loader
refuses, and the engine's clock across steps, pauses and extensions."""
from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from pipeline.engine import WorkflowError, load_workflow
from pipeline.engine.definition import parse_workflow
from pipeline.engine.guards import GUARDS
from pipeline.engine.machine import Engine, NoExtensionLeft, NotPermitted
from pipeline.workflows import DEFAULT_DIR

COMPLAINT = DEFAULT_DIR / "complaint.yaml"
T = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
RAW = yaml.safe_load(COMPLAINT.read_text(encoding="utf-8"))


def parse(change) -> object:  # noqa: ANN001
    raw = copy.deepcopy(RAW)
    change(raw)
    return parse_workflow(raw, "complaint.yaml", GUARDS)


def test_the_complaint_file_loads():
    wf = load_workflow(COMPLAINT)
    assert wf.case_limit.days == 15
    assert [(x.to_days, x.by) for x in wf.case_limit.extensions] == [
        (30, ("team_lead", "supervisor")), (60, ("supervisor",))]
    assert {wf.limit_days(k) for k in wf.stage_keys} == {15}
    assert wf.escalation.overdue_kind == "complaint_overdue"
    assert set(wf.dimensions) == {"channel", "cause"}


@pytest.mark.parametrize(("change", "where"), [
    (lambda r: r["stages"][0].update(limit_days=3), "stages.receive.limit_days"),
    (lambda r: r["case_limit"]["extensions"][1].update(to_days=20),
     "case_limit.extensions[1].to_days"),
    (lambda r: r["case_limit"]["extensions"][0].update(by=["teller"]),
     "case_limit.extensions[0].by"),
    (lambda r: r.pop("case_limit"), "transitions"),
    (lambda r: r.update(transitions=[t for t in r["transitions"] if t["event"] != "extend"]),
     "case_limit.extensions"),
    (lambda r: r["escalation"].update(overdue_kind="late"), "escalation.overdue_kind"),
    (lambda r: r["dimensions"].update(cause={"record": "receipt", "field": "nothing"}),
     "dimensions.cause.field"),
    (lambda r: r["dimensions"].update(cause={"record": "nothing", "field": "x"}),
     "dimensions.cause.record"),
])
def test_the_loader_names_what_is_wrong(change, where):
    with pytest.raises(WorkflowError) as info:
        parse(change)
    assert info.value.key == where


def test_one_clock_across_steps_pauses_and_extensions():
    raw = copy.deepcopy(RAW)
    steps = [s["key"] for s in raw["stages"][:7]]
    raw["transitions"] += [{"event": "pause", "from": steps, "guards": ["reason_given"]},
                           {"event": "resume", "from": steps}]
    engine = Engine(parse_workflow(raw, "complaint.yaml", GUARDS))
    state = engine.create(T).state
    assert (state.due_at, state.warn_at) == (T + timedelta(days=15), T + timedelta(days=12))
    moved = engine.transition(state, "advance", now=T + timedelta(days=3))
    assert moved.state.due_at == state.due_at and moved.state.clock_no == state.clock_no
    assert moved.escalations == ()  # the case's escalation, if any, stays open
    paused = engine.fire(moved.state, "pause", now=T + timedelta(days=4), reason="abroad")
    resumed = engine.fire(paused.state, "resume", now=T + timedelta(days=6)).state
    assert resumed.due_at == T + timedelta(days=17)
    with pytest.raises(NotPermitted):
        engine.fire(resumed, "extend", now=T + timedelta(days=7), reason="x", role="manager")
    first = engine.fire(resumed, "extend", now=T + timedelta(days=7), reason="x",
                        role="team_lead")
    # 30 days from receipt, the paused two days added; warned again at 80 % of 30 days.
    assert first.state.due_at == T + timedelta(days=32)
    assert first.state.warn_at == T + timedelta(days=32 - 6)
    assert first.state.clock_no == resumed.clock_no + 1
    assert [c.action for c in first.escalations] == ["close_ended"]
    assert "extend" not in engine.available_events(first.state, {}, role="team_lead")
    assert "extend" in engine.available_events(first.state, {}, role="supervisor")
    second = engine.fire(first.state, "extend", now=T + timedelta(days=8), reason="y",
                         role="supervisor")
    assert second.state.due_at == T + timedelta(days=62)
    with pytest.raises(NoExtensionLeft):
        engine.fire(second.state, "extend", now=T + timedelta(days=9), reason="z",
                    role="supervisor")
