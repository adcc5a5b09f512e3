"""PATCH /api/v1/prospects/<id>: the customer's assets, potential and tier."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from pipeline.prospects.models import Prospect, StageEvent


def tier_rows(session, prospect_id: int) -> list[StageEvent]:
    return list(session.scalars(select(StageEvent).where(
        StageEvent.prospect_id == prospect_id, StageEvent.event == "tier_change")))


def test_create_without_a_tier_takes_it_from_the_assets(api_for, factory):
    api = api_for(factory.user())
    r = api.post("/api/v1/prospects", {"name": "Zhou Xun", "assets": 1_200_000})
    assert r.status_code == 201, r.json
    assert (r.json["tier"], r.json["tier_manual"]) == ("black_gold", False)
    r = api.post("/api/v1/prospects", {"name": "Zhou Xun", "tier": "gold", "assets": 1_200_000})
    assert (r.json["tier"], r.json["tier_manual"]) == ("gold", True)
    r = api.post("/api/v1/prospects", {"name": "Zhou Xun"})
    assert r.status_code == 422 and list(r.json["error"]["details"]) == ["tier"]


def test_patch_changes_the_tier_with_the_assets_and_shows_it_in_the_history(
        api_for, factory, session):
    manager = factory.user()
    api = api_for(manager)
    p = api.post("/api/v1/prospects", {"name": "Zhou Xun", "assets": 100_000}).json
    r = api.patch(f"/api/v1/prospects/{p['id']}", {"assets": 550_000, "potential": "high",
                                                   "version": p["version"]})
    assert r.status_code == 200, r.json
    body = r.json
    assert (body["tier"], body["tier_manual"], body["version"]) == (
        "platinum", False, p["version"] + 1)
    last = body["history"][-1]
    assert (last["event"], last["data"]) == (
        "tier_change", {"from": "gold", "to": "platinum", "manual": False})
    assert last["actor"] == manager.email
    assert len(tier_rows(session, p["id"])) == 1

    r = api.patch(f"/api/v1/prospects/{p['id']}", {"tier": "diamond"})
    assert (r.json["tier"], r.json["tier_manual"]) == ("diamond", True)
    r = api.patch(f"/api/v1/prospects/{p['id']}", {"assets": 10_000})
    assert r.json["tier"] == "diamond"  # set by hand: kept
    r = api.patch(f"/api/v1/prospects/{p['id']}", {"tier": None})
    assert (r.json["tier"], r.json["tier_manual"]) == ("gold", False)
    assert [h["data"]["to"] for h in r.json["history"] if h["event"] == "tier_change"] == [
        "platinum", "diamond", "gold"]


def test_a_stale_version_is_409_and_changes_nothing(api_for, factory, session):
    api = api_for(factory.user())
    p = api.post("/api/v1/prospects", {"name": "Zhou Xun", "assets": 100_000}).json
    assert api.patch(f"/api/v1/prospects/{p['id']}",
                     {"potential": "low", "version": p["version"]}).status_code == 200
    r = api.patch(f"/api/v1/prospects/{p['id']}", {"assets": 9_000_000,
                                                   "version": p["version"]})
    assert r.status_code == 409 and r.json["error"]["code"] == "stale_version"
    session.expire_all()
    assert session.get(Prospect, p["id"]).tier == "gold"
    assert tier_rows(session, p["id"]) == []


@pytest.mark.parametrize("body, field", [
    ({"assets": -5}, "assets"),
    ({"assets": "lots"}, "assets"),
    ({"potential": "huge"}, "potential"),
    ({"tier": "silver"}, "tier"),
    ({"tier": None}, "tier"),  # no assets to follow
    ({"version": "2", "assets": 1}, "version"),
    ({"owner": "someone@bank.test"}, "owner"),
    ({}, "_schema"),
])
def test_bad_input_is_422_naming_the_field(api_for, factory, session, body, field):
    api = api_for(factory.user())
    p = api.post("/api/v1/prospects", {"name": "Zhou Xun", "tier": "platinum"}).json
    r = api.patch(f"/api/v1/prospects/{p['id']}", body)
    assert r.status_code == 422, r.json
    assert field in r.json["error"]["details"]
    session.expire_all()
    kept = session.get(Prospect, p["id"])
    assert (kept.tier, kept.version) == ("platinum", p["version"])


def test_malformed_json_is_400(api_for, factory):
    api = api_for(factory.user())
    p = api.post("/api/v1/prospects", {"name": "Zhou Xun", "tier": "gold"}).json
    r = api.raw("PATCH", f"/api/v1/prospects/{p['id']}", b"[1, 2]")
    assert r.status_code == 400 and r.json["error"]["code"] == "malformed_json"


def test_managers_change_their_own_and_leads_their_teams(api_for, factory, session):
    owner = factory.user("manager", "Team A")
    peer = factory.user("manager", "Team A")
    lead = factory.user("team_lead", "Team A")
    other_lead = factory.user("team_lead", "Team B")
    p = api_for(owner).post("/api/v1/prospects", {"name": "Zhou Xun", "tier": "gold"}).json
    url = f"/api/v1/prospects/{p['id']}"
    assert api_for(peer).patch(url, {"tier": "diamond"}).status_code == 404
    assert api_for(other_lead).patch(url, {"tier": "diamond"}).status_code == 404
    assert api_for(lead).patch(url, {"tier": "platinum"}).status_code == 200
    assert api_for(factory.user("supervisor")).patch(url, {"tier": "gold"}).status_code == 200
    assert api_for(owner).patch("/api/v1/prospects/987654", {"tier": "gold"}).status_code == 404


def test_the_workflow_and_the_openapi_document_describe_it(api_for, factory, client):
    wf = api_for(factory.user()).get("/api/v1/workflows/seven_step").json
    assert wf["tiering"]["thresholds"] == {"diamond": 6_000_000, "black_gold": 1_000_000,
                                           "platinum": 500_000, "gold": 50_000}
    assert wf["tiering"]["high_assets"] == 200_000
    assert wf["tiering"]["upkeep"]["high"]["high"] == {
        "name": {"en": "Very high", "zh_CN": "很高"}, "period": "month",
        "require": {"visit": 1, "call": 2}}
    doc = client.get("/api/v1/openapi.json").json
    patch = doc["paths"]["/api/v1/prospects/{prospect_id}"]["patch"]
    assert patch["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CustomerUpdate"}
    assert {"409", "422"} <= set(patch["responses"])
    update = doc["components"]["schemas"]["CustomerUpdate"]
    assert set(update["properties"]) == {"assets", "potential", "tier", "version"}
    assert update["properties"]["tier"]["nullable"] is True
    assert update["properties"]["potential"]["enum"][:2] == ["high", "low"]
    assert "required" not in update
    assert "tier" not in doc["components"]["schemas"]["ProspectCreate"]["required"]
