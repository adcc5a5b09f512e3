"""The API's customer fields (version 1.1): customer_no, birthday, assets and potential on
create and read, 409 duplicate_customer, 422 over_capacity, and the OpenAPI document."""
from __future__ import annotations

from sqlalchemy import func, select

from pipeline.prospects.models import Prospect
from tests.conftest import T0

ID = "11010519491231002X"


def test_create_and_read_carry_the_customer(api_for, factory):
    manager = factory.user()
    api = api_for(manager)
    r = api.post("/api/v1/prospects", {
        "name": "Wang Fang", "tier": "gold", "customer_no": "CN-0042", "id_number": ID.lower(),
        "phone": "+86 138 0013 8000", "assets": 250000, "potential": "high"})
    assert r.status_code == 201, r.json
    body = api.get(f"/api/v1/prospects/{r.json['id']}").json
    for got in (r.json, body):
        assert {k: got[k] for k in ("customer_no", "id_number", "phone", "birthday", "assets",
                                    "potential")} == {
            "customer_no": "CN-0042", "id_number": ID, "phone": "13800138000",
            "birthday": "1949-12-31", "assets": 250000, "potential": "high"}
    other = api_for(factory.user("supervisor")).get(f"/api/v1/prospects/{r.json['id']}").json
    assert (other["id_number"], other["phone"], other["customer_no"]) == (
        "110***********002X", "138****8000", "CN-0042")
    r = api.post("/api/v1/prospects", {"name": "Li Lei", "tier": "gold",
                                       "birthday": "1980-05-06"})
    assert r.status_code == 201 and r.json["birthday"] == "1980-05-06"
    assert (r.json["customer_no"], r.json["potential"], r.json["assets"]) == (None, None, None)


def test_a_duplicate_customer_is_409_naming_no_other_manager(api_for, factory, session):
    holder = factory.user("manager", "Team A")
    outsider = factory.user("manager", "Team B")
    api_for(holder).post("/api/v1/prospects", {"name": "Wang Fang", "tier": "gold",
                                               "customer_no": "CN-1", "id_number": ID})
    for data in ({"customer_no": "CN-1"}, {"id_number": ID}):
        r = api_for(outsider).post("/api/v1/prospects", {"name": "Wang", "tier": "gold", **data})
        assert r.status_code == 409
        error = r.json["error"]
        assert error["code"] == "duplicate_customer" and list(error["details"]) == list(data)
        text = r.get_data(as_text=True)
        assert holder.email not in text and holder.name not in text and ID not in text
    assert session.scalar(select(func.count()).select_from(Prospect)) == 1


def test_over_the_cap_is_422_over_capacity(api_for, factory, session):
    manager = factory.user()
    session.add_all([Prospect(name=f"p{i}", tier="gold", owner_id=manager.id,
                              team_id=manager.team_id, stage="after_sale", status="won",
                              stage_entered_at=T0, clock_started_at=T0) for i in range(250)])
    session.commit()
    r = api_for(manager).post("/api/v1/prospects", {"name": "one more", "tier": "gold"})
    assert r.status_code == 422 and r.json["error"]["code"] == "over_capacity"


def test_openapi_documents_the_customer(client):
    doc = client.get("/api/v1/openapi.json").json
    schemas = doc["components"]["schemas"]
    create, prospect = schemas["ProspectCreate"]["properties"], schemas["Prospect"]["properties"]
    assert create["customer_no"]["maxLength"] == 32
    assert create["birthday"]["format"] == "date" and prospect["birthday"]["format"] == "date"
    assert create["assets"]["maximum"] == 10**12
    assert {"customer_no", "assets", "potential"} <= set(prospect)
    assert "409" in doc["paths"]["/api/v1/prospects"]["post"]["responses"]
    [q] = [p for p in doc["paths"]["/api/v1/prospects"]["get"]["parameters"]
           if p["name"] == "q"]
    assert "customer number" in q["description"]
