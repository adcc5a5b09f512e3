"""The prospect page's assets, potential and tier; the history's tier changes in both
languages; a new prospect's tier from its assets."""
from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from pipeline import clock
from pipeline.escalations.services import sweep_due
from pipeline.prospects.models import Prospect, StageEvent
from pipeline.prospects.services import create_prospect, update_customer
from pipeline.reports.exports import describe_changes
from pipeline.reports.queries import daily_sheet
from tests.prospects.test_views import sign_in


@pytest.fixture
def manager(factory):
    return factory.user("manager", "Team A")


@pytest.fixture
def as_manager(client, manager):
    sign_in(client, manager)
    return client


def customer(session, manager, **data):
    return create_prospect(session, actor=manager, data={"name": "Lin Hui", **data})


def selected(html: str, name: str) -> str | None:
    select_html = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert select_html, name
    option = re.search(r'<option[^>]*selected[^>]*value="([^"]*)"|'
                       r'<option[^>]*value="([^"]*)"[^>]*selected', select_html.group(1))
    return next((v for v in option.groups() if v is not None), None) if option else None


def test_the_page_shows_the_form_as_the_customer_stands(as_manager, session, manager):
    follows = customer(session, manager, assets=120_000, potential="high")
    html = as_manager.get(f"/prospects/{follows.id}").get_data(as_text=True)
    assert 'id="customer"' in html and 'name="customer-assets"' in html
    assert 'value="120000.0"' in html or 'value="120000"' in html
    assert selected(html, "customer-tier") == ""  # follows the assets
    assert selected(html, "customer-potential") == "high"
    assert 'data-testid="upkeep">High<' in html  # low assets, high potential
    assert 'data-testid="tier-manual"' not in html
    by_hand = customer(session, manager, tier="diamond", assets=120_000)
    html = as_manager.get(f"/prospects/{by_hand.id}").get_data(as_text=True)
    assert selected(html, "customer-tier") == "diamond"
    assert 'data-testid="tier-manual">Set by hand<' in html
    assert 'data-testid="upkeep"' not in html  # no potential: the tier's frequency


def test_saving_the_form_changes_the_tier_and_the_history_says_so(as_manager, session,
                                                                   manager):
    p = customer(session, manager, assets=120_000)
    r = as_manager.post(f"/prospects/{p.id}/customer", data={
        "customer-assets": "650000", "customer-potential": "low", "customer-tier": "",
        "customer-version": str(p.version)})
    assert r.status_code == 302 and r.location.endswith("#customer")
    html = as_manager.get(r.location).get_data(as_text=True)
    assert "Assets, potential and tier saved." in html
    assert "Tier changed from Gold to Platinum" in html
    assert 'data-testid="tier">Platinum<' in html
    assert 'data-testid="upkeep">Medium<' in html  # high assets, low potential

    r = as_manager.post(f"/prospects/{p.id}/customer", data={
        "customer-assets": "650000", "customer-potential": "low", "customer-tier": "diamond"})
    html = as_manager.get(r.location).get_data(as_text=True)
    assert "Tier changed from Platinum to Diamond (set by hand)" in html
    rows = session.scalars(select(StageEvent.data).where(
        StageEvent.prospect_id == p.id, StageEvent.event == "tier_change")).all()
    assert rows == [{"from": "gold", "to": "platinum", "manual": False},
                    {"from": "platinum", "to": "diamond", "manual": True}]

    as_manager.post("/language", data={"locale": "zh_CN", "next": "/"})
    html = as_manager.get(f"/prospects/{p.id}").get_data(as_text=True)
    assert "客户等级由黄金调整为白金" in html
    assert "客户等级由白金调整为钻石（手工设定）" in html
    assert "手工设定" in html and "资产、潜力与客户等级" in html


def test_empty_assets_stay_and_a_bad_value_is_shown_beside_its_field(as_manager, session,
                                                                     manager):
    p = customer(session, manager, assets=700_000)
    r = as_manager.post(f"/prospects/{p.id}/customer", data={
        "customer-assets": "", "customer-potential": "high", "customer-tier": ""})
    assert r.status_code == 302
    session.expire_all()
    kept = session.get(Prospect, p.id)
    assert (kept.assets, kept.potential, kept.tier) == (700_000, "high", "platinum")

    r = as_manager.post(f"/prospects/{p.id}/customer", data={
        "customer-assets": "-3", "customer-potential": "", "customer-tier": ""})
    assert r.status_code == 422
    assert b'id="customer-assets-error"' in r.data
    session.expire_all()
    assert session.get(Prospect, p.id).assets == 700_000


def test_following_assets_the_customer_does_not_have_is_refused_beside_the_tier(
        client, session, manager):
    sign_in(client, manager)
    client.post("/language", data={"locale": "zh_CN", "next": "/"})
    p = customer(session, manager, tier="gold")
    r = client.post(f"/prospects/{p.id}/customer", data={
        "customer-assets": "", "customer-potential": "", "customer-tier": ""})
    assert r.status_code == 422
    assert 'id="customer-tier-error">请选择客户等级，或填写资产以按资产确定等级。<' in \
        r.get_data(as_text=True)


def test_a_stale_form_changes_nothing(as_manager, session, manager):
    p = customer(session, manager, assets=120_000)
    stale = p.version
    update_customer(session, p.id, actor=manager, data={"potential": "low"})
    r = as_manager.post(f"/prospects/{p.id}/customer", data={
        "customer-assets": "9000000", "customer-potential": "low", "customer-tier": "",
        "customer-version": str(stale)})
    assert r.status_code == 302
    html = as_manager.get(r.location).get_data(as_text=True)
    assert "Someone changed this prospect meanwhile; look again and retry." in html
    session.expire_all()
    assert session.get(Prospect, p.id).tier == "gold"


def test_another_managers_customer_is_404(client, session, factory, manager):
    p = customer(session, manager, tier="gold")
    sign_in(client, factory.user("manager", "Team A"))
    r = client.post(f"/prospects/{p.id}/customer", data={"customer-tier": "diamond"})
    assert r.status_code == 404
    assert session.get(Prospect, p.id).tier == "gold"


def test_a_new_prospect_takes_its_tier_from_the_assets_by_default(as_manager, session):
    page = as_manager.get("/prospects/new").get_data(as_text=True)
    assert selected(page, "tier") == ""
    assert "From the assets" in page
    r = as_manager.post("/prospects/new", data={"name": "Xu Ming", "assets": "1500000"})
    assert r.status_code == 302
    p = session.scalars(select(Prospect).where(Prospect.name == "Xu Ming")).one()
    assert (p.tier, p.tier_manual) == ("black_gold", False)
    r = as_manager.post("/prospects/new", data={"name": "Xu Ming", "tier": "gold",
                                                "assets": "1500000"})
    assert r.status_code == 302
    r = as_manager.post("/prospects/new", data={"name": "Xu Ming Two"})
    assert r.status_code == 422
    assert b'id="tier-error">Give a tier, or the assets it follows.<' in r.data


def test_the_daily_sheet_names_the_tier_change(app, session, manager):
    p = customer(session, manager, assets=120_000)
    update_customer(session, p.id, actor=manager, data={"assets": 2_000_000})
    day = clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date()
    sheet = daily_sheet(session, manager.id, day, tz="Asia/Shanghai")
    [line] = [line for line in sheet.lines if line.prospect_id == p.id]
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert "Tier changed from Gold to Black gold" in describe_changes(line.changes,
                                                                           "seven_step")


def test_the_escalation_queue_names_the_tier_change(client, session, factory, manager):
    lead = factory.user("team_lead", "Team A")
    p = customer(session, manager, assets=120_000)
    update_customer(session, p.id, actor=manager, data={"assets": 600_000})
    overdue = clock.now() + timedelta(days=22)
    clock.set_now(overdue)
    sweep_due(session, overdue)
    sign_in(client, lead)
    html = client.get("/escalations").get_data(as_text=True)
    assert "Tier changed from Gold to Platinum" in html
