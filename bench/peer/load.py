"""The peer's database: created anew, its tables made by Django's schema editor from
:mod:`bench.peer.models`, filled with a copy of the province's rows (COPY out of ours,
COPY into the peer's) for the first ``managers`` managers by id — the board benchmark's
manager among them — and every user (history rows name their actors)."""
from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg import sql

from bench.generate import conninfo
from bench.peer import PEER_DATABASE, peer_params, setup
from pipeline import workflows

# (peer table, its columns, the select over ours that gives them; {owners} stands for
# the owners' ids, {workflow} for the customers' workflow: the peer models the customer
# pipeline, not the complaint cases the same managers handle)
TABLES = (
    ("peer_users", "id, name, email, role, team_id",
     "SELECT id, name, email, role, team_id FROM users"),
    ("peer_prospects",
     "id, workflow_key, name, tier, owner_id, team_id, phone, stage, status, "
     "stage_entered_at, clock_started_at, due_at, warn_at, paused_at, paused_seconds, "
     "clock_no, lost_reason, sms_opt_out, updated_at, version",
     "SELECT id, workflow_key, name, tier, owner_id, team_id, phone, stage, status, "
     "stage_entered_at, clock_started_at, due_at, warn_at, paused_at, paused_seconds, "
     "clock_no, lost_reason, sms_opt_out, updated_at, version FROM prospects "
     "WHERE owner_id = ANY({owners}) AND workflow_key = {workflow}"),
    ("peer_stage_records",
     "id, prospect_id, record_key, data, completeness, complete, updated_at",
     "SELECT r.id, r.prospect_id, r.record_key, r.data, r.completeness, r.complete, "
     "r.updated_at FROM stage_records r JOIN prospects p ON p.id = r.prospect_id "
     "WHERE p.owner_id = ANY({owners}) AND p.workflow_key = {workflow}"),
    ("peer_stage_events",
     "id, prospect_id, seq, event, from_stage, to_stage, from_status, to_status, "
     "actor_id, owner_id, team_id, at, reason, data",
     "SELECT e.id, e.prospect_id, e.seq, e.event, e.from_stage, e.to_stage, "
     "e.from_status, e.to_status, e.actor_id, e.owner_id, e.team_id, e.at, e.reason, "
     "e.data FROM stage_events e JOIN prospects p ON p.id = e.prospect_id "
     "WHERE p.owner_id = ANY({owners}) AND p.workflow_key = {workflow}"),
)


def load(url: str, managers: int) -> dict[str, Any]:
    """Recreate and fill the peer's database; its row counts and the seconds taken."""
    started = time.perf_counter()
    p = peer_params(url)
    admin = {**p, "dbname": "postgres"}
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PEER_DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{PEER_DATABASE}"')
    setup(url)
    from django.db import connection

    from bench.peer.models import Manager, Prospect, StageEvent, StageRecord

    with connection.schema_editor() as editor:
        for model in (Manager, Prospect, StageRecord, StageEvent):
            editor.create_model(model)
    connection.close()
    counts: dict[str, int] = {}
    with psycopg.connect(conninfo(url)) as src, psycopg.connect(**p) as dst:
        for conn in (src, dst):
            conn.execute("SET TimeZone = 'UTC'")
        owners = [r[0] for r in src.execute(
            "SELECT id FROM users WHERE role = 'manager' ORDER BY id LIMIT %s", (managers,))]
        for table, columns, select in TABLES:
            copy_out = sql.SQL("COPY ({}) TO STDOUT").format(
                sql.SQL(select).format(owners=sql.Literal(owners),
                                       workflow=sql.Literal(workflows.DEFAULT_KEY)))
            with src.cursor() as out_cur, dst.cursor() as in_cur:
                with out_cur.copy(copy_out) as out, \
                        in_cur.copy(f"COPY {table} ({columns}) FROM STDIN") as into:
                    for chunk in out:
                        into.write(chunk)
            counts[table] = dst.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            dst.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"COALESCE((SELECT max(id) FROM {table}), 1))")
        dst.commit()
    with psycopg.connect(**p, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return {"counts": counts, "seconds": time.perf_counter() - started,
            "managers": len(owners)}
