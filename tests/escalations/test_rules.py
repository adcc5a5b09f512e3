"""The pure rules: contact periods in the branch's time zone, contact frequency."""
from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.clock import parse
from pipeline.escalations import rules

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
