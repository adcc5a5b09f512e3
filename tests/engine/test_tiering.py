"""Tiering as data: tiers by assets, upkeep by asset size × potential, a tier change as an
outcome (the engine alone, no database)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.engine import Engine, load_workflow
from pipeline.engine.definition import TIERS
from pipeline.engine.machine import VISIT_MOVE
from pipeline.workflows import DEFAULT_DIR

T = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_workflow(DEFAULT_DIR / "seven_step.yaml"))


@pytest.fixture(scope="module")
def tiering(engine):
    return engine.workflow.tiering


def test_the_workflow_holds_a_threshold_per_tier_highest_first(tiering):
    assert tuple(tiering.thresholds) == TIERS
    assert dict(tiering.thresholds) == {"diamond": 6_000_000, "black_gold": 1_000_000,
                                        "platinum": 500_000, "gold": 50_000}
    assert tiering.book_starts == 50_000  # seed 002: customers with 50,000 or more
    assert tiering.high_assets == 200_000  # seed 000's line


@pytest.mark.parametrize("assets, tier", [
    (0, "gold"), (49_999.99, "gold"), (50_000, "gold"),
    (499_999.99, "gold"), (500_000, "platinum"),
    (999_999, "platinum"), (1_000_000, "black_gold"),
    (5_999_999.5, "black_gold"), (6_000_000, "diamond"), (10**9, "diamond"),
])
def test_a_tier_starts_at_its_threshold(tiering, assets, tier):
    assert tiering.tier_for(assets) == tier


@pytest.mark.parametrize("assets, potential, name, period, require", [
    (200_000, "high", "Very high", "month", {"visit": 1, "call": 2}),
    (199_999, "high", "High", "month", {"call": 2}),
    (200_000, "low", "Medium", "month", {"call": 1}),
    (199_999, "low", "Low", "quarter", {"any": 1}),
    (6_000_000, "low", "Medium", "month", {"call": 1}),
    (0, "high", "High", "month", {"call": 2}),
])
def test_the_grid_gives_each_cell_its_frequency(tiering, assets, potential, name, period,
                                                 require):
    cell = tiering.cell(assets, potential)
    assert cell.name.en == name
    freq = tiering.frequency_for(assets, potential)
    assert (freq.period, dict(freq.require)) == (period, require)


def test_the_grid_is_named_in_both_languages(tiering):
    assert [tiering.upkeep[a][p].name.zh_CN for a in ("high", "low") for p in ("high", "low")] \
        == ["很高", "中等", "较高", "较低"]


def test_no_high_asset_cell_asks_for_more_than_three_calls_a_month(tiering):
    # Seed 000: a customer with over 200,000 gets no more than 3 calls a month.
    for cell in tiering.upkeep["high"].values():
        assert cell.frequency.require.get("call", 0) <= 3


@pytest.mark.parametrize("assets", [-1, None, "100", True, float("nan")])
def test_assets_must_be_a_number_of_at_least_zero(tiering, assets):
    with pytest.raises(ValueError):
        tiering.tier_for(assets)
    with pytest.raises(ValueError):
        tiering.frequency_for(assets, "high")


def test_potential_must_be_high_or_low(tiering):
    with pytest.raises(ValueError, match="potential"):
        tiering.frequency_for(1_000, "medium")


def test_the_tiering_is_frozen(tiering):
    with pytest.raises(AttributeError):
        tiering.high_assets = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        tiering.thresholds["gold"] = 1  # type: ignore[index]
    with pytest.raises(TypeError):
        tiering.upkeep["high"]["high"] = None  # type: ignore[index]


# ---------------------------------------------------------------- a tier change

def test_a_tier_change_is_an_outcome_that_leaves_the_state_alone(engine):
    state = engine.create(T).state
    out = engine.retier(state, "gold", "platinum", manual=False)
    assert out.recorded_as == "tier_change"
    assert dict(out.data) == {"from": "gold", "to": "platinum", "manual": False}
    assert out.state == state and out.state is not state
    assert (out.from_stage, out.to_stage) == (state.stage, state.stage)
    assert (out.from_status, out.to_status) == (state.status, state.status)
    assert not out.stage_changed and out.visit == VISIT_MOVE
    assert out.tasks == () and out.escalations == () and out.owner_id is None


def test_a_tier_set_by_hand_says_so(engine):
    state = engine.create(T).state
    assert engine.retier(state, "diamond", "gold", manual=True).data["manual"] is True


@pytest.mark.parametrize("from_tier, to_tier", [("gold", "gold"), ("gold", "silver"),
                                                ("bronze", "gold")])
def test_a_tier_change_needs_two_different_known_tiers(engine, from_tier, to_tier):
    with pytest.raises(ValueError):
        engine.retier(engine.create(T).state, from_tier, to_tier, manual=False)
