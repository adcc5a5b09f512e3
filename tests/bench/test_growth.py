"""The benchmark's sizes (``--scale``) and its growth table, without a database."""
from __future__ import annotations

import pytest

from bench import generate as G
from bench import growth
from bench.__main__ import main


def test_a_manager_and_a_team_hold_the_same_at_every_size():
    small, province, national = (G.scale_for(n) for n in (25_000, 250_000, 2_500_000))
    assert province == G.PROVINCE
    assert (small.teams, national.teams) == (10, 1000)
    assert {s.open_per_manager for s in (small, province, national)} == {250}
    assert {s.managers_per_team for s in (small, province, national)} == {10}
    # The last manager's ids (and the customer numbers drawn from them) stay in range.
    assert national.managers * G.ID_BLOCK <= G.MAX_ID
    with pytest.raises(ValueError, match="managers"):
        G.scale_for(4_000_000)


def test_sizes_from_the_command_line():
    assert G.parse_sizes("250k, 25000,25_000") == [25_000, 250_000]
    assert [G.size_label(n) for n in (25_000, 2_500_000, 26_001)] == ["25k", "2500k", "26001"]
    assert G.size_url("postgresql+psycopg://u:p@h:5432/pipeline_bench", 2_500_000) == \
        "postgresql+psycopg://u:p@h:5432/pipeline_bench_2500k"
    for bad in ("", "lots", "1000", "9000000"):
        with pytest.raises(ValueError):
            G.parse_sizes(bad)
    with pytest.raises(SystemExit) as exit_:
        main(["--scale", "lots", "--only", "growth"])
    assert exit_.value.code == 2


def test_paths_are_called_at_every_size_in_turn():
    calls = []
    times = growth.interleaved([lambda: calls.append("a"), lambda: calls.append("b")],
                               repeat=3, warmup=1)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]  # warm-up, then turn by turn
    assert [len(t) for t in times] == [3, 3]


def _size(n: int, board: float, sweep: float, rate: float, whole: float) -> growth.Size:
    s = growth.Size(n, f"postgresql+psycopg://h/pipeline_bench_{G.size_label(n)}",
                    counts={"teams": n // 2500, "prospects": n, "stage_events": 8 * n},
                    seconds=n / 3000, load_seconds=n / 4000, bytes=n * 10_000)
    s.figures = {"board, manager": board, "prospect page, manager": 0.02,
                 "task list": 0.01, "idle sweep": sweep, "advances/s": rate,
                 growth.WHOLE: whole * 5, growth.ROLLED: whole,
                 f"api {growth.WHOLE}": whole * 1.1, growth.BUILD: n / 25_000}
    return s


def test_growth_table_ratios_and_budgets():
    out = growth.section([_size(250_000, 0.031, 0.009, 200.0, 0.30),
                          _size(25_000, 0.030, 0.004, 250.0, 0.03)])
    text = "\n".join(out.lines)
    assert "| 25k | `pipeline_bench_25k` | 10 | 25,000 | 200,000 | 8.0 |" in text
    assert "1.03×" in text  # the manager's board, 31 ms over 30 ms
    verdict = {b.name: (b.measured, b.ok) for b in out.budgets}
    assert verdict["flat 25k → 250k: board, manager"] == ("1.03×", True)
    assert verdict["flat 25k → 250k: idle sweep"] == ("2.25×", False)
    # Advance is a rate: its cost is the time per advance (250/s → 200/s is 1.25×).
    assert verdict["flat 25k → 250k: advance"] == ("1.25×", True)
    # The budget is the rollup's read and the API (which reads it), not the live figure.
    funnel = verdict["funnel of the whole bank at 250k (the rollup's read and the API, the "
                     "slower median)"]
    assert funnel == ("330.0 ms", True)
    assert "| funnel, whole bank, live (`funnel()`) | 150.0 ms | 1500.0 ms | 10.00× |" in text
    assert "| rollup build (`reports rollup`, once) | 1000.0 ms | 10000.0 ms | 10.00× |" in text
    # Not the national size: the funnel's figure there is extrapolated and said.
    assert "about 3300.0 ms" in text


@pytest.mark.postgres_only
def test_a_reused_database_keeps_its_generation_time(database_url):
    from bench.__main__ import province_exists

    url = G.size_url(database_url, 25_000)
    G.recreate_postgres(url)
    try:
        assert G.noted_generation(url) == {}
        G.note_generation(url, {"seconds": 48.2, "load_seconds": 39.0, "counts": {}})
        assert G.noted_generation(url) == {"seconds": 48.2, "load_seconds": 39.0}
        assert G.database_bytes(url) > 1_000_000
        assert not province_exists(url, 25_000)  # no tables yet
    finally:
        import psycopg

        admin, name = G.admin_url(url)
        with psycopg.connect(G.conninfo(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
