"""Cost as the bank grows: the hot paths measured at every size of ``--scale`` (each size
in its own database), side by side, with the ratio of the largest size to the smallest.

A manager keeps 250 open prospects and a team ten managers at every size
(:func:`bench.generate.scale_for`), so what a manager or a team lead sees is the same and
only the rest of the bank grows: those paths should cost the same at every size. The
funnel of the whole bank reads every stage visit and grows with the bank by nature; it has
a budget of its own at the largest size.

The measurements are the other sections' own functions (:mod:`bench.board`,
:mod:`bench.funnel`, :mod:`bench.sweep`, :mod:`bench.advance`) with fewer repeats; on the
size the other sections run on, their figures are taken as they are.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from bench import advance, board, funnel, sweep
from bench.common import Section, make_app, median, ms
from bench.generate import HOUR, NOW, size_label

FLAT = 1.5           # largest size / smallest, at most
FUNNEL_BUDGET = 1.0  # seconds, the whole bank's funnel at the largest size
NATIONAL = 2_500_000
WHOLE = "whole province"  # the funnel section's name for its bank-wide case
# (figure, label in the table, kept flat, a rate)
PATHS = (
    ("board, manager", "board, manager (250 cards)", True, False),
    ("board, team lead", "board, team lead (2,500 cards)", False, False),
    ("board, supervisor", "board, supervisor (opens on one team)", False, False),
    ("prospect page, manager", "prospect page", True, False),
    ("task list", "task list (`GET /api/v1/tasks`, a manager)", True, False),
    ("idle sweep", "idle sweep (nothing due)", True, False),
    ("advances/s", "advance (service, per advance)", True, True),
    ("one team (its lead)", "funnel, one team (its lead)", False, False),
    (WHOLE, "funnel, whole bank (`funnel()`)", False, False),
    (f"api {WHOLE}", "funnel, whole bank (`GET /api/v1/funnel`)", False, False),
)


@dataclass
class Size:
    """One size's database and how it came to be."""

    size: int
    url: str
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float | None = None       # generation, None when reused
    load_seconds: float | None = None
    bytes: int = 0
    figures: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return size_label(self.size)


def task_list(url: str, *, repeat: int = 15) -> float:
    """Median seconds of ``GET /api/v1/tasks`` for the first manager (bearer token, JSON
    included), after one untimed request."""
    from pipeline.auth.models import User
    from pipeline.auth.services import issue_token
    from pipeline.db import get_db

    app = make_app(url)
    db = get_db(app)
    with db.sessionmaker() as session:
        email = session.scalars(select(User.email).where(User.role == "manager")
                                .order_by(User.id)).first()
        token = issue_token(session, email, name="bench")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    response = client.get("/api/v1/tasks", headers=headers)
    if response.status_code != 200:
        raise RuntimeError(f"/api/v1/tasks answered {response.status_code}")
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        client.get("/api/v1/tasks", headers=headers)
        times.append(time.perf_counter() - start)
    db.engine.dispose()
    return median(times)


def measure(size: Size, *, at: datetime | None = None, taken: dict[str, float] | None = None,
            board_repeat: int = 8, funnel_repeat: int = 3, sweep_repeat: int = 5,
            advance_rounds: int = 8) -> datetime:
    """Fill ``size.figures``: those in ``taken`` (the other sections' on this database) as
    they are, the rest measured here. The sweep and the advances move the database's clock:
    ``at`` is a moment after anything swept before; returns the latest moment used."""
    figures = size.figures
    figures.update(taken or {})
    label = f"PostgreSQL province, {size.label}"
    if "board, manager" not in figures:
        print(f"growth {size.label}: board", flush=True)
        figures.update(board.run(size.url, repeat=board_repeat, label=label,
                                 budgets=False).figures)
    print(f"growth {size.label}: task list", flush=True)
    figures["task list"] = task_list(size.url)
    if WHOLE not in figures:
        print(f"growth {size.label}: funnel", flush=True)
        figures.update(funnel.run(size.url, repeat=funnel_repeat, label=label,
                                  budgets=False).figures)
    last = at or NOW + HOUR
    if "idle sweep" not in figures:
        print(f"growth {size.label}: sweep", flush=True)
        section, swept = sweep.run(size.url, repeat=sweep_repeat, label=label, budgets=False,
                                   concurrent=False, cli=False)
        figures.update(section.figures)
        last = max(last, swept)
    if "advances/s" not in figures:
        print(f"growth {size.label}: advance", flush=True)
        last += HOUR
        figures.update(advance.run(size.url, rounds=advance_rounds, per_round=25,
                                   at=last).figures)
        last += HOUR
    return last


def _cost(name: str, rate: bool, figures: dict[str, float]) -> float | None:
    value = figures.get(name)
    if value is None:
        return None
    return 1 / value if rate else value


def _funnel(size: Size) -> float | None:
    """The slower of the whole bank's funnel medians (function, API)."""
    found = [v for v in (size.figures.get(WHOLE), size.figures.get(f"api {WHOLE}"))
             if v is not None]
    return max(found) if found else None


def _gb(n: int) -> str:
    return f"{n / 1024 ** 3:.2f} GB" if n >= 1024 ** 3 else f"{n / 1024 ** 2:.0f} MB"


def section(sizes: list[Size]) -> Section:
    """The growth table: the sizes, then path × size with the ratio and the budgets."""
    out = Section("Growth: cost as the bank grows")
    sizes = sorted(sizes, key=lambda s: s.size)
    small, large = sizes[0], sizes[-1]
    out.say("Each size in its own PostgreSQL database, generated by the same code as the "
            "province (a manager keeps 250 open prospects, a team ten managers; teams "
            "grow). Generation: rows by COPY in two processes, then indexes and "
            "`VACUUM ANALYZE`; disk: `pg_database_size` after it.")
    out.say()
    out.table(
        ["size", "database", "teams", "prospects", "history rows", "per prospect",
         "stage visits", "generated in", "disk"],
        [[s.label, f"`{s.url.rsplit('/', 1)[-1]}`", f"{s.counts.get('teams', 0):,}",
          f"{s.counts.get('prospects', 0):,}", f"{s.counts.get('stage_events', 0):,}",
          f"{s.counts.get('stage_events', 0) / max(s.counts.get('prospects', 1), 1):.1f}",
          f"{s.counts.get('stage_visits', 0):,}",
          (f"{s.seconds:.0f} s (COPY {s.load_seconds:.0f} s)" if s.seconds is not None
           else "reused"), _gb(s.bytes)] for s in sizes])
    out.say("Medians: boards, prospect page and task list are server time through the test "
            "client with a signed-in session or token; advance is the time per advance of "
            "the service (1 / its median advances per second); the idle sweep is a sweep at "
            "the data's time over the whole bank. Bold: the paths budgeted to stay flat.")
    out.say()
    rows, ratios = [], {}
    for name, title, flat, rate in PATHS:
        costs = [_cost(name, rate, s.figures) for s in sizes]
        if all(c is None for c in costs):
            continue
        ratio = (costs[-1] / costs[0]) if costs[0] and costs[-1] else None
        ratios[name] = ratio
        rows.append([f"**{title}**" if flat else title,
                     *[ms(c) if c is not None else "–" for c in costs],
                     f"{ratio:.2f}×" if ratio is not None else "–"])
    out.table(["path", *[s.label for s in sizes], f"{large.label} / {small.label}"], rows)
    if len(sizes) > 1:
        for name, title, flat, _rate in PATHS:
            if flat and ratios.get(name) is not None:
                r = ratios[name]
                out.budget(f"flat {small.label} → {large.label}: {title.split(' (')[0]}",
                           f"{r:.2f}×", f"≤ {FLAT}×", r <= FLAT)
    whole = _funnel(large)
    if whole is not None:
        out.budget(f"funnel of the whole bank at {large.label} (function and API, the "
                   "slower median)", ms(whole), f"≤ {FUNNEL_BUDGET * 1000:.0f} ms",
                   whole <= FUNNEL_BUDGET)
        if large.size < NATIONAL and small.size < large.size and _funnel(small):
            per = (whole - _funnel(small)) / (large.size - small.size)
            guess = whole + per * (NATIONAL - large.size)
            out.say(f"The funnel budget is set for {NATIONAL:,} prospects (`make "
                    f"bench-national`); extrapolated linearly from {small.label} and "
                    f"{large.label}, it would take about {ms(guess)} there.")
            out.say()
    return out
