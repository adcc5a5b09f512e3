"""The JSON API of prospects, on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from pipeline import clock
from pipeline.prospects.models import Prospect, StageEvent, StageRecord
from tests.conftest import T0
from tests.factories import COMPLETE


def test_walk_one_prospect_through_all_seven_stages_by_api(api_for, factory):
    manager = factory.user("manager", "Team A")
    api = api_for(manager)
    r = api.post("/api/v1/prospects", {"name": "Wang Fang", "tier": "black_gold",
                                        "phone": "13800138000"})
    assert r.status_code == 201, r.json
    p = r.json
    assert p["owner"] == manager.email and p["stage"] == "first_contact"
    assert p["missing_records"] == ["contact_log"]
    pid, version = p["id"], p["version"]
    steps = [("first_contact", "advance"), ("learn", "advance"), ("decision_maker", "advance"),
             ("needs", "advance"), ("allocation", "advance"), ("close", "win")]
    for i, (stage, event) in enumerate(steps):
        clock.set_now(T0 + timedelta(days=2 * (i + 1)))
        refused = api.post(f"/api/v1/prospects/{pid}/events", {"event": event,
                                                               "version": version})
        assert refused.status_code == 422
        err = refused.json["error"]
        assert err["code"] == "transition_refused"
        record_key, data = COMPLETE[stage]
        assert {m["record"] for m in err["details"]["missing"]} == {record_key}
        assert err["message"].startswith(f"{event} refused: ")
        saved = api.put(f"/api/v1/prospects/{pid}/records/{record_key}", data)
        assert saved.status_code == 200 and saved.json["complete"] is True, saved.json
        moved = api.post(f"/api/v1/prospects/{pid}/events", {"event": event, "version": version})
        assert moved.status_code == 200, moved.json
        assert moved.json["version"] == version + 1
        version = moved.json["version"]
    final = api.get(f"/api/v1/prospects/{pid}").json
    assert (final["stage"], final["status"], final["due_at"]) == ("after_sale", "won", None)
    assert [h["event"] for h in final["history"]] == ["create"] + [e for _, e in steps]
    assert [h["to_stage"] for h in final["history"]][-1] == "after_sale"
    assert final["history"][1]["actor"] == manager.email


def test_get_prospect_shape(api_for, factory):
    manager = factory.user()
    p = factory.prospect(manager, "learn", id_number="110101198001011232", phone="13800138000")
    body = api_for(manager).get(f"/api/v1/prospects/{p.id}").json
    for key in ("id", "name", "tier", "owner", "stage", "status", "stage_entered_at", "due_at",
                "version", "missing_records", "available_events", "history"):
        assert key in body
    assert body["stage"] == "learn" and body["available_events"] == ["lose", "back", "pause"]
    assert body["id_number"] == "110101198001011232"  # the owner sees it in full
    assert body["due_at"] == (T0 + timedelta(days=21)).isoformat()


def test_personal_data_masked_for_supervisor_and_in_lists(api_for, factory):
    manager = factory.user()
    supervisor = factory.user("supervisor")
    p = factory.prospect(manager, phone="13800138000")
    assert api_for(supervisor).get(f"/api/v1/prospects/{p.id}").json["phone"] == "138****8000"
    items = api_for(manager).get("/api/v1/prospects").json["items"]
    assert items[0]["phone"] == "138****8000"


def test_list_filters_scoping_and_pagination(api_for, factory):
    a1 = factory.user("manager", "Team A")
    a2 = factory.user("manager", "Team A")
    b1 = factory.user("manager", "Team B")
    lead_a = factory.user("team_lead", "Team A")
    supervisor = factory.user("supervisor")
    for i in range(3):
        factory.prospect(a1, name=f"a1-{i}")
    factory.prospect(b1, name="b1", tier="diamond")
    factory.prospect(a2, "learn", name="a2", step=timedelta(days=3))  # learn due on day 24

    def names(api, query=""):  # noqa: ANN001, ANN202
        return sorted(i["name"] for i in api.get("/api/v1/prospects" + query).json["items"])

    assert names(api_for(a1)) == ["a1-0", "a1-1", "a1-2"]
    assert names(api_for(lead_a)) == ["a1-0", "a1-1", "a1-2", "a2"]
    assert len(names(api_for(supervisor))) == 5
    assert names(api_for(supervisor), "?team=Team+B") == ["b1"]
    assert names(api_for(supervisor), f"?owner={a2.email}") == ["a2"]
    assert names(api_for(supervisor), "?stage=learn") == ["a2"]
    assert names(api_for(supervisor), "?tier=diamond") == ["b1"]
    assert names(api_for(lead_a), "?team=Team+B") == []
    clock.set_now(T0 + timedelta(days=22))
    assert names(api_for(supervisor), "?overdue=true") == ["a1-0", "a1-1", "a1-2", "b1"]
    api = api_for(supervisor)
    page1 = api.get("/api/v1/prospects?limit=2").json
    page2 = api.get(f"/api/v1/prospects?limit=2&cursor={page1['next']}").json
    page3 = api.get(f"/api/v1/prospects?limit=2&cursor={page2['next']}").json
    ids = [i["id"] for i in page1["items"] + page2["items"] + page3["items"]]
    assert len(ids) == 5 == len(set(ids)) and page3["next"] is None


def test_other_teams_prospect_is_404_everywhere(api_for, factory):
    a = factory.user("manager", "Team A")
    b = factory.user("manager", "Team B")
    lead_b = factory.user("team_lead", "Team B")
    p = factory.prospect(a)
    for user in (b, lead_b):
        api = api_for(user)
        assert api.get(f"/api/v1/prospects/{p.id}").status_code == 404
        assert api.put(f"/api/v1/prospects/{p.id}/records/contact_log",
                       {"call_at": "2026-03-02T01:00:00Z"}).status_code == 404
        r = api.post(f"/api/v1/prospects/{p.id}/events", {"event": "pause", "reason": "x"})
        assert r.status_code == 404 and r.json["error"]["code"] == "not_found"


def count_rows(session) -> tuple[int, int, int]:  # noqa: ANN001
    return tuple(session.scalar(select(func.count()).select_from(m))
                 for m in (Prospect, StageEvent, StageRecord))


@pytest.mark.parametrize("method, path, body, status, code", [
    ("POST", "/events", b"{not json", 400, "malformed_json"),
    ("POST", "/events", b"", 400, "malformed_json"),
    ("POST", "/events", b"[1, 2]", 400, "malformed_json"),
    ("POST", "/events", b'{"event": "fly"}', 422, "unknown_event"),
    ("POST", "/events", b'{"event": 3}', 422, "invalid"),
    ("POST", "/events", b'{"event": "pause"}', 422, "transition_refused"),
    ("POST", "/events", b'{"event": "lose", "reason": ""}', 422, "transition_refused"),
    ("POST", "/events", b'{"event": "win"}', 422, "event_not_allowed"),
    ("POST", "/events", b'{"event": "resume"}', 422, "event_not_allowed"),
    ("POST", "/events", b'{"event": "advance", "version": 99}', 409, "stale_version"),
    ("POST", "/events", b'{"event": "advance", "version": "1"}', 422, "invalid"),
    ("POST", "/events", b'{"event": "advance", "colour": "red"}', 422, "invalid"),
    ("PUT", "/records/horoscope", b'{"sign": "leo"}', 404, "unknown_record"),
    ("PUT", "/records/contact_log", b'{"call_at": "soon"}', 422, "invalid_record"),
    ("PUT", "/records/contact_log", b'{"colour": "red"}', 422, "invalid_record"),
    ("PUT", "/records/contact_log", b'{"call_at": "2026-03-02T01:00:00Z", "version": 4}', 409,
     "stale_version"),
    ("PUT", "/records/contact_log", b'"text"', 400, "malformed_json"),
])
def test_bad_input_gets_json_error_and_changes_nothing(api_for, factory, session, method, path,
                                                      body, status, code):
    manager = factory.user()
    p = factory.prospect(manager)
    before = count_rows(session)
    r = api_for(manager).raw(method, f"/api/v1/prospects/{p.id}{path}", body)
    assert r.status_code == status, r.json
    assert r.json["error"]["code"] == code
    assert isinstance(r.json["error"]["message"], str) and "details" in r.json["error"]
    session.expire_all()
    assert count_rows(session) == before
    assert session.get(Prospect, p.id).version == 1


@pytest.mark.parametrize("body, field", [
    ({"tier": "gold"}, "name"),
    ({"name": "x", "tier": "bronze"}, "tier"),
    ({"name": "x", "tier": "gold", "owner": "not-an-email"}, "owner"),
    ({"name": "x", "tier": "gold", "owner": "nobody@bank.test"}, "owner"),
    ({"name": "x", "tier": "gold", "assets": "lots"}, "assets"),
    ({"name": "x", "tier": "gold", "extra": 1}, "extra"),
])
def test_create_bad_input(api_for, factory, session, body, field):
    api = api_for(factory.user())
    r = api.post("/api/v1/prospects", body)
    assert r.status_code == 422 and field in r.json["error"]["details"]
    assert session.scalar(select(func.count()).select_from(Prospect)) == 0


def test_auth_errors(client, factory):
    assert client.get("/api/v1/prospects").status_code == 401
    r = client.get("/api/v1/prospects", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json["error"]["code"] == "unauthorized"
    r = client.get("/api/v1/prospects", headers={"Authorization": "Basic x"})
    assert r.status_code == 401
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.json["error"]["code"] == "not_found"


def test_unknown_path_and_method_are_json(api_for, factory):
    api = api_for(factory.user())
    r = api.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.json["error"]["code"] == "not_found"
    r = api.client.delete("/api/v1/prospects", headers=api.headers)
    assert r.status_code == 405 and "error" in r.json


def test_workflow_endpoint(api_for, factory):
    body = api_for(factory.user()).get("/api/v1/workflows/seven_step").json
    assert body["key"] == "seven_step"
    stages = {s["key"]: s for s in body["stages"]}
    assert list(stages) == ["first_contact", "learn", "decision_maker", "needs", "allocation",
                            "close", "after_sale"]
    assert stages["learn"]["limit_days"] == 21 and stages["needs"]["limit_days"] == 14
    assert stages["close"]["name"] == {"en": "Close", "zh_CN": "成交处理"}
    fields = {f["key"]: f for f in stages["close"]["records"][0]["fields"]}
    assert fields["customer_risk_level"]["choices"] == ["C1", "C2", "C3", "C4", "C5"]
    assert api_for(factory.user()).get("/api/v1/workflows/nope").status_code == 404


def test_openapi_document_is_valid_and_covers_the_contract(client):
    from openapi_spec_validator import validate

    doc = client.get("/api/v1/openapi.json").json
    validate(doc)
    for path in ("/api/v1/prospects", "/api/v1/prospects/{prospect_id}",
                 "/api/v1/prospects/{prospect_id}/records/{record_key}",
                 "/api/v1/prospects/{prospect_id}/events", "/api/v1/escalations",
                 "/api/v1/escalations/{escalation_id}/decision", "/api/v1/funnel",
                 "/api/v1/workflows/{key}"):
        assert path in doc["paths"], path
    schemas = doc["components"]["schemas"]
    assert schemas["EventRequest"]["properties"]["event"]["enum"][0] == "advance"
    assert "meeting_booked_at" in schemas["ContactLogRecord"]["properties"]
    assert schemas["ClosingChecklistRecord"]["properties"]["product_risk_level"]["enum"] == [
        "R1", "R2", "R3", "R4", "R5"]


def test_escalations_list(api_for, factory, session):
    from pipeline.prospects.services import save_record

    lead = factory.user("team_lead", "Team A")
    manager = factory.user("manager", "Team A")
    outsider = factory.user("manager", "Team B")
    p = factory.prospect(manager)
    save_record(session, p.id, "contact_log", actor=manager, data={
        k: "2026-03-02T01:00:00Z" for k in ("institution_sms_at", "manager_sms_at", "call_at")})
    r = api_for(manager).post(f"/api/v1/prospects/{p.id}/events", {"event": "no_meeting"})
    assert r.status_code == 200 and r.json["stage"] == "first_contact"
    items = api_for(lead).get("/api/v1/escalations?status=open&level=1").json["items"]
    assert [(i["prospect_id"], i["kind"], i["level"], i["status"]) for i in items] == [
        (p.id, "no_meeting", 1, "open")]
    assert api_for(outsider).get("/api/v1/escalations").json["items"] == []
    assert api_for(lead).get("/api/v1/escalations?status=resolved").json["items"] == []
    assert api_for(lead).get("/api/v1/escalations?level=3").status_code == 422
