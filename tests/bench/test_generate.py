"""The benchmark data generator at a tiny scale: every history replays through the real
engine to the stored state, the rows respect the product's rules and constraints, and a
sweep at the generator's time finds nothing left to do."""
from __future__ import annotations

import json
from collections import defaultdict
from datetime import timedelta
from itertools import pairwise

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import sessionmaker

from bench import generate as G
from pipeline import workflows
from pipeline.db import make_engine
from pipeline.engine import identity
from pipeline.engine.definition import POTENTIALS
from pipeline.escalations import rules
from pipeline.escalations.services import sweep_due
from pipeline.prospects.models import Prospect, StageEvent, StageVisit
from pipeline.prospects.queries import MAINTAINED
from pipeline.prospects.services import STATE_FIELDS, record_status
from pipeline.reports import visits

ORPHAN_EVENTS = ("SELECT count(*) FROM stage_events e LEFT JOIN prospects p "
                 "ON p.id = e.prospect_id WHERE p.id IS NULL")
OWNER_OUTSIDE_TEAM = ("SELECT count(*) FROM prospects p LEFT JOIN users u "
                      "ON u.id = p.owner_id WHERE u.id IS NULL OR u.team_id <> p.team_id")
LEAD_OUTSIDE_TEAM = ("SELECT count(*) FROM teams t JOIN users u ON u.id = t.lead_id "
                     "WHERE u.role <> 'team_lead' OR u.team_id <> t.id")
TINY = G.Scale(teams=2, managers_per_team=2, open_per_manager=40, seed=11)
# Every record complete: guards never refuse, so firing the history checks the clock.
ALL_RECORDS = G.ALL_RECORDS_FOR_FIRING


@pytest.fixture(scope="module")
def generated():
    engine = workflows.engine()
    _teams, _users, managers = G.users_rows(TINY, "hash", "tiny.bank")
    rows: dict[str, list[dict]] = defaultdict(list)
    for table, row in G.prospect_rows(TINY, managers, engine):
        rows[table].append(dict(zip(G.COLUMNS[table], row)))
    return engine, managers, rows


def test_same_seed_same_rows():
    engine = workflows.engine()
    _, _, managers = G.users_rows(TINY, "hash", "tiny.bank")
    first = list(G.prospect_rows(TINY, managers[:1], engine))
    again = list(G.prospect_rows(TINY, managers[:1], engine))
    other = list(G.prospect_rows(G.Scale(2, 2, 40, seed=12), managers[:1], engine))
    assert first == again
    assert first != other


def test_history_replays_through_the_engine_to_each_prospect_state(generated):
    engine, _, rows = generated
    history = defaultdict(list)
    for e in rows["stage_events"]:
        history[e["prospect_id"]].append(e)
    statuses = set()
    for p in rows["prospects"]:
        events = history[p["id"]]
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        assert events[0]["event"] == "create"
        assert all(a["at"] < b["at"] for a, b in pairwise(events))
        assert all(b["from_stage"] == a["to_stage"] and b["from_status"] == a["to_status"]
                   for a, b in pairwise(events))
        state = engine.start(events[0]["at"])
        for e in events[1:]:
            state = engine.fire(state, e["event"], now=e["at"], records=ALL_RECORDS,
                                reason=e["reason"]).state
            assert (state.stage, state.status) == (e["to_stage"], e["to_status"])
        for name in STATE_FIELDS:
            if name == "due_at" and state.status == "won":
                # After-sale: the sweep keeps the end of the contact period in due_at.
                period = engine.workflow.stage("after_sale").contact_frequency[p["tier"]].period
                assert p["due_at"] == rules.next_check(G.NOW, period, engine.workflow.timezone)
            else:
                assert p[name] == getattr(state, name), (p["id"], name)
        assert p["version"] == len(events)
        assert p["updated_at"] == events[-1]["at"] <= G.NOW
        statuses.add(p["status"])
    assert statuses == {"active", "paused", "won", "lost"}
    assert len(rows["stage_events"]) > 5 * len(rows["prospects"])


def test_rows_keep_the_rules(generated):
    engine, managers, rows = generated
    wf = engine.workflow
    cap = wf.escalation.max_active_per_manager
    per_owner = defaultdict(int)
    for p in rows["prospects"]:
        if p["status"] in MAINTAINED:
            per_owner[p["owner_id"]] += 1
        assert (p["status"] == "lost") == bool(p["lost_reason"])
        assert (p["status"] == "paused") == (p["paused_at"] is not None)
    assert max(per_owner.values()) <= cap
    assert set(per_owner) == {m["id"] for m in managers}
    # Customers' numbers are valid, the ID number carries the birthday, and customer and ID
    # numbers are unique (the unique indexes would refuse the load otherwise).
    people = rows["prospects"]
    for p in people:
        assert identity.id_number_problem(p["id_number"]) is None
        assert identity.birth_date(p["id_number"]) == p["birthday"]
        assert identity.mobile_problem(p["phone"]) is None
        assert identity.customer_no_problem(p["customer_no"]) is None
        assert p["potential"] in POTENTIALS
    assert len({p["id_number"] for p in people}) == len(people)
    assert len({p["customer_no"] for p in people}) == len(people)
    for r in rows["stage_records"]:
        status = record_status(engine, r["record_key"], json.loads(r["data"]))
        assert (r["complete"], r["completeness"]) == (status.complete, status.completeness)
    prospects = {p["id"]: p for p in rows["prospects"]}
    ready = [p for p in prospects.values() if p["status"] == "active" and any(
        r["prospect_id"] == p["id"] and r["complete"]
        and wf.stage_of_record(r["record_key"]).key == p["stage"]
        for r in rows["stage_records"])]
    assert ready  # the advance benchmark needs prospects whose stage is complete
    for t in rows["cadence_tasks"]:
        p = prospects[t["prospect_id"]]
        if p["stage"] == "first_contact":
            assert t["clock_no"] == p["clock_no"]
        if t["done_at"] is None and t["due_at"] <= G.NOW:
            assert t["reminded_at"] is not None
    for e in rows["escalations"]:
        p = prospects[e["prospect_id"]]
        assert e["clock_no"] == p["clock_no"]
        if e["kind"] == "stage_overdue":
            assert p["status"] == "active" and p["due_at"] < G.NOW
        assert (e["level"] == 2) == (e["opened_at"] + timedelta(days=2) <= G.NOW)


def test_loaded_database_is_consistent_and_the_sweep_is_idle(database_url, tmp_path):
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path}/branch.sqlite3"
        G.generate_sqlite(url, TINY)
    else:
        url = database_url.rsplit("/", 1)[0] + "/" + database_url.rsplit("/", 1)[1] + "_gen"
        G.generate_postgres(url, TINY, workers=2)
    engine = make_engine(url)
    try:
        with sessionmaker(bind=engine)() as session:
            n = session.scalar(select(func.count()).select_from(Prospect))
            assert n == 4 * round(40 * (1 + TINY.lost_share))
            # Every reference resolves (PostgreSQL loaded with per-row FK checks off).
            for sql in (ORPHAN_EVENTS, OWNER_OUTSIDE_TEAM, LEAD_OUTSIDE_TEAM):
                assert session.scalar(text(sql)) == 0
            # The stage visits were filled from the loaded history and escalations.
            kept = session.execute(select(StageVisit.prospect_id, StageVisit.start_seq,
                                          StageVisit.stalled)).all()
            assert len(kept) > n and any(stalled for _, _, stalled in kept)
            assert sorted((p, s, bool(x)) for p, s, x in kept) == sorted(
                (r[0], r[1], bool(r[8])) for r in session.execute(visits.from_history(session)))
            last = session.execute(select(StageEvent.prospect_id, func.max(StageEvent.seq))
                                   .group_by(StageEvent.prospect_id)).all()
            assert {pid: seq for pid, seq in last} == dict(
                session.execute(select(Prospect.id, Prospect.version)).all())
            idle = sweep_due(session, G.NOW, full=True).as_dict()
            idle.pop("daily")  # the day's own steps (birthday tasks), made once a day
            assert {k: v for k, v in idle.items() if k != "now"} == dict.fromkeys(
                ("warned", "escalated", "raised", "contact_overdue", "reminded", "closed",
                 "retention"), 0)
            again = sweep_due(session, G.NOW, full=True).as_dict()
            assert not any(again["daily"].values())
            later = sweep_due(session, G.NOW + timedelta(days=3)).as_dict()
            assert later["warned"] + later["escalated"] > 0
    finally:
        engine.dispose()
        if not url.startswith("sqlite"):
            import psycopg

            admin, name = G.admin_url(url)
            with psycopg.connect(G.conninfo(admin), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
