"""The stage funnel (``pipeline.reports.queries.funnel`` and ``GET /api/v1/funnel``) for one
team's branch-sized slice and for the whole province."""
from __future__ import annotations

from sqlalchemy import func, select

from bench.common import QueryCounter, Section, make_app, median, ms
from pipeline.auth.models import Team, User
from pipeline.auth.services import issue_token
from pipeline.db import get_db
from pipeline.reports import queries

BUDGET = 1.0  # seconds, the whole province


def run(url: str, *, repeat: int = 5, province_repeat: int | None = None,
        label: str = "PostgreSQL province", budgets: bool = True) -> Section:
    section = Section(f"Funnel ({label})")
    province_repeat = repeat if province_repeat is None else province_repeat
    app = make_app(url)
    db = get_db(app)
    counter = QueryCounter(db.engine)
    with db.sessionmaker() as session:
        supervisor = session.scalars(select(User).where(User.role == "supervisor")).first()
        team = session.scalars(select(Team).order_by(Team.id)).first()
        lead = session.get(User, team.lead_id)
        token = issue_token(session, supervisor.email)
        events = session.scalar(select(func.count()).select_from(queries.se))
    whole = "whole province" if "province" in label else "whole branch"
    section.say(f"Median of {repeat} runs after one untimed ({province_repeat} for the "
                f"{whole[6:]}); the history holds "
                f"{events:,} stage events. Function: `queries.funnel`; API: through the test "
                "client with a bearer token (JSON included).")
    section.say()
    results = {}
    rows = []
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    cases = [
        ("one team (its lead)", lambda s: queries.funnel(s, lead, queries.Filters())),
        ("one team (supervisor, team filter)",
         lambda s: queries.funnel(s, supervisor, queries.Filters(team_id=team.id))),
        (whole, lambda s: queries.funnel(s, supervisor, queries.Filters())),
    ]
    import time

    for name, fn in cases:
        times = []
        runs = province_repeat if name == whole else repeat
        with db.sessionmaker() as session:
            fn(session)  # untimed warm-up
            for _ in range(runs):
                with counter.counting() as c:
                    start = time.perf_counter()
                    figures = fn(session)
                    times.append(time.perf_counter() - start)
                session.rollback()
        results[name] = median(times)
        rows.append([f"`funnel()` {name}", runs, ms(median(times)), ms(max(times)), c.count,
                     f"{sum(f.entered for f in figures):,}"])
    for name, path in (("one team", f"/api/v1/funnel?team={team.name.replace(' ', '%20')}"),
                       (whole, "/api/v1/funnel")):
        response = client.get(path, headers=headers)  # untimed warm-up
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}")
        times = []
        runs = province_repeat if name == whole else repeat
        for _ in range(runs):
            with counter.counting() as c:
                start = time.perf_counter()
                response = client.get(path, headers=headers)
                times.append(time.perf_counter() - start)
        results[f"api {name}"] = median(times)
        entered = sum(s["entered"] for s in response.get_json()["stages"])
        rows.append([f"GET /api/v1/funnel, {name}", runs, ms(median(times)), ms(max(times)),
                     c.count, f"{entered:,}"])
    section.table(["call", "runs", "median", "max", "statements", "visits entered"], rows)
    section.figures.update(results)
    counter.close()
    db.engine.dispose()
    if budgets:
        measured = max(results[whole], results[f"api {whole}"])
        section.budget("province funnel (function and API, the slower median)", ms(measured),
                       f"≤ {BUDGET * 1000:.0f} ms", measured <= BUDGET)
    return section
