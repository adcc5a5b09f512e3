"""The after-sale benchmark's event file: valid as the import reads it (every row on the
set-based path), the size asked for, reproducible, and no event the import would refuse
or count twice by accident but the rare repeat."""
from __future__ import annotations

from collections import Counter

from bench import aftersale
from pipeline.aftersale import services
from pipeline.engine.definition import CUSTOMER_EVENT_KINDS

NUMBERS = [f"62{n:08d}" for n in range(50)]


def test_the_event_file_is_plain_reproducible_and_spread():
    data = aftersale.event_csv(NUMBERS, rows=400, seed=3)
    assert data == aftersale.event_csv(NUMBERS, rows=400, seed=3)
    assert data != aftersale.event_csv(NUMBERS, rows=400, seed=4)
    plain = services._plain_csv(data)
    assert plain is not None and len(plain.rows) == 400
    assert {r[1] for r in plain.rows} == set(NUMBERS)
    kinds = Counter(r[2] for r in plain.rows)
    assert set(kinds) <= set(CUSTOMER_EVENT_KINDS) and len(kinds) >= 3
    drops = Counter(r[1] for r in plain.rows if r[2] == "tier_drop")
    assert all(n == 1 for n in drops.values())
    keys = {services.event_key(n, k, d, p, a) for _line, n, k, d, a, p in plain.rows}
    assert len(keys) == 400
