"""The pages and reads a branch's people open all day, at province scale: the after-sale
report, the complaint report, the daily sheet (supervisor and team lead), the weekly log,
the escalation queue (team lead and supervisor), the allocation page, My day, a prospect
page, the home page each role lands on, the funnel page, the complaints, the touch report,
the campaigns, the customer import and the sign-in, through the Flask test client with a signed-in session: server time,
the app's CPU and the statements of each request. The board and the funnel have their own
sections."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from bench.common import (
    QueryCounter,
    Section,
    make_app,
    median,
    ms,
    percentile,
    sign_in,
    timed_with_cpu,
)
from bench.generate import PASSWORD
from pipeline.auth.models import User
from pipeline.db import get_db
from pipeline.prospects.models import Prospect

PAGE_SECONDS = 0.150  # every page's median, isolated (the load test's p99 needs headroom)
AIM_SECONDS = 0.060   # where most pages should be


def run(url: str, *, repeat: int = 15, label: str = "PostgreSQL province",
        budgets: bool = True) -> Section:
    from bench.complaint_data import add_complaints

    section = Section(f"Pages: reports, queues, allocation, My day, prospect ({label})")
    if "postgresql" in url:
        add_complaints(url)  # once: a province generated before they were
    app = make_app(url, WTF_CSRF_ENABLED=False)
    db = get_db(app)
    counter = QueryCounter(db.engine)
    with db.sessionmaker() as session:
        def first(role: str) -> User:
            return session.scalars(select(User).where(User.role == role)
                                   .order_by(User.id)).first()

        supervisor, lead, manager = first("supervisor"), first("team_lead"), first("manager")
        managers = session.scalar(select(func.count()).select_from(User)
                                  .where(User.role == "manager"))
        page_id = session.scalar(select(Prospect.id).where(
            Prospect.owner_id == manager.id, Prospect.status == "active")
            .order_by(Prospect.id).limit(1))
    section.say(f"Server time inside the app (test client, no network), {repeat} requests "
                f"after 2 untimed, one signed-in session per row; {managers:,} managers in "
                "the branch. CPU is the app process's only (PostgreSQL's backend is apart); "
                "statements are those of one request, the sign-in check and the menu's "
                "badges included.")
    section.say()
    cases = [
        ("after-sale report, supervisor", supervisor, "/reports/after-sale"),
        ("complaint report, supervisor", supervisor, "/complaints/report"),
        ("daily sheet, supervisor (branch totals)", supervisor, "/reports/daily"),
        ("daily sheet, team lead", lead, "/reports/daily"),
        ("weekly log, supervisor", supervisor, "/reports/weekly"),
        ("weekly log, team lead", lead, "/reports/weekly"),
        ("escalation queue, team lead", lead, "/escalations"),
        ("escalation queue, supervisor", supervisor, "/escalations"),
        ("allocation page, supervisor", supervisor, "/allocation"),
        ("My day, manager", manager, "/my-day"),
        ("prospect page, manager", manager, f"/prospects/{page_id}"),
        ("home after sign-in, manager", manager, "/"),
        ("home after sign-in, team lead", lead, "/"),
        ("home after sign-in, supervisor", supervisor, "/"),
        ("funnel page, team lead", lead, "/reports/funnel"),
        ("funnel page, supervisor (whole branch)", supervisor, "/reports/funnel"),
        ("complaints, manager", manager, "/complaints"),
        ("complaints, team lead", lead, "/complaints"),
        ("complaints, supervisor", supervisor, "/complaints"),
        ("touch report, team lead", lead, "/reports/messages"),
        ("touch report, supervisor", supervisor, "/reports/messages"),
        ("campaigns, supervisor", supervisor, "/campaigns"),
        ("customer import, supervisor", supervisor, "/imports/customers"),
    ]
    rows, results = [], {}
    for name, user, path in cases:
        client = app.test_client()
        sign_in(client, user.email)
        # The home page sends each role on to its own page: followed, as a browser does.
        def get(p: str = path, cl: Any = client) -> Any:
            return cl.get(p, follow_redirects=True)

        response = get()
        if response.status_code != 200:
            raise RuntimeError(f"{path} as {user.email} answered {response.status_code}")
        size = len(response.data)
        with counter.counting() as c:
            get()
            statements = c.count
        get()
        times, cpu = timed_with_cpu(get, repeat)
        results[name] = median(times)
        rows.append([name, repeat, ms(median(times)), ms(percentile(times, 90)),
                     ms(median(cpu)), statements, f"{size / 1024:.0f} KB"])
    # The sign-in: the form's POST (the password's hash checked), a new session each time.
    client = app.test_client()
    sign_in(client, manager.email)

    def sign_in_again() -> None:
        client.post("/logout")
        client.post("/login", data={"email": manager.email, "password": PASSWORD})

    client.post("/logout")
    with counter.counting() as c:
        client.post("/login", data={"email": manager.email, "password": PASSWORD})
        statements = c.count
    times, cpu = timed_with_cpu(sign_in_again, max(repeat // 3, 3))
    rows.append(["sign out and in again (form POSTs), manager", len(times), ms(median(times)),
                 ms(percentile(times, 90)), ms(median(cpu)), statements, "–"])
    section.table(["request", "requests", "median", "p90", "median CPU of the app process",
                   "statements", "HTML"], rows)
    counter.close()
    db.engine.dispose()
    if budgets:
        slow = {n: s for n, s in results.items() if s > PAGE_SECONDS}
        section.budget("pages with a median over 150 ms", ", ".join(
            f"{n} {ms(s)}" for n, s in slow.items()) or "none",
            f"none over {PAGE_SECONDS * 1000:.0f} ms", not slow)
        within = sum(1 for s in results.values() if s <= AIM_SECONDS)
        section.say(f"{within} of {len(results)} pages within {AIM_SECONDS * 1000:.0f} ms "
                    f"(median); slowest {max(results, key=results.get)} "
                    f"{ms(max(results.values()))}.")
        section.say()
    return section
