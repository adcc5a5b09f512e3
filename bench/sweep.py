"""The deadline sweep (``pipeline.escalations.services.sweep_due``: the stage clocks, and the
after-sale steps — contact frequency, overdue retention tasks): with nothing due over the
whole province, with 1 % of the prospects due, and four sweeps at once."""
from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import sessionmaker

from bench.common import QueryCounter, Section, median, ms, percentile, timed
from bench.generate import NOW
from pipeline.db import UTCDateTime, make_engine
from pipeline.escalations.models import Escalation
from pipeline.escalations.services import sweep_due
from pipeline.prospects.models import Prospect

IDLE_BUDGET = 0.050
KINDS = ("warned", "escalated", "raised", "contact_overdue", "reminded", "retention",
         "closed")
# Warnings and escalations that become due after a moment: each is one unit of sweep work.
DUE_AFTER = text("""
    SELECT t FROM (
        SELECT warn_at AS t FROM prospects
         WHERE status = 'active' AND warn_at > :after AND warned_clock_no < clock_no
        UNION ALL
        SELECT due_at FROM prospects WHERE status = 'active' AND due_at > :after
    ) AS due ORDER BY t LIMIT 1 OFFSET :n - 1""").bindparams(
    bindparam("after", type_=UTCDateTime())).columns(t=UTCDateTime())


def _work(summary: dict) -> int:
    return sum(summary[k] for k in KINDS)


def _moment_with(session, after: datetime, n: int) -> datetime:
    value = session.execute(DUE_AFTER, {"after": after, "n": n}).scalar()
    return value + timedelta(seconds=1)


def run(url: str, *, repeat: int = 15, label: str = "PostgreSQL province",
        budgets: bool = True, concurrent: bool = True, cli: bool = True
        ) -> tuple[Section, datetime]:
    """Returns the section and the latest moment swept (later sweeps must start after it)."""
    section = Section(f"Sweep ({label})")
    engine = make_engine(url)
    Session = sessionmaker(bind=engine, expire_on_commit=False)
    counter = QueryCounter(engine)
    with Session() as session:
        prospects = session.scalar(select(func.count()).select_from(Prospect))
        active = session.scalar(select(func.count()).select_from(Prospect)
                                .where(Prospect.status == "active"))
        share = max(prospects // 100, 1)
        with counter.counting() as c:
            first = sweep_due(session, NOW).as_dict()
            statements = c.count
        idle = timed(lambda: sweep_due(session, NOW), repeat, warmup=0)
        t1 = _moment_with(session, NOW, share)
        with counter.counting() as c:
            start = time.perf_counter()
            due1 = sweep_due(session, t1).as_dict()
            one = time.perf_counter() - start
            due_statements = c.count
        start = time.perf_counter()
        again = sweep_due(session, t1).as_dict()
        rerun = time.perf_counter() - start
        t2 = _moment_with(session, t1, share)
        escalations_before = session.scalar(select(func.count()).select_from(Escalation))
    counter.close()
    engine.dispose()
    section.say(f"{prospects:,} prospects ({active:,} active). The data is what a sweep at "
                f"the data's time leaves behind, so a sweep then has nothing to do "
                f"(first run: {_work(first)} items, {statements} statements).")
    section.say()
    rows = [["nothing due", f"{repeat} runs", ms(median(idle)), ms(percentile(idle, 90)),
             "0", statements]]
    rows.append([f"1 % due ({_fmt(due1)})", "1 run", ms(one), "", _work(due1),
                 due_statements])
    rows.append(["the same moment again", "1 run", ms(rerun), "", _work(again), ""])
    four = None
    if concurrent:
        four = _four_at_once(url, t2)
        with sessionmaker(bind=make_engine(url))() as session:
            created = session.scalar(select(func.count()).select_from(Escalation)) \
                - escalations_before
            dupes = session.execute(text(
                "SELECT count(*) FROM (SELECT prospect_id, clock_no FROM escalations "
                "WHERE status = 'open' AND kind <> 'contact_overdue' "
                "GROUP BY prospect_id, clock_no HAVING count(*) > 1) d")).scalar()
            session.get_bind().dispose()
        total = {k: sum(s[k] for s, _ in four["results"]) for k in KINDS}
        rows.append([f"four sweeps at once, next 1 % ({_fmt(total)})", "4 processes",
                     ms(four["wall"]), "per sweep: " + ", ".join(
                         ms(e) for _, e in four["results"]), _work(total), ""])
    section.figures["idle sweep"] = median(idle)
    section.table(["sweep", "runs", "median / wall", "p90 / detail", "items", "statements"],
                  rows)
    if four:
        section.say(f"Four at once: {created} escalations created in all, "
                    f"{dupes} stage visits with more than one open escalation "
                    "(each item done exactly once: the four summaries add up to one "
                    "sweep's work).")
        section.say()
    if cli:
        section.say(f"CLI (`flask --app wsgi pipeline sweep --now … --no-mail`, nothing due, app start "
                    f"included): {ms(_cli(url, NOW))}")
        section.say()
    if budgets:
        section.budget(f"idle sweep median over {prospects:,} prospects", ms(median(idle)),
                       f"≤ {IDLE_BUDGET * 1000:.0f} ms", median(idle) <= IDLE_BUDGET)
    return section, t2


def _fmt(summary: dict) -> str:
    return ", ".join(f"{k} {summary[k]}" for k in KINDS if summary[k])


def _one_of_four(args: tuple) -> tuple[dict, float, float, float]:
    url, moment, barrier = args
    engine = make_engine(url)
    with sessionmaker(bind=engine, expire_on_commit=False)() as session:
        session.execute(text("SELECT 1"))
        session.rollback()
        barrier.wait()
        start = time.perf_counter()
        summary = sweep_due(session, moment).as_dict()
        end = time.perf_counter()
    engine.dispose()
    return summary, end - start, start, end


def _four_at_once(url: str, moment: datetime) -> dict:
    ctx = multiprocessing.get_context("fork")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(4)
        with ctx.Pool(4) as pool:
            out = pool.map(_one_of_four, [(url, moment, barrier)] * 4)
    wall = max(o[3] for o in out) - min(o[2] for o in out)
    return {"wall": wall, "results": [(o[0], o[1]) for o in out]}


def _cli(url: str, moment: datetime) -> float:
    env = {**os.environ, "DATABASE_URL": url}
    flask = os.path.join(os.path.dirname(sys.executable), "flask")
    start = time.perf_counter()
    subprocess.run([flask, "--app", "wsgi", "pipeline", "sweep", "--now", moment.isoformat(),
                    "--no-mail"],
                   check=True, env=env, capture_output=True)
    return time.perf_counter() - start
