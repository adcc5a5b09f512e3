"""The ``transitions`` machine: one shared machine with ``model=None`` (``Engine(wf,
shared=True)``, the default) against a machine built per operation (``shared=False``),
firing and evaluating ``available_events`` for a board of 2,500 cards. Pure: no database."""
from __future__ import annotations

import logging
import random
import time

from bench.common import Section, median
from bench.generate import ALL_RECORDS_FOR_FIRING, draw_life
from pipeline import workflows
from pipeline.engine import Engine
from pipeline.engine.machine import EngineError

CARDS = 2_500


def _board(engine: Engine) -> list:
    rng = random.Random(2500)
    states = []
    while len(states) < CARDS:
        life = draw_life(rng, engine)
        if life.state.status == "active":
            records = {k: d for k, (d, _) in life.records.items()}
            states.append((life.state, records))
    return states


def _fire_all(engine: Engine, board: list) -> int:
    """Each card's board move: advance (or win) where its records allow, else pause."""
    fired = 0
    for state, _records in board:
        event = "win" if state.stage == "close" else "advance"
        try:
            engine.fire(state, event, now=state.stage_entered_at, records=ALL_RECORDS_FOR_FIRING)
        except EngineError:  # after-sale cards have no forward move: not counted
            pass
        else:
            fired += 1
    return fired


def _available_all(engine: Engine, board: list) -> int:
    return sum(len(engine.available_events(state, records)) for state, records in board)


def run(*, repeat: int = 5) -> Section:
    section = Section("transitions machine: shared (model=None) vs one per operation")
    logging.getLogger("transitions").setLevel(logging.WARNING)
    wf = workflows.workflow()
    engines = {"shared": Engine(wf, shared=True), "per operation": Engine(wf, shared=False)}
    board = _board(engines["shared"])
    results: dict[tuple[str, str], list[float]] = {}
    for _ in range(repeat):  # alternate the two so noise hits both alike
        for name, engine in engines.items():
            for what, fn in (("fire", _fire_all), ("available_events", _available_all)):
                start = time.perf_counter()
                fn(engine, board)
                results.setdefault((name, what), []).append(time.perf_counter() - start)
    rows = []
    for what in ("fire", "available_events"):
        shared = median(results[("shared", what)])
        per = median(results[("per operation", what)])
        rows.append([f"`{what}` for {CARDS:,} cards", f"{shared * 1000:.0f} ms",
                     f"{per * 1000:.0f} ms", f"{per / shared:.2f}×",
                     "shared" if shared <= per else "per operation"])
    section.say(f"Median of {repeat} alternating runs over {CARDS:,} active cards drawn by "
                "the generator; `fire` is each card's forward move with its records complete.")
    section.say()
    section.table(["operation", "shared machine", "machine per operation",
                   "per-operation / shared", "faster"], rows)
    fire_shared = median(results[("shared", "fire")])
    fire_per = median(results[("per operation", "fire")])
    default_shared = Engine(wf).shared
    faster = "shared" if fire_shared <= fire_per else "per operation"
    section.say(f"The engine's default is {'shared' if default_shared else 'per operation'}; "
                f"firing, the faster is {faster}: "
                f"{fire_shared / CARDS * 1e6:.0f} µs vs {fire_per / CARDS * 1e6:.0f} µs per event. "
                "`available_events` does not enter the machine (it checks the event table "
                "and the guards directly): the same code runs for both engines, so a "
                "difference in that row is the machine's noise.")
    section.say()
    section.budget("the faster machine is the default", faster,
                   "default = faster", (faster == "shared") == default_shared)
    return section
