"""The after-sale paths at province scale (``pipeline.aftersale.services``): the bank's
daily customer-event file of 1,000,000 rows, imported and then imported again (which must
create nothing); the tasks made for the province's 250,000 customers (a supervisor's
campaign reaching every one of them, and the full sweep's daily birthday step over them);
and the idle sweep with the imported events' tasks in the book.

Runs on the province database; every row it writes (events, tasks, the campaign,
escalations, audit entries) is deleted again at the end, so the benchmarks after it see the
province as generated.
"""
from __future__ import annotations

import csv
import io
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from bench.common import Section, make_app, median, ms, timed
from bench.generate import NOW
from pipeline.aftersale import services
from pipeline.db import get_db

ROWS = 1_000_000
IMPORT_BUDGET = 120.0
TASKS_BUDGET = 10.0
IDLE_BUDGET = 0.050
# The kinds of a day's feed, by share: maturities and repayments dominate, movements are
# rarer; a tier drop at most once per customer (its key has no product or amount).
KIND_WEIGHTS = (("maturity", 45), ("repayment_due", 38), ("large_outflow", 15),
                ("tier_drop", 2))
PRODUCTS = {
    "maturity": ("Fixed deposit 3M", "Fixed deposit 6M", "Fixed deposit 1Y",
                 "Structured deposit", "Wealth plan A", "Wealth plan B", "Bond fund"),
    "repayment_due": ("Mortgage", "Credit card", "Consumer loan", "Car loan"),
    "large_outflow": ("Current account", None),
    "tier_drop": (None,),
}
# The tables the benchmark writes to, each cleaned by id afterwards (the audit log is
# append-only: its few entries of the imports and campaigns stay).
WRITTEN = ("cadence_tasks", "customer_events", "escalations", "campaigns")


def customer_numbers(conn: Any) -> list[str]:
    """The province's customer numbers (prospects of every status: a lost customer's event
    is kept without a task)."""
    return [r[0] for r in conn.execute(text(
        "SELECT customer_no FROM prospects WHERE customer_no IS NOT NULL ORDER BY id"))]


def event_csv(numbers: list[str], rows: int = ROWS, seed: int = 15) -> bytes:
    """A day's feed of ``rows`` events for the customers ``numbers``: dates from yesterday
    to a month ahead, amounts to the cent (so nearly every row is its own event), every
    customer about equally often; a tier drop at most once per customer."""
    rng = random.Random(seed)  # nosec B311 - benchmark data
    kinds = [k for k, _ in KIND_WEIGHTS]
    weights = [w for _, w in KIND_WEIGHTS]
    start = NOW.date() - timedelta(days=1)
    days = [(start + timedelta(days=d)).isoformat() for d in range(32)]
    dropped: set[str] = set()
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(services.EVENT_COLUMNS)
    written = 0
    while written < rows:
        number = numbers[written % len(numbers)] if written < len(numbers) \
            else rng.choice(numbers)
        kind = rng.choices(kinds, weights)[0]
        if kind == "tier_drop":
            if number in dropped:
                kind = "maturity"
            else:
                dropped.add(number)
        product = rng.choice(PRODUCTS[kind])
        if kind == "tier_drop":
            amount, day = "", days[0]
        elif kind == "repayment_due":
            amount, day = f"{rng.uniform(300, 30_000):.2f}", rng.choice(days)
        elif kind == "large_outflow":
            amount, day = f"{rng.uniform(200_000, 5_000_000):.2f}", days[rng.randrange(2)]
        else:
            amount, day = f"{rng.uniform(10_000, 3_000_000):.2f}", rng.choice(days)
        writer.writerow([number, kind, day, amount, product or ""])
        written += 1
    return out.getvalue().encode("utf-8")


def high_water(conn: Any) -> dict[str, int]:
    return {t: conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {t}")).scalar()
            for t in WRITTEN}


def clean(db: Any, marks: dict[str, int]) -> None:
    """Delete what the benchmark wrote (rows past ``marks``) and let the planner see the
    tables as they were."""
    with db.engine.begin() as conn:
        for table in WRITTEN:
            conn.execute(text(f"DELETE FROM {table} WHERE id > :mark"), {"mark": marks[table]})
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE " + ", ".join(WRITTEN)))


def _backend_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) the PostgreSQL backend ``pid`` has used, when the server
    runs on this machine (/proc); None otherwise."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    seconds: float
    client_cpu: float
    server_cpu: float | None  # None: the server is not on this machine

    def cpu(self) -> str:
        server = "?" if self.server_cpu is None else f"{self.server_cpu:.0f}"
        return f"{self.client_cpu:.0f} + {server}"


def timed_call(app: Any, fn: Callable[[Any], Any]) -> tuple[Run, Any]:
    """One call of ``fn(session)``: wall time, this process's CPU and its database
    backend's CPU (the machine is shared: the CPU shows the work, the wall time the wait)."""
    db = get_db(app)
    with app.app_context():
        session = db.sessionmaker()
        try:
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
            session.rollback()
            server = _backend_cpu(pid)
            client = time.process_time()
            started = time.perf_counter()
            result = fn(session)
            seconds = time.perf_counter() - started
            client = time.process_time() - client
            after = _backend_cpu(pid)
            return Run(seconds, client, None if server is None or after is None
                       else after - server), result
        finally:
            session.close()


def run(url: str, *, repeat: int = 1, rows: int = ROWS, sweeps: int = 10,
        budgets: bool = True) -> Section:
    """``repeat`` imports of the ``rows``-row file (each on the province as generated)."""
    from pipeline.auth.models import User
    from pipeline.escalations.services import sweep_due
    from pipeline.prospects.models import Prospect

    section = Section(f"After-sale: daily event feed ({rows:,} rows) and task generation "
                      "(PostgreSQL province)")
    app = make_app(url)
    db = get_db(app)
    with db.engine.connect() as conn:
        marks = high_water(conn)
        numbers = customer_numbers(conn)
        customers = conn.execute(text(
            "SELECT count(*) FROM prospects WHERE status IN ('active', 'won')")).scalar()
    started = time.perf_counter()
    data = event_csv(numbers, rows)
    made_in = time.perf_counter() - started

    def import_file(session: Any) -> services.EventSummary:
        return services.import_events(session, data, kind="csv", actor=None,
                                      channel="bench")

    try:
        imports, first = [], None
        for i in range(repeat):
            if i:
                clean(db, marks)
            run_, first = timed_call(app, import_file)
            imports.append(run_)
        runs = [r.seconds for r in imports]
        again_run, second = timed_call(app, import_file)
        again = again_run.seconds
        assert second.created == 0 and second.ignored == rows, second.as_dict()
        with db.engine.connect() as conn:
            tasks = conn.execute(text("SELECT count(*) FROM cadence_tasks WHERE id > :m"),
                                 {"m": marks["cadence_tasks"]}).scalar()
        size = len(data) / 1024 / 1024
        section.say(f"A day's feed of {rows:,} events ({size:.0f} MB CSV, made in "
                    f"{made_in:.0f} s) for the province's {len(numbers):,} customers "
                    "(about four each): maturities, repayments, large outflows and tier "
                    f"drops, dated yesterday to a month ahead. The import kept "
                    f"{first.created:,} events ({first.ignored:,} rows repeated an event) and "
                    f"opened {tasks:,} tasks (a lost customer's event opens none).")
        section.say()
        import_rows = [
            ["import: read, check every row and customer, write events and tasks in one "
             "transaction", f"{median(runs):.1f} s",
             ", ".join(f"{r.seconds:.1f} s (CPU {r.cpu()})" for r in imports)
             + f"; {repeat} run{'s' if repeat > 1 else ''}"],
            ["the same file again (created 0, ignored all)", f"{again:.1f} s",
             f"CPU {again_run.cpu()}; 1 run"]]
        section.table(["", "median", "runs (CPU s: ours + the database's)"], import_rows)
        section.say("One run of a million rows is what fits in the whole benchmark's time; "
                    "the CPU seconds (this process, and its PostgreSQL backend read from "
                    "/proc) show the work apart from the shared machine's wait.")
        section.say()

        # The idle sweep with the feed's tasks in the book (nothing due at the data's time).
        with app.app_context():
            session = db.sessionmaker()
            try:
                idle = timed(lambda: sweep_due(session, NOW), sweeps)
                start = time.perf_counter()
                birthdays = _birthdays(session)
                birthday_seconds = time.perf_counter() - start
                birthday_idle = timed(lambda: _birthdays(session), 3, warmup=0)
                supervisor = session.scalar(
                    text("SELECT id FROM users WHERE role = 'supervisor' ORDER BY id LIMIT 1"))
                supervisor = session.get(User, supervisor)
                reached = session.query(Prospect).filter(
                    Prospect.status.in_(services.CAMPAIGN_STATUSES)).count()
            finally:
                session.close()

        def campaign(session: Any) -> Any:
            user = session.get(User, supervisor.id)
            return services.create_campaign(session, actor=user, data={
                "name": "Rate cut: deposits maturing this quarter",
                "due_on": (NOW + timedelta(days=7)).date().isoformat()})

        campaigns, campaign_runs = [], []
        for _ in range(3):
            run_, made = timed_call(app, campaign)
            campaigns.append(run_.seconds)
            campaign_runs.append(run_)
            assert made.customers == reached, (made.customers, reached)
            with db.engine.begin() as conn:
                conn.execute(text("DELETE FROM cadence_tasks WHERE key = :k"),
                             {"k": services.campaign_key(made.id)})
        section.say(f"Tasks for the province's {customers:,} customers (active and "
                    "after-sale):")
        section.say()
        section.table(["", "median", "runs", "tasks"], [
            [f"a supervisor's campaign reaching every customer it may ({reached:,}: not "
             "paused), one task each", f"{median(campaigns):.2f} s",
             ", ".join(f"{r.seconds:.2f} s (CPU {r.cpu()})" for r in campaign_runs),
             f"{reached:,}"],
            ["the daily birthday step over every customer (today's birthdays)",
             ms(birthday_seconds), "1 run", f"{birthdays:,}"],
            ["the birthday step again the same day (makes nothing)",
             ms(median(birthday_idle)), ", ".join(ms(s) for s in birthday_idle), "0"],
            ["idle sweep (nothing due) with the feed's tasks in the book",
             ms(median(idle)), f"{sweeps} runs", "0"]])
    finally:
        clean(db, marks)
        db.engine.dispose()
    if budgets:
        section.budget(f"daily event feed, {rows:,} rows", f"{median(runs):.1f} s",
                       f"≤ {IMPORT_BUDGET:.0f} s", median(runs) <= IMPORT_BUDGET)
        section.budget(f"the same feed again (nothing created), {rows:,} rows",
                       f"{again:.1f} s", f"≤ {IMPORT_BUDGET:.0f} s", again <= IMPORT_BUDGET)
        section.budget(f"task generation for {reached:,} customers (a campaign to all)",
                       f"{median(campaigns):.2f} s", f"≤ {TASKS_BUDGET:.0f} s",
                       median(campaigns) <= TASKS_BUDGET)
        section.budget(f"daily birthday step over {customers:,} customers",
                       ms(birthday_seconds), f"≤ {TASKS_BUDGET:.0f} s",
                       birthday_seconds <= TASKS_BUDGET)
        section.budget("idle sweep with the feed's tasks in the book", ms(median(idle)),
                       f"≤ {IDLE_BUDGET * 1000:.0f} ms", median(idle) <= IDLE_BUDGET)
    return section


def _birthdays(session: Any) -> int:
    from pipeline.db import unit_of_work

    with unit_of_work(session):
        return services.make_birthday_tasks(session, NOW)
