"""Due dates: stage limits, shared budgets, pauses and calendars.

Calendar days by default; a workflow may count working days on a holiday calendar
(mainland China's by default, from the maintained ``holidays`` package, which knows the
official make-up working days).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo


class CalendarDays:
    name = "calendar_days"

    def add_days(self, start: datetime, days: int) -> datetime:
        return start + timedelta(days=days)


class WorkingDays:
    """Adds working days in the branch's time zone, keeping the time of day."""

    name = "working_days"

    def __init__(self, country: str = "CN", tz: str = "Asia/Shanghai") -> None:
        self.country = country
        self.tz = ZoneInfo(tz)

    def is_working_day(self, day: date) -> bool:
        return bool(_holidays(self.country, day.year).is_working_day(day))

    def add_days(self, start: datetime, days: int) -> datetime:
        local = start.astimezone(self.tz)
        day = local.date()
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        due_local = datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=self.tz)
        return due_local.astimezone(start.tzinfo)


@lru_cache(maxsize=64)
def _holidays(country: str, year: int):  # noqa: ANN202 - the holidays package's own type
    import holidays

    return holidays.country_holidays(country, years=year)


def calendar_for(kind: str, country: str = "CN", tz: str = "Asia/Shanghai"):
    if kind == "working_days":
        return WorkingDays(country, tz)
    return CalendarDays()


def due_at(calendar, clock_started_at: datetime, limit_days: int | None,
           paused_seconds: int = 0) -> datetime | None:
    """When a stage clock started at ``clock_started_at`` runs out; None for no limit."""
    if limit_days is None:
        return None
    return calendar.add_days(clock_started_at, limit_days) + timedelta(seconds=paused_seconds)


def warn_at(due: datetime | None, span: timedelta, share: float) -> datetime | None:
    """The moment ``share`` of the clock's span has run: ``due - (1 - share) * span``."""
    if due is None:
        return None
    return due - span * (1 - share)
