"""What every benchmark shares: timing, a query counter, the app, result sections."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event

from bench.generate import NOW


@dataclass
class Budget:
    name: str
    measured: str
    limit: str
    ok: bool


@dataclass
class Section:
    """One benchmark's figures: markdown lines for RESULTS.md, and the budgets it checks."""

    title: str
    lines: list[str] = field(default_factory=list)
    budgets: list[Budget] = field(default_factory=list)
    # Headline figures by name (seconds, or a rate), for sections that compare runs.
    figures: dict[str, float] = field(default_factory=dict)

    def say(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)

    def table(self, header: list[str], rows: list[list[Any]]) -> None:
        self.say("| " + " | ".join(header) + " |")
        self.say("|" + "---|" * len(header))
        for row in rows:
            self.say("| " + " | ".join(str(c) for c in row) + " |")
        self.say()

    def budget(self, name: str, measured: str, limit: str, ok: bool) -> None:
        self.budgets.append(Budget(name, measured, limit, ok))
        self.say(f"**Budget** {name}: {measured} (budget {limit}) — "
                 f"{'met' if ok else 'MISSED'}")
        self.say()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], p: float) -> float:
    """Linear-interpolated percentile (0 ≤ p ≤ 100) of ``values``."""
    data = sorted(values)
    if len(data) == 1:
        return data[0]
    h = (len(data) - 1) * p / 100
    lo = int(h)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (h - lo)


def timed(fn: Callable[[], Any], repeat: int, warmup: int = 1) -> list[float]:
    """Seconds per call of ``fn`` over ``repeat`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


class QueryCounter:
    """Counts the statements an engine sends (``before_cursor_execute``)."""

    def __init__(self, engine: Any) -> None:
        self.count = 0
        self.engine = engine
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1

    @contextmanager
    def counting(self) -> Iterator[QueryCounter]:
        self.count = 0
        yield self

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


def make_app(url: str, **extra: Any):
    """The product's app on ``url`` with the clock fixed at the data's time."""
    from pipeline import create_app

    config = {"DATABASE_URL": url, "PIPELINE_NOW": NOW.isoformat(),
              "SECRET_KEY": "bench-secret", **extra}
    return create_app(config)


def sign_in(client: Any, email: str) -> None:
    """Sign in through the login form (password check included; the app is built with
    ``WTF_CSRF_ENABLED=False`` so the test client needs no token)."""
    from bench.generate import PASSWORD

    response = client.post("/login", data={"email": email, "password": PASSWORD})
    if response.status_code != 302:
        raise RuntimeError(f"sign-in as {email} answered {response.status_code}")


def timed_with_cpu(get: Callable[[], Any], n: int) -> tuple[list[float], list[float]]:
    """``n`` calls of ``get``: each one's wall seconds, and the CPU seconds of this process."""
    times, cpu = [], []
    for _ in range(n):
        start, start_cpu = time.perf_counter(), time.process_time()
        get()
        cpu.append(time.process_time() - start_cpu)
        times.append(time.perf_counter() - start)
    return times, cpu
