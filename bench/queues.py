"""The supervisor's pages at province scale: the escalation queue (supervisor and team
lead: page size and server time), the board over all teams, and the complaint report and
funnel, through the Flask test client with a signed-in session."""
from __future__ import annotations

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
from pipeline.auth.models import User
from pipeline.complaints.models import Complaint
from pipeline.db import get_db
from pipeline.escalations.models import Escalation

QUEUE_KB = 100        # the escalation page as it opens, in KB
QUEUE_SECONDS = 0.200
BOARD_SECONDS = 0.200  # the supervisor's board over all teams
COMPLAINTS_SECONDS = 1.0


def run(url: str, *, repeat: int = 15, label: str = "PostgreSQL province",
        budgets: bool = True) -> Section:
    from bench.complaint_data import add_complaints

    section = Section(f"Queues: escalations, all teams, complaints ({label})")
    if "postgresql" in url:
        add_complaints(url)  # once: a province generated before they were
    app = make_app(url, WTF_CSRF_ENABLED=False)
    db = get_db(app)
    counter = QueryCounter(db.engine)
    with db.sessionmaker() as session:
        supervisor = session.scalars(select(User).where(User.role == "supervisor")
                                     .order_by(User.id)).first()
        lead = session.scalars(select(User).where(User.role == "team_lead")
                               .order_by(User.id)).first()
        open_all = session.scalar(select(func.count()).select_from(Escalation)
                                  .where(Escalation.status == "open"))
        open_team = session.scalar(select(func.count()).select_from(Escalation).where(
            Escalation.status == "open", Escalation.team_id == lead.team_id))
        complaints = session.scalar(select(func.count()).select_from(Complaint))
    section.say(f"Server time inside the app (test client, no network), medians of {repeat} "
                f"requests after 2 untimed. {open_all:,} open escalations in the province "
                f"({open_team:,} in the lead's team); {complaints:,} complaints (one per 50 "
                "customers, added to the generated province by `bench/complaint_data.py`).")
    section.say()
    cases = [
        ("escalation page, supervisor (all open, page 1)", supervisor, "/escalations",
         f"{open_all:,} open"),
        ("escalation page, team lead", lead, "/escalations", f"{open_team:,} open"),
        ("board, supervisor, all teams", supervisor, "/board?team=all", "whole province"),
        ("complaint report page (4 groupings, root causes)", supervisor,
         "/complaints/report", f"{complaints:,} complaints"),
        ("complaint funnel page", supervisor, "/reports/funnel?workflow=complaint",
         f"{complaints:,} complaints"),
    ]
    rows, results = [], {}
    for name, user, path, scope in cases:
        client = app.test_client()
        sign_in(client, user.email)
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"{path} as {user.email} answered {response.status_code}")
        size = len(response.data)
        with counter.counting() as c:
            client.get(path)
            statements = c.count
        client.get(path)
        n = repeat if "complaint" not in name else max(repeat // 3, 3)
        times, cpu = timed_with_cpu(lambda p=path, cl=client: cl.get(p), n)
        results[name] = (median(times), size)
        rows.append([name, scope, n, ms(median(times)), ms(percentile(times, 90)),
                     ms(median(cpu)), statements, f"{size / 1024:.0f} KB"])
    section.table(["request", "in scope", "requests", "median", "p90",
                   "median CPU of the app process", "statements", "HTML"], rows)
    section.say()
    counter.close()
    db.engine.dispose()
    if budgets:
        # The budget is the supervisor's page (a province's queue); the lead's
        # page is in the table for comparison.
        for name in ("escalation page, supervisor (all open, page 1)",):
            seconds, size = results[name]
            who = name.split(", ")[1].split(" (")[0]
            section.budget(f"escalation page size, {who}", f"{size / 1024:.0f} KB",
                           f"≤ {QUEUE_KB} KB", size <= QUEUE_KB * 1024)
            section.budget(f"escalation page median, {who}", ms(seconds),
                           f"≤ {QUEUE_SECONDS * 1000:.0f} ms", seconds <= QUEUE_SECONDS)
        seconds = results["board, supervisor, all teams"][0]
        section.budget("board median, supervisor, all teams", ms(seconds),
                       f"≤ {BOARD_SECONDS * 1000:.0f} ms", seconds <= BOARD_SECONDS)
        seconds = results["complaint report page (4 groupings, root causes)"][0]
        section.budget("complaint report page, province", ms(seconds),
                       f"≤ {COMPLAINTS_SECONDS * 1000:.0f} ms", seconds <= COMPLAINTS_SECONDS)
        seconds = results["complaint funnel page"][0]
        section.budget("complaint funnel page, province", ms(seconds),
                       f"≤ {COMPLAINTS_SECONDS * 1000:.0f} ms", seconds <= COMPLAINTS_SECONDS)
    return section
