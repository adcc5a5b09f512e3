"""A customer's tier follows the assets unless set by hand, and every change of tier is one
history row written by the one event path (on SQLite and PostgreSQL)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from pipeline.errors import Conflict, Invalid, NotFound
from pipeline.prospects import events
from pipeline.prospects.models import Prospect, StageEvent, StageVisit
from pipeline.prospects.services import create_prospect, update_customer


def history(session, prospect) -> list[StageEvent]:
    return list(session.scalars(select(StageEvent).where(StageEvent.prospect_id == prospect.id)
                                .order_by(StageEvent.seq)))


def tier_changes(session, prospect) -> list[dict]:
    return [dict(h.data) for h in history(session, prospect) if h.event == "tier_change"]


@pytest.fixture
def owner(factory):
    return factory.user("manager", "Team A")


def new(session, owner, **data):
    return create_prospect(session, actor=owner, data={"name": "Chen Jing", **data})


# ---------------------------------------------------------------- creating

@pytest.mark.parametrize("assets, tier", [
    (49_999, "gold"), (50_000, "gold"), (499_999, "gold"), (500_000, "platinum"),
    (1_000_000, "black_gold"), (6_000_000, "diamond"),
])
def test_a_prospect_created_without_a_tier_gets_the_assets_tier(session, owner, assets, tier):
    p = new(session, owner, assets=assets)
    assert (p.tier, p.tier_manual) == (tier, False)
    assert [h.event for h in history(session, p)] == ["create"]


def test_a_tier_given_at_creation_is_kept_and_marked_as_set_by_hand(session, owner):
    p = new(session, owner, tier="diamond", assets=60_000)
    assert (p.tier, p.tier_manual) == ("diamond", True)
    without_assets = new(session, owner, tier="gold")
    assert (without_assets.tier, without_assets.tier_manual) == ("gold", True)


@pytest.mark.parametrize("data", [{}, {"tier": None}, {"tier": "  "}, {"assets": None}])
def test_neither_tier_nor_assets_is_refused_naming_the_tier(session, owner, data):
    with pytest.raises(Invalid) as info:
        new(session, owner, **data)
    assert info.value.status == 422 and "tier" in info.value.details
    assert session.scalar(select(Prospect.id).where(Prospect.name == "Chen Jing")) is None


def test_a_bad_tier_is_named_once(session, owner):
    with pytest.raises(Invalid) as info:
        new(session, owner, tier="silver")
    assert info.value.details["tier"] == ["Must be one of: diamond, black_gold, platinum, gold."]


# ---------------------------------------------------------------- changing the customer

def test_assets_move_a_following_tier_with_one_history_row_through_the_path(
        session, owner, monkeypatch):
    applied: list[str] = []
    monkeypatch.setattr(events, "_after", [])
    events.after_apply(lambda _s, a: applied.append(a.outcome.recorded_as))
    p = new(session, owner, assets=80_000)
    version, stage, status = p.version, p.stage, p.status
    moved = update_customer(session, p.id, actor=owner, data={"assets": 750_000},
                            version=version)
    assert (moved.tier, moved.tier_manual, moved.assets) == ("platinum", False, 750_000)
    assert moved.version == version + 1
    assert applied == ["create", "tier_change"]
    row = history(session, p)[-1]
    assert (row.event, row.from_stage, row.to_stage, row.from_status, row.to_status,
            row.actor_id) == ("tier_change", stage, stage, status, status, owner.id)
    assert row.data == {"from": "gold", "to": "platinum", "manual": False}
    # The state and the stage visit are as they were.
    session.expire_all()
    fresh = session.get(Prospect, p.id)
    assert (fresh.stage, fresh.status, fresh.tier, fresh.version) == (
        stage, status, "platinum", version + 1)
    visit = session.scalars(select(StageVisit).where(StageVisit.prospect_id == p.id)).one()
    assert visit.end_at is None and visit.stage == stage


def test_no_history_row_when_the_tier_stays(session, owner):
    p = new(session, owner, assets=80_000)
    version = p.version
    same = update_customer(session, p.id, actor=owner, data={"assets": 90_000})
    assert (same.tier, same.assets, same.version) == ("gold", 90_000, version + 1)
    again = update_customer(session, p.id, actor=owner, data={"potential": "high"})
    assert (again.potential, again.tier) == ("high", "gold")
    assert [h.event for h in history(session, p)] == ["create"]


def test_a_tier_set_by_hand_is_kept_when_the_assets_change(session, owner):
    p = new(session, owner, assets=80_000)
    update_customer(session, p.id, actor=owner, data={"tier": "black_gold"})
    assert (p.tier, p.tier_manual) == ("black_gold", True)
    update_customer(session, p.id, actor=owner, data={"assets": 9_000_000})
    update_customer(session, p.id, actor=owner, data={"assets": 10_000})
    session.expire_all()
    kept = session.get(Prospect, p.id)
    assert (kept.tier, kept.tier_manual, kept.assets) == ("black_gold", True, 10_000)
    assert tier_changes(session, p) == [{"from": "gold", "to": "black_gold", "manual": True}]


def test_tier_null_lets_the_tier_follow_the_assets_again(session, owner):
    p = new(session, owner, tier="diamond", assets=600_000)
    back = update_customer(session, p.id, actor=owner, data={"tier": None})
    assert (back.tier, back.tier_manual) == ("platinum", False)
    update_customer(session, p.id, actor=owner, data={"assets": 1_500_000})
    assert session.get(Prospect, p.id).tier == "black_gold"
    assert tier_changes(session, p) == [
        {"from": "diamond", "to": "platinum", "manual": False},
        {"from": "platinum", "to": "black_gold", "manual": False}]


def test_tier_and_assets_together(session, owner):
    p = new(session, owner, tier="gold")
    update_customer(session, p.id, actor=owner, data={"assets": 7_000_000, "tier": None})
    assert (p.tier, p.tier_manual) == ("diamond", False)
    assert tier_changes(session, p) == [{"from": "gold", "to": "diamond", "manual": False}]


def test_the_same_tier_set_by_hand_writes_no_row_but_is_kept(session, owner):
    p = new(session, owner, assets=80_000)
    update_customer(session, p.id, actor=owner, data={"tier": "gold"})
    update_customer(session, p.id, actor=owner, data={"assets": 800_000})
    assert (p.tier, p.tier_manual) == ("gold", True)
    assert tier_changes(session, p) == []


def test_tier_null_without_assets_is_refused_naming_the_tier(session, owner):
    p = new(session, owner, tier="platinum")
    version = p.version
    with pytest.raises(Invalid) as info:
        update_customer(session, p.id, actor=owner, data={"tier": None, "potential": "low"})
    assert "tier" in info.value.details
    session.expire_all()
    kept = session.get(Prospect, p.id)
    assert (kept.tier, kept.tier_manual, kept.potential, kept.version) == (
        "platinum", True, None, version)


@pytest.mark.parametrize("data, field", [
    ({"assets": -1}, "assets"), ({"assets": "1000"}, "assets"), ({"assets": None}, "assets"),
    ({"potential": "medium"}, "potential"), ({"tier": "silver"}, "tier"),
    ({"tier": 3}, "tier"), ({"colour": "red"}, "colour"), ({}, "_schema"),
    ({"version": 1}, "_schema"),
])
def test_bad_input_is_refused_naming_the_field(session, owner, data, field):
    p = new(session, owner, assets=80_000)
    with pytest.raises(Invalid) as info:
        update_customer(session, p.id, actor=owner, data=data)
    assert field in info.value.details
    assert len(history(session, p)) == 1


def test_a_stale_version_changes_nothing(session, owner):
    p = new(session, owner, assets=80_000)
    stale = p.version
    update_customer(session, p.id, actor=owner, data={"potential": "low"}, version=stale)
    with pytest.raises(Conflict) as info:
        update_customer(session, p.id, actor=owner, data={"assets": 900_000}, version=stale)
    assert info.value.code == "stale_version"
    session.expire_all()
    kept = session.get(Prospect, p.id)
    assert (kept.assets, kept.tier) == (80_000, "gold")
    assert tier_changes(session, p) == []


def test_only_who_may_see_the_customer_may_change_it(session, factory, owner):
    p = new(session, owner, assets=80_000)
    lead = factory.user("team_lead", "Team A")
    update_customer(session, p.id, actor=lead, data={"assets": 700_000})
    assert history(session, p)[-1].actor_id == lead.id
    for stranger in (factory.user("manager", "Team A"), factory.user("team_lead", "Team B")):
        with pytest.raises(NotFound):
            update_customer(session, p.id, actor=stranger, data={"tier": "diamond"})
    assert session.get(Prospect, p.id).tier == "platinum"


def test_a_won_customer_keeps_its_state(session, factory, owner):
    p = factory.prospect(owner, stage="after_sale", tier="gold")
    before = (p.stage, p.status, p.due_at, p.clock_no)
    update_customer(session, p.id, actor=owner, data={"tier": None, "assets": 2_000_000})
    session.expire_all()
    after = session.get(Prospect, p.id)
    assert (after.stage, after.status, after.due_at, after.clock_no) == before
    assert after.tier == "black_gold"
    assert history(session, p)[-1].to_status == "won"
