"""Templates as data: the loader checks them, segments are counted by the SMS rules,
placeholders are filled in."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from pipeline.engine.definition import WorkflowError, load_workflow, parse_workflow
from pipeline.engine.guards import GUARDS
from pipeline.messages.text import render, segments

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "workflows" / "seven_step.yaml"
RAW = yaml.safe_load(SOURCE.read_text(encoding="utf-8"))


def load(change) -> None:
    raw = copy.deepcopy(RAW)
    change(raw)
    parse_workflow(raw, "test.yaml", GUARDS)


def step(raw, key):
    return next(c for c in raw["stages"][0]["cadence"] if c["key"] == key)


def test_the_workflow_file_carries_the_seed_templates():
    wf = load_workflow(SOURCE)
    msgs = wf.messages
    assert set(msgs.templates) == {"institution_sms", "manager_sms", "call_script",
                                   "lead_call_script"}
    assert msgs.templates["institution_sms"].text.zh_CN.endswith("【兴业银行】")
    assert "专属客户经理{manager_name}" in msgs.templates["institution_sms"].text.zh_CN
    assert msgs.templates["call_script"].kind == "script"
    steps = {s.key: s for s in wf.stage("first_contact").cadence}
    assert (steps["institution_sms"].send, steps["manager_sms"].send) == ("auto", "click")
    assert steps["call"].cancelled_by == msgs.reply_field
    assert wf.escalation.lead_call_after_step == "call"
    assert (wf.escalation.lead_call_after_days, wf.escalation.lead_call_within_days) == (2, 3)


@pytest.mark.parametrize(("change", "key", "message"), [
    (lambda r: r["messages"]["templates"]["manager_sms"]["text"].update(
        zh_CN="尊敬的{customer}"), "messages.templates.manager_sms.text.zh_CN",
     "unknown placeholder {customer}"),
    (lambda r: r["messages"]["templates"]["manager_sms"]["text"].update(en="Hi {}"),
     "messages.templates.manager_sms.text.en", "empty placeholder"),
    (lambda r: r["messages"]["templates"]["manager_sms"]["text"].update(
        en="Hi {customer_name:>10}"), "messages.templates.manager_sms.text.en", "no format"),
    (lambda r: r["messages"]["templates"]["manager_sms"]["text"].update(en="Hi {x"),
     "messages.templates.manager_sms.text.en", "not a valid template"),
    (lambda r: r["messages"]["templates"]["manager_sms"].update(kind="fax"),
     "messages.templates.manager_sms.kind", "must be one of"),
    (lambda r: step(r, "manager_sms").update(template="nope"),
     "stages.first_contact.cadence.manager_sms.template", "unknown message template"),
    (lambda r: step(r, "call").update(send="click"),
     "stages.first_contact.cadence.call.send", "only a step with an SMS template"),
    (lambda r: step(r, "call").update(cancelled_by="replied"),
     "stages.first_contact.cadence.call.cancelled_by", "unknown field"),
    (lambda r: r["messages"].update(reply_field="nope"), "messages.reply_field",
     "unknown field"),
    (lambda r: r["escalation"].update(lead_call_after_step="nope"),
     "escalation.lead_call_after_step", "unknown cadence step"),
    (lambda r: r["escalation"].update(lead_call_script="manager_sms"),
     "escalation.lead_call_script", "unknown script template"),
    (lambda r: r["escalation"].update(lead_call_within_days=1),
     "escalation.lead_call_within_days", "at least lead_call_after_days"),
])
def test_the_loader_names_the_file_and_key(change, key, message):
    with pytest.raises(WorkflowError) as exc:
        load(change)
    assert exc.value.source == "test.yaml" and exc.value.key == key
    assert message in exc.value.problem


@pytest.mark.parametrize(("text", "encoding", "units", "count"), [
    ("", "gsm7", 0, 0),
    ("a" * 160, "gsm7", 160, 1),
    ("a" * 161, "gsm7", 161, 2),
    ("a" * 306, "gsm7", 306, 2),
    ("a" * 307, "gsm7", 307, 3),
    ("[x]" * 62, "gsm7", 310, 3),  # 186 characters, but [ and ] take two each
    ("中" * 70, "ucs2", 70, 1),
    ("中" * 71, "ucs2", 71, 2),
    ("中" * 134, "ucs2", 134, 2),
    ("中" * 135, "ucs2", 135, 3),
    ("a" * 69 + "é" + "中", "ucs2", 71, 2),
    ("😀" * 35, "ucs2", 70, 1),  # outside the BMP: two units each
])
def test_segments_follow_the_sms_rules(text, encoding, units, count):
    s = segments(text)
    assert (s.encoding, s.units, s.count) == (encoding, units, count)
    assert s.per_part == ((160 if encoding == "gsm7" else 70) if count <= 1
                          else (153 if encoding == "gsm7" else 67))


def test_render_fills_every_placeholder_and_leaves_the_rest():
    assert render("尊敬的{customer_name}{customer_title}，{manager_name} {manager_phone}",
                  {"customer_name": "王芳", "customer_title": "女士", "manager_name": "李明",
                   "manager_phone": "139"}) == "尊敬的王芳女士，李明 139"
    assert render("{branch}!", {}) == "!"
    with pytest.raises(ValueError, match="unknown placeholder"):
        render("{customer_name.__class__}", {"customer_name": "x"})
