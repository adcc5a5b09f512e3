"""The board (``prospects.board``) and the prospect page through the Flask test client with
a signed-in session: server time per request and statements per request."""
from __future__ import annotations

import time

from sqlalchemy import func, select

from bench.common import (
    QueryCounter,
    Section,
    make_app,
    median,
    ms,
    percentile,
    sign_in,
)
from pipeline.auth.models import Team, User
from pipeline.db import get_db
from pipeline.prospects.models import Prospect

BUDGETS = {"manager": 0.050, "team_lead": 0.200}


def run(url: str, *, repeat: int = 30, label: str = "PostgreSQL province",
        budgets: bool = True) -> Section:
    section = Section(f"Board and prospect page ({label})")
    app = make_app(url, WTF_CSRF_ENABLED=False)
    db = get_db(app)
    counter = QueryCounter(db.engine)
    with db.sessionmaker() as session:
        manager = session.scalars(select(User).where(User.role == "manager")
                                  .order_by(User.id)).first()
        lead = session.scalars(select(User).where(User.role == "team_lead")
                               .order_by(User.id)).first()
        supervisor = session.scalars(select(User).where(User.role == "supervisor")).first()
        cards = {u.role: session.scalar(select(func.count()).select_from(Prospect).where(
            Prospect.status.in_(("active", "paused", "won")),
            Prospect.owner_id == u.id if u.role == "manager" else Prospect.team_id == u.team_id))
            for u in (manager, lead)}
        # A supervisor's board opens on the first team by name (the whole branch is the
        # team filter's "all").
        first_team = session.scalar(select(Team.id).order_by(Team.name).limit(1))
        cards["supervisor"] = session.scalar(select(func.count()).select_from(Prospect).where(
            Prospect.status.in_(("active", "paused", "won")), Prospect.team_id == first_team))
        page_id = session.scalar(select(Prospect.id).where(
            Prospect.owner_id == manager.id, Prospect.status == "active")
            .order_by(Prospect.id).limit(1))
    section.say(f"Server time inside the app (test client, no network), {repeat} requests "
                "after 2 untimed; the board shows 50 cards per column by default.")
    section.say()
    rows = []
    results = {}
    cases = [("manager", manager, "/board", repeat), ("team_lead", lead, "/board", repeat),
             ("supervisor", supervisor, "/board", max(repeat // 6, 3)),
             ("manager", manager, f"/prospects/{page_id}", repeat)]
    for role, user, path, n in cases:
        client = app.test_client()
        sign_in(client, user.email)
        status = client.get(path).status_code
        if status != 200:
            raise RuntimeError(f"{path} as {user.email} answered {status}")
        with counter.counting() as c:
            client.get(path)
            queries = c.count
        client.get(path)
        times, cpu = [], []
        for _ in range(n):
            start, start_cpu = time.perf_counter(), time.process_time()
            client.get(path)
            cpu.append(time.process_time() - start_cpu)
            times.append(time.perf_counter() - start)
        what = "board" if path == "/board" else "prospect page"
        scope = cards[role] if what == "board" else 1
        results[(role, what)] = median(times)
        section.figures[f"{what}, {role.replace('_', ' ')}"] = median(times)
        rows.append([f"{what}, {role.replace('_', ' ')}", f"{scope:,} cards" if what == "board"
                     else "one prospect", n, ms(median(times)), ms(percentile(times, 90)),
                     ms(median(cpu)), queries])
    section.table(["request", "in scope", "requests", "median", "p90",
                   "median CPU of the app process", "statements"], rows)
    counter.close()
    db.engine.dispose()
    if budgets:
        for role, limit in BUDGETS.items():
            measured = results[(role, "board")]
            section.budget(f"board median, {role.replace('_', ' ')} ({cards[role]:,} cards)",
                           ms(measured), f"≤ {limit * 1000:.0f} ms", measured <= limit)
    return section
