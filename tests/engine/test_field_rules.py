"""Field rules from the workflow file: formats, bounds and when a moment may lie."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from marshmallow import ValidationError

from pipeline import workflows
from pipeline.engine.definition import WorkflowError, load_workflow
from pipeline.engine.records import validate_record

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def field_with_format(fmt: str):
    """A record of the default workflow with a field of format ``fmt``, and that field."""
    wf = workflows.workflow()
    found = [(r, f) for s in wf.stages for r in s.records for f in r.fields if f.format == fmt]
    assert found, f"no field of format {fmt}"
    return found[0]


@pytest.mark.parametrize(("fmt", "bad", "good", "stored"), [
    ("mobile", "abc-not-a-phone", "138 0013 8000", "13800138000"),
    ("id_number", "123", " 110101198001011232 ", "110101198001011232"),
    ("phone", "call me", "010-6512 3456", "010-6512 3456"),
])
def test_formatted_fields_refuse_what_is_not_a_number_of_that_kind(fmt, bad, good, stored):
    record, f = field_with_format(fmt)
    with pytest.raises(ValidationError) as exc:
        validate_record(record, {f.key: bad}, now=NOW)
    assert f.key in exc.value.messages
    assert validate_record(record, {f.key: good}, now=NOW)[f.key] == stored


def test_bounds_refuse_absurd_numbers():
    wf = workflows.workflow()
    bounded = [(r, f) for s in wf.stages for r in s.records for f in r.fields
               if f.max is not None]
    assert bounded
    for record, f in bounded:
        too_big = f.max + 1 if f.type == "integer" else f.max * 10
        with pytest.raises(ValidationError) as exc:
            validate_record(record, {f.key: too_big}, now=NOW)
        assert f.key in exc.value.messages
        assert validate_record(record, {f.key: f.max}, now=NOW)[f.key] == f.max


def test_done_moments_are_not_in_the_future_and_planned_ones_not_in_the_past():
    wf = workflows.workflow()
    fields = [(r, f) for s in wf.stages for r in s.records for f in r.fields if f.when]
    assert {f.when for _r, f in fields} == {"past", "upcoming"}
    for record, f in fields:
        later, earlier = NOW + timedelta(days=365 * 3), NOW - timedelta(days=365 * 3)
        wrong, right = (later, earlier) if f.when == "past" else (earlier, later)
        with pytest.raises(ValidationError) as exc:
            validate_record(record, {f.key: wrong.isoformat()}, now=NOW)
        assert f.key in exc.value.messages
        assert validate_record(record, {f.key: right.isoformat()}, now=NOW)[f.key]


@pytest.mark.parametrize(("field", "problem"), [
    ("{key: x, type: number, format: mobile}", "format"),
    ("{key: x, type: string, when: past}", "when"),
    ("{key: x, type: datetime, when: someday}", "when"),
    ("{key: x, type: string, min: 1}", "min"),
    ("{key: x, type: integer, min: 5, max: 1}", "min"),
    ("{key: x, type: string, from: nowhere}", "from"),
    ("{key: x, type: string, from: customer.salary}", "from"),
    ("{key: x, type: string, from: info_sheet.no_such_field}", "from"),
    ("{key: x, type: string, derived: true}", "derived"),
])
def test_rules_that_do_not_fit_the_field_are_refused_at_load(tmp_path, field, problem):
    source = (workflows.DEFAULT_DIR / "seven_step.yaml").read_text(encoding="utf-8")
    broken = source.replace("          - {key: notes, type: text, counts: false,",
                            f"          - {field}\n          - {{key: notes, type: text, counts: false,", 1)
    path = tmp_path / "broken.yaml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(WorkflowError) as exc:
        load_workflow(path)
    assert exc.value.key.endswith(f".x.{problem}")
