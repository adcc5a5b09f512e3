"""Each code has one definition (the workflow definition's tuples) and one name per language
(``pipeline.labels``), and every name is translated."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from pipeline import labels
from pipeline.engine import definition
from pipeline.escalations.models import KINDS

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "pipeline"


@pytest.mark.parametrize("table, codes", [
    (labels.TIERS, definition.TIERS),
    (labels.STATUSES, definition.STATUSES),
    (labels.POTENTIALS, definition.POTENTIALS),
    (labels.CONTACT_KINDS, definition.CONTACT_KINDS),
    (labels.CONTACT_OUTCOMES, definition.CONTACT_OUTCOMES),
    (labels.EVENT_ACTIONS, definition.EVENTS),
    (labels.DECISIONS, definition.DECISIONS),
    (labels.ESCALATION_KINDS, KINDS),
])
def test_every_code_has_its_name_in_the_definitions_order(table, codes):
    assert tuple(table) == codes


def test_every_event_has_its_history_names():
    for table in (labels.HISTORY, labels.PROSPECT_HISTORY, labels.QUEUE_HISTORY):
        assert set(definition.EVENTS) <= set(table)


def test_every_name_is_translated_to_chinese():
    translated: dict[str, str] = {}
    for po in PIPELINE.glob("**/translations/zh_CN/LC_MESSAGES/messages.po"):
        with po.open("rb") as f:
            for message in read_po(f):
                if message.id and message.string:
                    translated[message.id if isinstance(message.id, str) else message.id[0]] = \
                        message.string
    found = [message for _line, message, _comments, _ctx in extract_from_file(
        "python", str(PIPELINE / "labels.py"), keywords={"_l": None})]
    assert len(found) > 80
    assert sorted(m for m in found if m not in translated) == []


VALUE_TUPLES = {"TIERS", "STATUSES", "EVENTS", "CONTACT_KINDS", "CONTACT_OUTCOMES",
                "DECISIONS", "POTENTIALS"}


def test_the_codes_are_defined_only_by_the_workflow_definition():
    defined = []
    for path in [*PIPELINE.rglob("*.py"), *(ROOT / "bench").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id in VALUE_TUPLES:
                        defined.append(f"{path.relative_to(ROOT)}:{target.id}")
    assert sorted(set(defined)) == sorted(f"pipeline/engine/definition.py:{name}"
                                     for name in VALUE_TUPLES)
