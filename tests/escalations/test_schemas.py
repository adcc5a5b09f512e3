"""The decision schema: what the API, the queue's form and the service accept."""
from __future__ import annotations

import pytest

from pipeline.errors import Invalid
from pipeline.escalations.schemas import DecideEscalation
from pipeline.validation import load


def refused(data) -> dict:  # noqa: ANN001
    with pytest.raises(Invalid) as info:
        load(DecideEscalation, data)
    assert info.value.code == "invalid" and info.value.status == 422
    return info.value.details


@pytest.mark.parametrize("data, values", [
    ({"decision": "continue"},
     {"decision": "continue", "extend_days": None, "new_owner": None, "note": None}),
    ({"decision": "continue", "extend_days": 10, "new_owner": None, "note": "  "},
     {"decision": "continue", "extend_days": 10, "new_owner": None, "note": None}),
    ({"decision": "reassign", "new_owner": 7, "note": "fresh start"},
     {"decision": "reassign", "extend_days": None, "new_owner": 7, "note": "fresh start"}),
    ({"decision": "reassign", "new_owner": " li@bank.test "},
     {"decision": "reassign", "extend_days": None, "new_owner": "li@bank.test", "note": None}),
    ({"decision": "abandon", "note": " moved abroad "},
     {"decision": "abandon", "extend_days": None, "new_owner": None, "note": "moved abroad"}),
])
def test_decisions_load(data, values):
    assert load(DecideEscalation, data) == values
    assert load(DecideEscalation, values) == values


@pytest.mark.parametrize("data, field", [
    ({}, "decision"),
    ({"decision": "later"}, "decision"),
    ({"decision": None}, "decision"),
    ({"decision": "continue", "extend_days": 0}, "extend_days"),
    ({"decision": "continue", "extend_days": 91}, "extend_days"),
    ({"decision": "continue", "extend_days": "10"}, "extend_days"),
    ({"decision": "reassign"}, "new_owner"),
    ({"decision": "reassign", "new_owner": 0}, "new_owner"),
    ({"decision": "reassign", "new_owner": True}, "new_owner"),
    ({"decision": "reassign", "new_owner": "someone"}, "new_owner"),
    ({"decision": "abandon"}, "note"),
    ({"decision": "abandon", "note": "   "}, "note"),
    ({"decision": "continue", "note": "n" * 4001}, "note"),
    ({"decision": "continue", "colour": "red"}, "colour"),
])
def test_bad_decisions_name_the_field(data, field):
    assert field in refused(data)
