"""The one source of "now" for the whole product.

Every timestamp the product writes comes from :func:`now`, never from the database
server, and is an aware UTC datetime.  Tests and backfills may move the clock with
:func:`set_now` / :func:`travel`; production never does (``create_app`` refuses a
fixed clock when ``PIPELINE_ENV=production``).
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

UTC = UTC

_lock = threading.Lock()
_fixed: datetime | None = None


def now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    fixed = _fixed
    if fixed is not None:
        return fixed
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Interpret a naive datetime as UTC and convert an aware one to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse(text: str) -> datetime:
    """Parse an ISO-8601 date-time (a trailing ``Z`` is accepted) into aware UTC.

    Raises ValueError on anything else, also on a moment that has no UTC equivalent
    (``9999-12-31T23:59:59-23:59`` is in the year 10000).
    """
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return as_utc(datetime.fromisoformat(text))
    except OverflowError:
        raise ValueError("the date-time is out of range in UTC") from None


def set_now(value: datetime | None) -> None:
    """Fix the clock at ``value`` (``None`` lets it run again)."""
    global _fixed
    with _lock:
        _fixed = None if value is None else as_utc(value)


@contextmanager
def travel(value: datetime) -> Iterator[datetime]:
    """Fix the clock at ``value`` for the duration of the block."""
    previous = _fixed
    set_now(value)
    try:
        yield as_utc(value)
    finally:
        set_now(previous)
