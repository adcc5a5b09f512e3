"""Campaigns (seed 002's event-driven marketing): a lead or supervisor names a market
event, chooses the affected customers by tier, assets or product held within their scope,
and each owner gets a campaign task; the campaign page counts contacted, not yet and
overdue per manager."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from pipeline import clock
from pipeline.aftersale import queries, services
from pipeline.errors import Forbidden, Invalid
from pipeline.prospects.models import CadenceTask
from pipeline.prospects.services import complete_task, log_contact


@pytest.fixture
def branch(factory):
    lead = factory.user("team_lead", "Team A")
    li = factory.user("manager", "Team A")
    wang = factory.user("manager", "Team A")
    bo = factory.user("manager", "Team B")
    rich = factory.prospect(li, customer_no="C001", assets=2_000_000, tier=None)
    modest = factory.prospect(li, customer_no="C002", assets=60_000, tier=None)
    other = factory.prospect(wang, customer_no="C003", assets=800_000, tier=None)
    far = factory.prospect(bo, customer_no="C004", assets=900_000, tier=None)
    return lead, li, wang, bo, (rich, modest, other, far)


def campaign_tasks(session, campaign_id: int) -> list[CadenceTask]:
    return list(session.scalars(select(CadenceTask).where(
        CadenceTask.key == services.campaign_key(campaign_id)).order_by(CadenceTask.id)))


def test_a_lead_reaches_the_teams_matching_customers(session, branch):
    lead, li, wang, _bo, (rich, _modest, other, _far) = branch
    c = services.create_campaign(session, actor=lead, data={
        "name": "Rate cut", "due_on": "2026-03-06", "min_assets": 500_000})
    made = campaign_tasks(session, c.id)
    assert [(t.prospect_id, t.assignee_id, t.kind, t.title) for t in made] == [
        (rich.id, li.id, "campaign", "Rate cut"), (other.id, wang.id, "campaign", "Rate cut")]
    assert c.customers == 2 and c.team_id == lead.team_id
    c2 = services.create_campaign(session, actor=lead, data={
        "name": "Platinum evening", "due_on": "2026-03-06", "tiers": ["black_gold"]})
    assert [t.prospect_id for t in campaign_tasks(session, c2.id)] == [rich.id]


def test_product_held_from_the_event_file(session, branch, factory):
    sup = factory.user("supervisor")
    _lead, _li, _wang, _bo, (rich, _modest, _other, far) = branch
    services.import_events(session, (
        b"customer_no,kind,date,amount,product\n"
        b"C001,maturity,2026-04-01,100000,Growth Fund 7\n"
        b"C004,maturity,2026-04-01,100000,growth fund 7 (B)\n"
        b"C003,maturity,2026-04-01,100000,Deposit\n"), kind="csv", actor=None)
    c = services.create_campaign(session, actor=sup, data={
        "name": "Fund manager change", "due_on": "2026-03-04", "product": "Growth Fund 7"})
    assert [t.prospect_id for t in campaign_tasks(session, c.id)] == [rich.id, far.id]


def test_refusals(session, branch):
    lead, li, _wang, _bo, _ = branch
    with pytest.raises(Forbidden):
        services.create_campaign(session, actor=li, data={"name": "x", "due_on": "2026-03-06"})
    with pytest.raises(Invalid) as refused:
        services.create_campaign(session, actor=lead, data={
            "name": "Nobody", "due_on": "2026-03-06", "min_assets": 50_000_000})
    assert list(refused.value.details) == ["_schema"]
    with pytest.raises(Invalid) as refused:
        services.create_campaign(session, actor=lead, data={
            "name": "", "due_on": "2026-01-01", "tiers": ["copper"]})
    assert set(refused.value.details) == {"name", "tiers"}
    with pytest.raises(Invalid) as refused:
        services.create_campaign(session, actor=lead, data={"name": "x",
                                                            "due_on": "2026-01-01"})
    assert set(refused.value.details) == {"due_on"}
    assert session.scalars(select(CadenceTask).where(CadenceTask.kind == "campaign")).all() == []


def test_progress_per_manager(session, branch, factory, client):
    lead, li, wang, _bo, (rich, modest, other, _far) = branch
    c = services.create_campaign(session, actor=lead, data={
        "name": "Rate cut", "due_on": date(2026, 3, 3).isoformat()})
    tasks = {t.prospect_id: t for t in campaign_tasks(session, c.id)}
    clock.set_now(clock.now() + timedelta(minutes=5))
    log_contact(session, rich.id, actor=li, data={"kind": "call"})  # closes it, ahead
    complete_task(session, tasks[modest.id].id, actor=li, data={"note": "SMS sent"})
    clock.set_now(clock.now() + timedelta(days=2))
    rows = queries.campaign_progress(session, lead, c, clock.now())
    assert [(r.owner_name, r.contacted, r.not_yet, r.overdue) for r in rows] == sorted([
        (li.name, 2, 0, 0), (wang.name, 0, 0, 1)])
    session.expire_all()
    assert tasks[rich.id].id in {t.id for t in campaign_tasks(session, c.id)
                                 if t.contact_id is not None}
    client.post("/login", data={"email": lead.email, "password": "secret-pass"})
    html = client.get(f"/campaigns/{c.id}").get_data(as_text=True)
    assert html.count('data-testid="campaign-row"') == 2
    assert client.get("/campaigns").status_code == 200
    r = client.post("/campaigns", data={"name": "Fund launch", "due_on": "2026-03-10",
                                         "tiers": ["platinum", "gold"]})
    assert r.status_code == 302
    client.post("/logout")
    client.post("/login", data={"email": li.email, "password": "secret-pass"})
    assert client.get("/campaigns").status_code == 403
    assert other.id in {t.prospect_id for t in campaign_tasks(session, c.id)}
