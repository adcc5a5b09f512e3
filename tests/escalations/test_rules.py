"""The pure rules: contact periods in the branch's time zone, contact frequency."""
from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.clock import parse
from pipeline.engine import load_workflow
from pipeline.escalations import rules
from pipeline.workflows import DEFAULT_DIR

TZ = "Asia/Shanghai"


def test_month_in_the_branch_time_zone():
    # 30 April 17:00 UTC is already 1 May in Shanghai.
    p = rules.period_containing(parse("2026-04-30T17:00:00Z"), "month", TZ)
    assert p.label == "2026-05"
    assert p.start == parse("2026-04-30T16:00:00Z") and p.end == parse("2026-05-31T16:00:00Z")


@pytest.mark.parametrize("moment, label, start", [
    ("2026-02-10T00:00:00Z", "2026-Q1", "2025-12-31T16:00:00Z"),
    ("2026-06-30T15:59:59Z", "2026-Q2", "2026-03-31T16:00:00Z"),
    ("2026-12-31T16:00:00Z", "2027-Q1", "2026-12-31T16:00:00Z"),
])
def test_quarters(moment, label, start):
    p = rules.period_containing(parse(moment), "quarter", TZ)
    assert (p.label, p.start) == (label, parse(start))


def test_first_full_period_is_judged_first():
    won = parse("2026-03-02T01:00:00Z")
    assert rules.period_to_judge(parse("2026-04-05T00:00:00Z"), won, "month", TZ) is None
    judged = rules.period_to_judge(parse("2026-05-02T00:00:00Z"), won, "month", TZ)
    assert judged.label == "2026-04"
    assert rules.next_check(parse("2026-05-02T00:00:00Z"), "month", TZ) == parse(
        "2026-05-31T16:00:00Z")


@pytest.mark.parametrize("require, counts, missing", [
    ({"visit": 1}, {}, {"visit": (0, 1)}),
    ({"visit": 1}, {"meeting": 1}, {}),  # meeting the customer counts as a visit
    ({"visit": 1, "call": 1}, {"visit": 2}, {"call": (0, 1)}),
    ({"call": 1, "sms": 1}, {"call": 1, "sms": 3}, {}),
    ({"any": 1}, {"wechat": 1}, {}),
    ({"any": 2}, {"sms": 1}, {"any": (1, 2)}),
])
def test_shortfall(require, counts, missing):
    assert rules.shortfall(require, counts) == missing


def test_unknown_period_is_refused():
    with pytest.raises(ValueError):
        rules.period_containing(parse("2026-01-01T00:00:00Z"), "week", TZ)


def test_rules_are_pure():
    code = ("import sys, pipeline.escalations.rules; "
            "bad = [m for m in ('flask', 'sqlalchemy') if m in sys.modules]; "
            "sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize("assets, potential, tier, period, require", [
    (6_000_000, "low", "diamond", "month", {"call": 1}),  # the cell, not the tier's visit
    (120_000, "high", "gold", "month", {"call": 2}),
    (200_000, "high", "platinum", "month", {"visit": 1, "call": 2}),
    (10_000, "low", "diamond", "quarter", {"any": 1}),
    (6_000_000, None, "diamond", "month", {"visit": 1}),  # no potential: the tier's
    (None, "high", "gold", "quarter", {"any": 1}),  # no assets: the tier's
])
def test_the_contact_frequency_is_the_cell_s_with_a_potential(assets, potential, tier, period,
                                                               require):
    wf = load_workflow(DEFAULT_DIR / "seven_step.yaml")
    upkeep = next(s.key for s in wf.stages if s.contact_frequency)
    freq = rules.contact_frequency(wf, upkeep, tier, assets, potential)
    assert (freq.period, dict(freq.require)) == (period, require)
    # A stage without frequencies holds nobody to one.
    assert rules.contact_frequency(wf, wf.stage_keys[0], tier, assets, potential) is None
