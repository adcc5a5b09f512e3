"""The benchmark's complaints: each case's history replays through the complaint engine to
its stored state, open cases are within their limit (warned when past the warning time),
and the report's dimensions are filled from their fields' choices."""
from __future__ import annotations

import json
import random
from collections import defaultdict
from itertools import pairwise

from bench import complaint_data as C
from bench.generate import NOW
from pipeline import workflows

CUSTOMERS = [(1000 + i, 7, 3, f"客户{i}", "gold") for i in range(120)]


def rows() -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    columns = {"prospects": C.CASE_COLUMNS, "complaints": C.COMPLAINT_COLUMNS,
               "stage_events": C.COLUMNS["stage_events"],
               "stage_records": C.COLUMNS["stage_records"]}
    ids = dict.fromkeys(("prospects", "stage_events", "stage_records"), 0)
    for table, row in C.case_rows(random.Random(5), CUSTOMERS, ids):
        out[table].append(dict(zip(columns[table], row, strict=True)))
    return out


def test_cases_replay_to_their_state_and_open_ones_are_within_the_limit():
    engine = workflows.engine(C.WORKFLOW_KEY)
    wf = engine.workflow
    found = rows()
    assert len(found["prospects"]) == len(found["complaints"]) == len(CUSTOMERS)
    history = defaultdict(list)
    for e in found["stage_events"]:
        history[e["prospect_id"]].append(e)
    everything = {key: data for key, data in (r for r in (
        (r["record_key"], json.loads(r["data"])) for r in found["stage_records"]))}
    stages = set()
    for p in found["prospects"]:
        events = history[p["id"]]
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        assert all(a["at"] < b["at"] for a, b in pairwise(events))
        state = engine.start(events[0]["at"])
        for e in events[1:]:
            state = engine.fire(state, e["event"], now=e["at"], records=everything,
                                reason=e["reason"]).state
            assert (state.stage, state.status) == (e["to_stage"], e["to_status"])
        assert (p["stage"], p["status"], p["due_at"]) == (state.stage, state.status,
                                                         state.due_at)
        assert p["customer_id"] in {c[0] for c in CUSTOMERS}
        if p["status"] == "active":
            assert p["due_at"] > NOW
            assert (p["warned_clock_no"] == p["clock_no"]) == (p["warn_at"] <= NOW)
        stages.add(p["stage"])
    assert stages == set(wf.stage_keys)  # every step holds some
    for record, fkey in wf.dimensions.values():
        values = {json.loads(r["data"])[fkey] for r in found["stage_records"]
                  if r["record_key"] == record}
        assert len(values) > 1
