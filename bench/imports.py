"""The customer-book import: a 100,000-row CSV of valid customers for the managers of a
province (1,000 managers), checked and written by ``pipeline.customers.services``, on its
own PostgreSQL database next to the province's (the province's managers are at the cap).

Each timed run starts from an empty book (the same users), imports the whole file —
reading, checking every row, then writing in one transaction — and commits. Also timed:
the check alone (``--dry-run``) and a second import of the same file (nothing to write).
"""
from __future__ import annotations

import csv
import io
import random

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.aftersale import timed_call
from bench.common import Section, make_app, median
from bench.generate import PROVINCE, _copy, conninfo, password_hash, recreate_postgres, users_rows
from pipeline.customers import services
from pipeline.db import get_db
from pipeline.demo import GIVEN, SURNAMES, customer

ROWS = 100_000
ALLOCATED_SHARE = 0.8  # rows with a manager; the others go to the unallocated book
BUDGET_SECONDS = 60.0
DOMAIN = "import.bank"
BOOK_TABLES = ("cadence_tasks", "stage_visits", "stage_events", "prospects", "book_customers",
               "audit_log")


def import_url(url: str) -> str:
    u = make_url(url)
    return u.set(database=f"{u.database}_import").render_as_string(hide_password=False)


def prepare(url: str) -> list[dict]:
    """A new database at ``url`` with the province's teams and users; its managers."""
    import psycopg

    from pipeline.cli import upgrade

    recreate_postgres(url)
    upgrade(url)
    teams, users, managers = users_rows(PROVINCE, password_hash(), DOMAIN)
    with psycopg.connect(conninfo(url)) as conn, conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
        _copy(cur, "teams", teams)
        _copy(cur, "users", users)
        for table in ("teams", "users"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))")
    return managers


def book_csv(managers: list[dict], rows: int = ROWS, seed: int = 11) -> bytes:
    """``rows`` valid customers (the demo's numbers: unique by construction), a share of
    them spread evenly over ``managers`` (well under the cap)."""
    rng = random.Random(seed)  # nosec B311 - benchmark data
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(services.COLUMNS)
    for n in range(rows):
        who = customer(n, rng)
        manager = ""
        if rng.random() < ALLOCATED_SHARE:
            m = managers[n % len(managers)]
            manager = f"manager{m['index'] + 1}@{DOMAIN}"
        writer.writerow([
            who.customer_no, rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
            who.id_number, who.phone, who.birthday.isoformat(),
            rng.choice((50_000, 120_000, 300_000, 650_000, 1_500_000, 7_000_000)),
            who.potential, "", manager])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def run(url: str, *, repeat: int = 3) -> Section:
    section = Section(f"Customer-book import ({ROWS:,} rows, PostgreSQL)")
    target = import_url(url)
    managers = prepare(target)
    data = book_csv(managers)
    app = make_app(target)
    db = get_db(app)

    def empty_book() -> None:
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(BOOK_TABLES)} RESTART IDENTITY CASCADE"))

    def once(*, dry_run: bool = False) -> tuple[float, services.Summary]:
        run, summary = timed_call(app, lambda session: services.import_customers(
            session, data, kind="csv", actor=None, dry_run=dry_run, channel="bench"))
        cpu[len(cpu)] = run.cpu()
        return run.seconds, summary

    cpu: dict[int, str] = {}  # each call's CPU seconds, ours + the database backend's
    checks = []
    for _ in range(repeat):
        empty_book()
        checks.append(once(dry_run=True)[0])
    runs, summary = [], None
    for _ in range(repeat):
        empty_book()
        seconds, summary = once()
        runs.append(seconds)
    again, second = once()
    size = len(data) / 1024 / 1024
    section.say(f"A CSV of {ROWS:,} valid customers ({size:.1f} MB, UTF-8 with BOM): "
                f"{summary.allocated:,} for the {len(managers):,} managers of a province "
                f"(about {summary.allocated // len(managers)} each), {summary.unallocated:,} "
                "without a manager. Each run starts from an empty book with the same users; "
                f"median of {repeat} runs.")
    section.say()
    def listed(seconds: list[float], first: int) -> str:
        return ", ".join(f"{s:.1f} (CPU {cpu[first + i]})" for i, s in enumerate(seconds))

    section.table(["", "median", "runs, s (CPU s: ours + the database's)"], [
        ["check only (`--dry-run`): read, validate, look up managers, cap and duplicates",
         f"{median(checks):.1f} s", listed(checks, 0)],
        ["import: check, then write in one transaction (prospects, history, stage visits, "
         "cadence tasks, book rows, audit)", f"{median(runs):.1f} s",
         listed(runs, repeat)],
        ["the same file again (created 0, updated 0)", f"{again:.1f} s",
         f"1 run (CPU {cpu[2 * repeat]})"]])
    assert second.created == 0 and second.updated == 0, second.as_dict()
    best = median(runs)
    section.budget(f"import of {ROWS:,} customers", f"{best:.1f} s",
                   f"{BUDGET_SECONDS:.0f} s", best <= BUDGET_SECONDS)
    return section
