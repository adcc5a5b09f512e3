"""``advance`` through the service against its floor: the same rows written by plain SQL
(psycopg, no ORM) in the same transaction shape — lock the prospect reading its records,
then update it, append the history row, close the stage visit and open the next in one
statement, commit."""
from __future__ import annotations

import random
import time
from datetime import datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from bench.common import QueryCounter, Section, make_app, median, percentile
from bench.generate import NOW, conninfo
from pipeline import clock, workflows
from pipeline.auth.models import User
from pipeline.db import make_engine
from pipeline.prospects.models import Prospect, StageRecord
from pipeline.prospects.services import advance_prospect

# Ours' transaction on PostgreSQL (pipeline.prospects.events.record_state), by hand: the
# locking read with the records and their version, then the new state, the history row and
# the stage visits as one statement whose UPDATE checks the records are still current.
_RECORDS_VERSION = "(SELECT COALESCE(jsonb_object_agg(id, xmin::text), '{}'::jsonb) " \
                   "FROM stage_records WHERE prospect_id = prospects.id)"
FLOOR_SQL = {
    "lock": "SELECT id, stage, status, clock_no, owner_id, team_id, version, "
            "(SELECT jsonb_object_agg(record_key, data) FROM stage_records "
            f"WHERE prospect_id = prospects.id), {_RECORDS_VERSION} FROM prospects "
            "WHERE id = %s AND owner_id = %s FOR UPDATE",
    "write": "WITH new_state AS (UPDATE prospects SET stage = %s, stage_entered_at = %s, "
             "clock_started_at = %s, due_at = %s, warn_at = %s, paused_seconds = 0, "
             "clock_no = clock_no + 1, updated_at = %s, version = version + 1 "
             f"WHERE id = %s AND version = %s AND {_RECORDS_VERSION} IS NOT DISTINCT FROM %s "
             "RETURNING id, stage, status, owner_id, team_id), "
             "new_history AS (INSERT INTO stage_events (prospect_id, seq, event, from_stage, "
             "to_stage, from_status, to_status, actor_id, owner_id, team_id, at) "
             "SELECT id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM stage_events "
             "WHERE prospect_id = new_state.id), 'advance', %s, stage, 'active', status, %s, "
             "owner_id, team_id, %s FROM new_state "
             "RETURNING id, seq, prospect_id, to_stage, owner_id, team_id, at), "
             "closed AS (UPDATE stage_visits SET end_at = h.at, exit = 'advance', "
             "seconds = CAST(round(EXTRACT(epoch FROM h.at - start_at)) AS INTEGER) "
             "FROM new_history h WHERE stage_visits.prospect_id = h.prospect_id "
             "AND end_at IS NULL), "
             "opened AS (INSERT INTO stage_visits (prospect_id, start_seq, stage, start_at, "
             "won, stalled, owner_id, team_id) SELECT prospect_id, seq, to_stage, at, false, "
             "false, owner_id, team_id FROM new_history) "
             "SELECT id, seq FROM new_history",
}
BUDGET = 0.5  # the service does at least half the floor's advances per second
WARM_UP = 10  # advances each way before the timed rounds


def ready_prospects(session, limit: int) -> list[tuple[int, int]]:
    """(prospect id, owner id) of active prospects whose stage's records are complete and
    whose next step is ``advance``, spread over the province."""
    wf = workflows.workflow()
    pairs = [(s.key, r.key) for s in wf.stages for r in s.records
             if any(t.event == "advance" and t.source == s.key for t in wf.transitions)]
    from sqlalchemy import and_, or_

    rows = session.execute(
        select(Prospect.id, Prospect.owner_id)
        .join(StageRecord, StageRecord.prospect_id == Prospect.id)
        .where(Prospect.status == "active", StageRecord.complete.is_(True),
               or_(*[and_(Prospect.stage == st, StageRecord.record_key == rk)
                     for st, rk in pairs]))
        .order_by(Prospect.id)).all()
    return random.Random(7).sample([(r[0], r[1]) for r in rows], min(limit, len(rows)))


def run(url: str, *, rounds: int = 40, per_round: int = 25,
        at: datetime | None = None) -> Section:
    """``at``: the moment the advances happen (default an hour after the data's time)."""
    section = Section("advance: service vs plain-SQL floor (PostgreSQL province)")
    make_app(url)  # the app registers the escalation handlers every event's outcome needs
    engine = make_engine(url)
    Session = sessionmaker(bind=engine, expire_on_commit=False)
    counter = QueryCounter(engine)
    wf = workflows.workflow()
    nxt = {t.source: t.dest for t in wf.transitions if t.event == "advance"}
    needed = 2 * (rounds * per_round + WARM_UP)
    with Session() as session:
        picked = ready_prospects(session, needed)
        owners = {u.id: u for u in session.scalars(select(User).where(
            User.id.in_({o for _, o in picked})))}
        session.expunge_all()
    if len(picked) < needed:
        raise RuntimeError(f"only {len(picked)} prospects are ready to advance")
    service_set, floor_set = picked[0::2], picked[1::2]
    clock.set_now(at or NOW + timedelta(hours=1))
    floor_conn = psycopg.connect(conninfo(url))
    service_rates, floor_rates, statements = [], [], []
    service_cpu, floor_cpu = [], []
    try:
        # Untimed: both paths' statements reach the driver's prepared-statement threshold
        # and the server's caches see both shapes before the first timed round.
        with Session() as session:
            for pid, owner in service_set[:WARM_UP]:
                advance_prospect(session, pid, "advance", actor=session.get(User, owner))
        for pid, owner in floor_set[:WARM_UP]:
            _floor_advance(floor_conn, pid, owner, nxt, wf)
        service_set, floor_set = service_set[WARM_UP:], floor_set[WARM_UP:]
        for r in range(rounds):
            batch = service_set[r * per_round:(r + 1) * per_round]
            session = Session()
            actors = {u.id: u for u in session.scalars(select(User).where(
                User.id.in_(list(owners))))}
            with counter.counting() as c:
                start, cpu = time.perf_counter(), time.process_time()
                for pid, owner in batch:
                    advance_prospect(session, pid, "advance", actor=actors[owner])
                elapsed = time.perf_counter() - start
                service_cpu.append((time.process_time() - cpu) / len(batch))
            statements.append(c.count / len(batch))
            session.close()
            service_rates.append(len(batch) / elapsed)
            batch = floor_set[r * per_round:(r + 1) * per_round]
            start, cpu = time.perf_counter(), time.process_time()
            for pid, owner in batch:
                _floor_advance(floor_conn, pid, owner, nxt, wf)
            floor_rates.append(len(batch) / (time.perf_counter() - start))
            floor_cpu.append((time.process_time() - cpu) / len(batch))
    finally:
        floor_conn.close()
        clock.set_now(NOW)
        counter.close()
        engine.dispose()
    svc, flo = median(service_rates), median(floor_rates)
    ratios = [s / f for s, f in zip(service_rates, floor_rates)]
    section.say(f"{rounds} rounds of {per_round} advances each way after {WARM_UP} untimed, "
                "service and floor "
                "interleaved round by round on distinct prospects whose records are complete; "
                "one transaction per advance, committed (synchronous_commit on).")
    section.say()
    section.table(
        ["path", "median advances/s", "per advance", "client CPU per advance",
         "statements per advance", "slowest–fastest round (advances/s)"],
        [["`advance_prospect` (service)", f"{svc:.0f}", f"{1000 / svc:.2f} ms",
          f"{1000 * median(service_cpu):.2f} ms",
          f"{median(statements):.0f} + COMMIT",
          f"{min(service_rates):.0f}–{max(service_rates):.0f}"],
         ["plain SQL floor", f"{flo:.0f}", f"{1000 / flo:.2f} ms",
          f"{1000 * median(floor_cpu):.2f} ms", f"{len(FLOOR_SQL)} + COMMIT",
          f"{min(floor_rates):.0f}–{max(floor_rates):.0f}"]])
    ratio = svc / flo
    section.figures.update({"advances/s": svc, "floor advances/s": flo})
    section.say(f"Ratio service / floor: {ratio:.2f} (medians); round by round: median "
                f"{median(ratios):.2f}, quartiles {percentile(ratios, 25):.2f}–"
                f"{percentile(ratios, 75):.2f}, lowest {min(ratios):.2f}.")
    section.say()
    section.budget("advance throughput, service / floor", f"{ratio:.2f}",
                   f"≥ {BUDGET}", ratio >= BUDGET)
    return section


def _floor_advance(conn: psycopg.Connection, pid: int, owner: int, nxt: dict, wf) -> None:
    now = clock.now()
    with conn.cursor() as cur:
        cur.execute(FLOOR_SQL["lock"], (pid, owner))
        _, stage, _status, _clock_no, owner_id, _team_id, version, _records, seen = \
            cur.fetchone()
        to = nxt[stage]
        limit = wf.limit_days(to)
        due = now + timedelta(days=limit) if limit else None
        warn = due - timedelta(days=limit) * 0.2 if due else None
        cur.execute(FLOOR_SQL["write"], (to, now, now, due, warn, now, pid, version,
                                         Jsonb(seen), stage,
                                         owner_id, now))
        if cur.fetchone() is None:
            raise RuntimeError(f"the floor's write found prospect {pid} changed")
    conn.commit()
