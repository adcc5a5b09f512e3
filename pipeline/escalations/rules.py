"""The escalation rules as plain functions: periods, contact frequency, backoff.

PURE: imports neither Flask nor SQLAlchemy, so the sweep's decisions can be tested (and
reasoned about) without a database.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pipeline.engine.definition import Frequency, Workflow

# A face-to-face meeting satisfies a required visit; every other kind counts only as itself.
SATISFIES: Mapping[str, frozenset[str]] = {
    "visit": frozenset({"visit", "meeting"}),
}


@dataclass(frozen=True)
class Period:
    """A calendar month or quarter in the branch's time zone, as UTC instants."""

    kind: str  # month | quarter
    label: str  # 2026-04 or 2026-Q2
    start: datetime
    end: datetime


def _first_month(kind: str, month: int) -> int:
    return month if kind == "month" else 3 * ((month - 1) // 3) + 1


def _shift(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def period_containing(moment: datetime, kind: str, tz: str) -> Period:
    """The month or quarter (in ``tz``) that contains ``moment``."""
    if kind not in ("month", "quarter"):
        raise ValueError(f"unknown period {kind!r}")
    zone = ZoneInfo(tz)
    local = moment.astimezone(zone)
    month = _first_month(kind, local.month)
    start_local = datetime(local.year, month, 1, tzinfo=zone)
    ny, nm = _shift(local.year, month, 1 if kind == "month" else 3)
    end_local = datetime(ny, nm, 1, tzinfo=zone)
    label = (f"{local.year}-{month:02d}" if kind == "month"
             else f"{local.year}-Q{(month - 1) // 3 + 1}")
    return Period(kind, label, start_local.astimezone(UTC),
                  end_local.astimezone(UTC))


def previous_period(period: Period, tz: str) -> Period:
    return period_containing(period.start - timedelta(seconds=1), period.kind, tz)


def period_to_judge(now: datetime, entered_at: datetime, kind: str, tz: str) -> Period | None:
    """The last period that has ended by ``now``, if the customer was in after-sale for the
    whole of it (a customer won mid-month is first judged on the first full period)."""
    last = previous_period(period_containing(now, kind, tz), tz)
    return last if entered_at <= last.start else None


def next_check(now: datetime, kind: str, tz: str) -> datetime:
    """When the period running at ``now`` ends: the next time the sweep looks again."""
    return period_containing(now, kind, tz).end


def contact_frequency(workflow: Workflow, stage: str, tier: str, assets: float | None,
                      potential: str | None) -> Frequency | None:
    """The contact frequency a customer in ``stage`` is held to: none where the stage keeps
    no frequencies; the frequency of the customer's cell of the tiering grid (asset size ×
    potential) when the customer has a potential and assets; else the tier's."""
    by_tier = workflow.stage(stage).contact_frequency
    if not by_tier:
        return None
    if workflow.tiering is not None and potential is not None and assets is not None:
        return workflow.tiering.frequency_for(assets, potential)
    return by_tier.get(tier)


def shortfall(require: Mapping[str, int], counts: Mapping[str, int]) -> dict[str, tuple[int, int]]:
    """What a period's contacts lack: ``{kind: (done, required)}``; empty when met.

    ``counts`` are contacts per kind in the period; ``any`` is met by contacts of any kind.
    """
    missing: dict[str, tuple[int, int]] = {}
    for kind, needed in require.items():
        if kind == "any":
            done = sum(counts.values())
        else:
            done = sum(counts.get(k, 0) for k in SATISFIES.get(kind, frozenset({kind})))
        if done < needed:
            missing[kind] = (done, needed)
    return missing


def contact_counts(rows: Iterable[tuple[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for kind, n in rows:
        out[kind] = out.get(kind, 0) + int(n)
    return out


def level2_due(opened_at: datetime, add_days, days: int) -> datetime:
    """When an undecided level-1 escalation goes to the supervisor (``add_days`` is the
    workflow calendar's day arithmetic)."""
    return add_days(opened_at, days)


def retry_delay(attempts: int, *, base_seconds: int = 60, cap_seconds: int = 6 * 3600) -> timedelta:
    """Backoff before the next delivery attempt: 1, 2, 4 … minutes, at most six hours."""
    return timedelta(seconds=min(cap_seconds, base_seconds * 2 ** max(attempts - 1, 0)))


def overdue_by(due_at: datetime | None, now: datetime) -> timedelta | None:
    if due_at is None or due_at >= now:
        return None
    return now - due_at
