"""The stage funnel (``pipeline.reports.queries.funnel`` and ``GET /api/v1/funnel``) for one
team's branch-sized slice and for the whole province: the whole province computed live
and read from the rollups a job keeps (``pipeline.reports.rollups``, built here first and
timed), which the API and the page read when they are fresh."""
from __future__ import annotations

from sqlalchemy import func, select

from bench.common import QueryCounter, Section, make_app, median, ms
from pipeline import clock
from pipeline.auth.models import Team, User
from pipeline.auth.services import issue_token
from pipeline.db import get_db
from pipeline.reports import queries, rollups

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
    rolled = f"{whole}, from the rollup"
    import time

    with db.sessionmaker() as session:
        start = time.perf_counter()
        built = rollups.build_all(session, tz=app.config["PIPELINE_TIMEZONE"],
                                  now=clock.now())
        build_seconds = time.perf_counter() - start
        build = rollups.latest(session, "seven_step")
        session.expunge(build)
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
        (rolled, lambda s: rollups.funnel(s, build, queries.Filters())),
    ]

    for name, fn in cases:
        times = []
        runs = province_repeat if name in (whole, rolled) else repeat
        with db.sessionmaker() as session:
            fn(session)  # untimed warm-up
            for _ in range(runs):
                with counter.counting() as c:
                    start = time.perf_counter()
                    figures = fn(session)
                    times.append(time.perf_counter() - start)
                session.rollback()
        results[name] = median(times)
        call = "`rollups.funnel()`" if name == rolled else "`funnel()`"
        rows.append([f"{call} {name}", runs, ms(median(times)), ms(max(times)), c.count,
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
        source = " (the rollup)" if response.get_json().get("rollup") else ""
        rows.append([f"GET /api/v1/funnel, {name}{source}", runs, ms(median(times)),
                     ms(max(times)), c.count, f"{entered:,}"])
    section.table(["call", "runs", "median", "max", "statements", "visits entered"], rows)
    section.say()
    section.say(f"The rollups' build (`flask --app wsgi reports rollup`, every workflow, one "
                f"transaction): {build_seconds:.1f} s for {built.visits:,} visits, "
                f"{built.rows:,} rows.")
    section.say()
    results["rollup build"] = build_seconds
    section.figures.update(results)
    counter.close()
    db.engine.dispose()
    if budgets:
        measured = max(results[rolled], results[f"api {whole}"])
        section.budget("province funnel (the rollup's read and the API, the slower median)",
                       ms(measured), f"≤ {BUDGET * 1000:.0f} ms", measured <= BUDGET)
    return section
