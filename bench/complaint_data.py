"""Complaints for a generated province: about one case per 50 customers, each a case of the
complaint workflow about one of its manager's customers, spread over the workflow's steps.

Added after the customers are loaded (:func:`add_complaints`), from the rows already in the
database, so the customers' own rows stay what :mod:`bench.generate` drew. Every case's
history is replayed with the complaint engine's own arithmetic (:func:`generate.replay`),
its records are the workflow file's examples (the report's dimensions, channel and cause,
drawn from their fields' choices), and it is left as the sweep would leave it at
:data:`generate.NOW`: settled cases closed, open ones within their limit (warned when past
the warning time), so the idle sweep still finds nothing to do. Nothing here names a step
or a record: they are read from the workflow.
"""
from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from bench.generate import COLUMNS, NOW, conninfo, replay
from pipeline import workflows
from pipeline.demo import examples
from pipeline.engine.machine import EVENT_STATUSES
from pipeline.prospects.services import record_status

WORKFLOW_KEY = "complaint"
CUSTOMERS_PER_COMPLAINT = 50
SETTLED_SHARE = 0.7     # settled by now (the rest open, within the limit)
EXTENDED_SHARE = 0.08   # of the settled ones: extended once on the way
LATE_SHARE = 0.1        # of the settled ones: settled after the first limit
CATEGORIES = ("理财产品", "存款业务", "银行卡", "贷款业务", "服务态度", "收费")
SUMMARIES = ("赎回资金到账延迟", "柜台等候时间过长", "未告知产品风险", "收费与宣传不符")
CASE_COLUMNS = (*COLUMNS["prospects"], "customer_id")
COMPLAINT_COLUMNS = ("prospect_id", "summary", "category", "received_at", "received_by_id",
                     "named_user_id")


def _stored(record: Any, data: dict, at: datetime) -> dict:
    """An example record as the form stores it: a time given in days (the example's
    placeholder) becomes the time that many days after ``at``."""
    out = dict(data)
    for f in record.fields:
        if f.type == "datetime" and isinstance(out.get(f.key), int | float) \
                and not isinstance(out.get(f.key), bool):
            out[f.key] = (at + timedelta(days=out[f.key])).isoformat()
    return out


def case_rows(rng: random.Random, customers: list[tuple], next_id: dict[str, int]
              ) -> Iterator[tuple[str, tuple]]:
    """The rows of complaints about ``customers`` (id, owner, team, name, tier), one each,
    as ``(table, row)`` with rows in :data:`CASE_COLUMNS`, :data:`COMPLAINT_COLUMNS` and
    the generator's :data:`COLUMNS` order; ids from ``next_id``."""
    engine = workflows.engine(WORKFLOW_KEY)
    wf = engine.workflow
    keys = wf.stage_keys
    last = len(keys) - 1
    complete = examples(wf, complete=True)
    limit = wf.case_limit.days
    dest = {(t.event, t.source): t.dest for t in wf.transitions}
    settle = next(t.event for t in wf.transitions if t.dest == keys[last])
    extend = next((t.event for t in wf.transitions if t.dest is None
                   and "reason_given" in t.guards), None)
    choices = {(record, fkey): next(f.choices for f in wf.record(record).fields
                                    if f.key == fkey)
               for record, fkey in wf.dimensions.values()}

    def new_id(table: str) -> int:
        next_id[table] += 1
        return next_id[table]

    for cid, owner, team, name, tier in customers:
        settled = rng.random() < SETTLED_SHARE
        if settled:
            received = NOW - timedelta(days=rng.uniform(limit + 1, 120))
            span = timedelta(days=limit * (rng.uniform(1.05, 1.8) if rng.random() < LATE_SHARE
                                           else rng.uniform(0.2, 0.95)))
            target = last
        else:
            # Open and within the limit: received less than the limit ago.
            received = NOW - timedelta(days=rng.uniform(0.2, limit - 0.5))
            span = (NOW - received) * rng.uniform(0.5, 0.95)
            target = rng.randrange(last)
        steps = max(target, 1)
        hist: list[tuple[str, datetime, str | None]] = [("create", received, None)]
        for i in range(target):
            at = received + span * (i + 1) / steps
            if settled and extend and i == 1 and rng.random() < EXTENDED_SHARE:
                hist.append((extend, at - span / (3 * steps), "情况复杂，需进一步核实"))
            hist.append((settle if i == last - 1 else "advance", at, None))
        state = replay(engine, hist)
        pid = new_id("prospects")
        warned = state.clock_no if state.warn_at is not None and state.warn_at <= NOW else 0
        yield "prospects", (
            pid, wf.key, name, tier, owner, team, state.stage, state.status,
            state.stage_entered_at, state.clock_started_at, state.due_at, state.warn_at,
            state.paused_at, state.paused_seconds, state.clock_no, warned, 0, None,
            None, None, None, None, None, None, received, hist[-1][1], len(hist), cid)
        yield "complaints", (pid, rng.choice(SUMMARIES), rng.choice(CATEGORIES), received,
                             owner, None)
        prev_stage = prev_status = None
        for seq, (event, at, reason) in enumerate(hist, 1):
            if event == "create":
                to_stage, to_status = keys[0], "active"
            else:
                to_stage = dest.get((event, prev_stage)) or prev_stage
                to_status = EVENT_STATUSES[event][1] or prev_status
            yield "stage_events", (new_id("stage_events"), pid, seq, event, prev_stage,
                                   to_stage, prev_status, to_status, owner, owner, team, at,
                                   reason, None)
            prev_stage, prev_status = to_stage, to_status
        # Every step passed has its record complete; the current one's is being written.
        reached = keys.index(state.stage)
        for i in range(min(reached + (0 if settled else rng.random() < 0.5), last)):
            if keys[i] not in complete:
                continue
            record_key, data = complete[keys[i]]
            data = dict(data)
            for (record, fkey), options in choices.items():
                if record == record_key:
                    data[fkey] = rng.choice(options)
            at = hist[min(i, len(hist) - 1)][1] + timedelta(hours=2)
            data = _stored(wf.record(record_key), data, at)
            text = json.dumps(data, ensure_ascii=False)
            status = record_status(engine, record_key, data)
            yield "stage_records", (new_id("stage_records"), pid, record_key, text,
                                    status.completeness, status.complete, min(at, NOW), owner)


def add_complaints(url: str, *, seed: int = 20261116) -> int:
    """Complaints about the customers of the province at ``url`` (a generated one), one per
    :data:`CUSTOMERS_PER_COMPLAINT` customers of each manager (every 50th by id), loaded
    by COPY with their stage visits. Nothing is added when the province already has
    complaints. Returns the number of complaints in the province."""
    import psycopg
    from sqlalchemy.engine import make_url

    from pipeline.db import make_engine
    from pipeline.reports import visits

    with psycopg.connect(conninfo(url)) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM complaints")
        have = cur.fetchone()[0]
        if have:
            return have
        # Every 50th customer of each manager (by id): only the customers complained about
        # come back, whatever the size of the bank.
        cur.execute("SELECT id, owner_id, team_id, name, tier FROM (SELECT id, owner_id, "
                    "team_id, name, tier, row_number() OVER (PARTITION BY owner_id "
                    "ORDER BY id) AS n FROM prospects WHERE workflow_key = %s) AS c "
                    "WHERE n %% %s = 0 ORDER BY owner_id, id",
                    (workflows.DEFAULT_KEY, CUSTOMERS_PER_COMPLAINT))
        by_owner: dict[int, list[tuple]] = {}
        for row in cur.fetchall():
            by_owner.setdefault(row[1], []).append(row)
        next_id = {}
        for table in ("prospects", "stage_events", "stage_records"):
            cur.execute(f"SELECT COALESCE(max(id), 0) FROM {table}")
            next_id[table] = cur.fetchone()[0]
        rows: dict[str, list[tuple]] = {"prospects": [], "complaints": [],
                                        "stage_events": [], "stage_records": []}
        for owner, customers in sorted(by_owner.items()):
            rng = random.Random(seed * 7_919 + owner)
            for table, row in case_rows(rng, customers, next_id):
                rows[table].append(row)
        columns = {"prospects": CASE_COLUMNS, "complaints": COMPLAINT_COLUMNS,
                   "stage_events": COLUMNS["stage_events"],
                   "stage_records": COLUMNS["stage_records"]}
        for table, found in rows.items():
            with cur.copy(f"COPY {table} ({', '.join(columns[table])}) FROM STDIN") as copy:
                for row in found:
                    copy.write_row(row)
        for table in ("prospects", "stage_events", "stage_records"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))")
        conn.commit()
    engine = make_engine(make_url(url).set(drivername="postgresql+psycopg")
                         .render_as_string(hide_password=False))
    with engine.begin() as conn:
        visits.rebuild(conn, [row[0] for row in rows["prospects"]])
    engine.dispose()
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        for table in ("prospects", "complaints", "stage_events", "stage_records",
                      "stage_visits"):
            conn.execute(f"ANALYZE {table}")
    return len(rows["complaints"])
