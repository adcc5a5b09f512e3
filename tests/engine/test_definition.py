"""Loading and validating workflow files."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.engine import WorkflowError, load_workflow
from pipeline.workflows import DEFAULT_DIR

SEVEN = DEFAULT_DIR / "seven_step.yaml"


def test_seven_step_loads_with_the_contract_keys():
    wf = load_workflow(SEVEN)
    assert wf.key == "seven_step"
    assert wf.stage_keys == ("first_contact", "learn", "decision_maker", "needs", "allocation",
                             "close", "after_sale")
    assert [wf.limit_days(k) for k in wf.stage_keys] == [21, 21, 21, 14, 7, 7, None]
    assert wf.stage("learn").budget == wf.stage("decision_maker").budget is not None
    assert wf.escalation.warn_at == 0.8 and wf.escalation.level2_after_days == 2
    assert wf.stage("learn").name.zh_CN == "了解熟悉客户"
    assert [c.offset_hours for c in wf.stage("first_contact").cadence] == [0, 24, 48]
    freq = wf.stage("after_sale").contact_frequency
    assert dict(freq["black_gold"].require) == {"visit": 1, "call": 1}
    assert freq["gold"].period == "quarter"
    records = {r.key for s in wf.stages for r in s.records}
    assert records == {"contact_log", "info_sheet", "decision_maker", "needs_sheet", "proposals",
                       "closing_checklist"}


def test_definition_is_frozen():
    wf = load_workflow(SEVEN)
    with pytest.raises(AttributeError):
        wf.key = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        wf.budgets["x"] = 1  # type: ignore[index]


def _mutated(tmp_path: Path, change) -> Path:  # noqa: ANN001
    raw = yaml.safe_load(SEVEN.read_text(encoding="utf-8"))
    change(raw)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def _stage(raw: dict, key: str) -> dict:
    return next(s for s in raw["stages"] if s["key"] == key)


@pytest.mark.parametrize("change, key, words", [
    (lambda r: r["transitions"][0]["guards"].append("nobody_knows"),
     "transitions[0] (advance).guards", "unknown transition guard 'nobody_knows'"),
    (lambda r: _stage(r, "first_contact")["records"][0].update(complete_when="nope"),
     "stages.first_contact.records.contact_log.complete_when", "unknown record guard"),
    (lambda r: r["transitions"][1].update({"from": "closing"}),
     "transitions[1] (win).from", "unknown stage 'closing'"),
    (lambda r: r["transitions"][1].update(to="heaven"),
     "transitions[1] (win).to", "transition to unknown stage 'heaven'"),
    (lambda r: r["transitions"][0]["from"].append("after_sale"),
     "transitions[0] (advance).to", "has no next stage"),
    (lambda r: _stage(r, "needs").update(limit_days=0),
     "stages.needs.limit_days", "positive number of days"),
    (lambda r: _stage(r, "needs")["records"][0].update(example={"complete": {"hobby": "x"}}),
     "stages.needs.records.needs_sheet.example.complete", "unknown field 'hobby'"),
    (lambda r: _stage(r, "needs")["records"][0].update(example={"done": {}}),
     "stages.needs.records.needs_sheet.example.done", "not a known key"),
    (lambda r: _stage(r, "needs").update(limit_days="two weeks"),
     "stages.needs.limit_days", "positive number of days"),
    (lambda r: r["budgets"].update(learn_and_decision_maker=-3),
     "budgets.learn_and_decision_maker", "positive number of days"),
    (lambda r: _stage(r, "needs")["records"][0]["fields"][0].update(type="colour"),
     "stages.needs.records.needs_sheet.fields.life_stage.type", "unknown field type"),
    (lambda r: r["transitions"].append({"event": "teleport", "from": "needs"}),
     "transitions[10].event", "unknown event 'teleport'"),
    (lambda r: _stage(r, "first_contact")["records"][0]["params"].update(field="ghost"),
     "stages.first_contact.records.contact_log.params", "ghost"),
    (lambda r: _stage(r, "needs")["records"][0]["params"].update(fields=["life_stage", "hobby"]),
     "stages.needs.records.needs_sheet.params", "fields_set needs params.fields"),
    (lambda r: _stage(r, "needs")["records"][0].update(params={}),
     "stages.needs.records.needs_sheet.params", "fields_set needs params.fields"),
    (lambda r: _stage(r, "allocation")["records"][0]["params"].update(chosen="winner"),
     "stages.allocation.records.proposals.params", "params.options and params.chosen"),
    (lambda r: _stage(r, "allocation")["records"][0]["params"].update(min=4),
     "stages.allocation.records.proposals.params", "params.min <= params.max"),
    (lambda r: _stage(r, "close")["records"][0]["params"].update(rating="product"),
     "stages.close.records.closing_checklist.params", "params.rating naming"),
    (lambda r: _stage(r, "close")["records"][0]["params"].update(steps=[]),
     "stages.close.records.closing_checklist.params", "params.steps"),
    (lambda r: _stage(r, "after_sale")["contact_frequency"].update(silver={"period": "month",
                                                                           "require": {"call": 1}}),
     "stages.after_sale.contact_frequency.silver", "unknown tier"),
    (lambda r: r["stages"].append(dict(_stage(r, "needs"), records=[])),
     "stages", "appears twice"),
    (lambda r: r.update(escalation={"warn_at": 1.5}), "escalation.warn_at", "between 0 and 1"),
    (lambda r: _stage(r, "learn").update(budget="mystery"),
     "stages.learn.budget", "unknown budget"),
    # tiering
    (lambda r: r.update(tiering=[1, 2]), "tiering", "must be a mapping"),
    (lambda r: r["tiering"].update(bands={}), "tiering.bands", "is not a known key"),
    (lambda r: r["tiering"]["thresholds"].pop("platinum"),
     "tiering.thresholds.platinum", "is missing"),
    (lambda r: r["tiering"]["thresholds"].update(silver=10_000),
     "tiering.thresholds.silver", "unknown tier"),
    (lambda r: r["tiering"]["thresholds"].update(gold=0),
     "tiering.thresholds.gold", "positive amount"),
    (lambda r: r["tiering"]["thresholds"].update(gold="50k"),
     "tiering.thresholds.gold", "positive amount"),
    (lambda r: r["tiering"]["thresholds"].update(platinum=1_000_000),
     "tiering.thresholds.platinum", "must be below black_gold's threshold (1,000,000)"),
    (lambda r: r["tiering"].pop("high_assets"), "tiering.high_assets", "positive amount"),
    (lambda r: r["tiering"].update(high_assets=-5), "tiering.high_assets", "positive amount"),
    (lambda r: r["tiering"]["upkeep"].pop("low"), "tiering.upkeep.low", "must be a mapping"),
    (lambda r: r["tiering"]["upkeep"].update(middle={}),
     "tiering.upkeep.middle", "unknown asset level"),
    (lambda r: r["tiering"]["upkeep"]["high"].pop("low"),
     "tiering.upkeep.high.low", "is missing"),
    (lambda r: r["tiering"]["upkeep"]["low"].update(some={}),
     "tiering.upkeep.low.some", "unknown potential"),
    (lambda r: r["tiering"]["upkeep"]["high"]["high"].update(period="week"),
     "tiering.upkeep.high.high.period", "must be one of month, quarter"),
    (lambda r: r["tiering"]["upkeep"]["low"]["high"]["require"].update(fax=1),
     "tiering.upkeep.low.high.require.fax", "unknown contact kind"),
    (lambda r: r["tiering"]["upkeep"]["low"]["high"]["require"].update(call=0),
     "tiering.upkeep.low.high.require.call", "positive"),
    (lambda r: r["tiering"]["upkeep"]["low"]["low"].update(require={}),
     "tiering.upkeep.low.low.require", "at least one contact kind"),
    (lambda r: r["tiering"]["upkeep"]["low"]["low"].update(name={"en": "Low"}),
     "tiering.upkeep.low.low.name", "needs a name in zh_CN"),
    (lambda r: r["tiering"]["upkeep"]["low"]["low"].update(colour="red"),
     "tiering.upkeep.low.low.colour", "is not a known key"),
])
def test_bad_files_are_refused_naming_file_and_key(tmp_path, change, key, words):
    path = _mutated(tmp_path, change)
    with pytest.raises(WorkflowError) as info:
        load_workflow(path)
    assert info.value.source == str(path)
    assert info.value.key == key
    assert words in str(info.value)
    assert str(path) in str(info.value)


def test_a_workflow_without_tiering_has_none(tmp_path):
    wf = load_workflow(_mutated(tmp_path, lambda r: r.pop("tiering")))
    assert wf.tiering is None


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("key: x\nstages: [\n  - {key: a\n", encoding="utf-8")
    with pytest.raises(WorkflowError) as info:
        load_workflow(path)
    assert info.value.key.startswith("line ")
    assert "not valid YAML" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(WorkflowError, match="does not exist"):
        load_workflow(tmp_path / "nothing.yaml")


def test_suitability_ranks_by_the_fields_own_choices(tmp_path):
    """The checklist guard compares positions in each field's choices, whatever they are
    called: a workflow with its own risk scales needs no code."""
    from pipeline.engine.guards import GUARDS

    def scales(raw):
        fields = _stage(raw, "close")["records"][0]["fields"]
        for f in fields:
            if f["key"] == "customer_risk_level":
                f["choices"] = ["cautious", "balanced", "bold"]
            if f["key"] == "product_risk_level":
                f["choices"] = ["low", "medium", "high"]
    record = load_workflow(_mutated(tmp_path, scales)).record("closing_checklist")
    steps = {s: True for s in record.params["steps"]}
    check = GUARDS[record.complete_when]
    ok = check(record, {**steps, "customer_risk_level": "balanced",
                        "product_risk_level": "medium"})
    assert ok == []
    refused = check(record, {**steps, "customer_risk_level": "balanced",
                             "product_risk_level": "high"})
    assert [p.code for p in refused] == ["risk_mismatch"]
    missing = check(record, {"customer_risk_level": "C3", "product_risk_level": "low"})
    assert {p.field for p in missing} == set(record.params["steps"]) | {"customer_risk_level"}
