"""Complaints through the API, on SQLite and PostgreSQL: the seven steps, the whole-case
limit and its extensions, first-asker responsibility and 回避."""
from __future__ import annotations

from datetime import timedelta

from pipeline import clock
from tests.complaints.conftest import RECORDS, STEPS
from tests.conftest import T0


def _file(api, customer_id: int, **extra):  # noqa: ANN001, ANN003, ANN202
    return api.post("/api/v1/complaints", {"customer_id": customer_id,
                                           "summary": "redemption paid late", **extra})


def test_the_workflow_answers_with_its_steps_and_limit(api_for, factory):
    r = api_for(factory.user()).get("/api/v1/workflows/complaint")
    assert r.status_code == 200
    body = r.json
    assert body["key"] == "complaint"
    assert [s["key"] for s in body["stages"]] == [*STEPS, "case_closed"]
    assert [s["records"][0]["key"] for s in body["stages"][:7]] == [RECORDS[k][0] for k in STEPS]
    assert {s["limit_days"] for s in body["stages"]} == {15}
    assert body["case_limit"] == {"days": 15, "extensions": [
        {"to_days": 30, "by": ["team_lead", "supervisor"]}, {"to_days": 60, "by": ["supervisor"]}]}
    assert body["escalation"]["overdue_kind"].startswith("complaint")


def test_a_complaint_walks_all_seven_steps_on_one_clock(api_for, factory):
    manager = factory.user("manager", "Team A")
    customer = factory.prospect(manager, name="Wang Fang")
    api = api_for(manager)
    r = _file(api, customer.id, category="wealth", received_at=T0.isoformat())
    assert r.status_code == 201, r.json
    c = r.json
    assert c["handler"] == manager.email and c["customer_id"] == customer.id
    assert c["stage"] == "receive" and c["status"] == "active"
    assert c["due_at"] == (T0 + timedelta(days=15)).isoformat()
    assert c["missing_records"] == ["receipt"]
    assert c["summary"] == "redemption paid late" and c["category"] == "wealth"
    assert "customer_no" not in c and "id_number" not in c
    cid = c["id"]
    for i, step in enumerate(STEPS):
        clock.set_now(T0 + timedelta(days=i + 1))
        event = "win" if step == "follow_up" else "advance"
        refused = api.post(f"/api/v1/complaints/{cid}/events", {"event": event})
        assert refused.status_code == 422 and refused.json["error"]["code"] == "transition_refused"
        key, data = RECORDS[step]
        saved = api.put(f"/api/v1/complaints/{cid}/records/{key}", data)
        assert saved.status_code == 200 and saved.json["complete"], saved.json
        moved = api.post(f"/api/v1/complaints/{cid}/events", {"event": event})
        assert moved.status_code == 200, moved.json
        # Moving on neither restarts nor extends the case's clock.
        assert moved.json["due_at"] == (T0 + timedelta(days=15)).isoformat()
    done = api.get(f"/api/v1/complaints/{cid}").json
    assert done["stage"] == "case_closed" and done["status"] == "won"
    assert [h["event"] for h in done["history"]] == ["create", *["advance"] * 6, "win"]
    assert done["history"][0]["at"] == T0.isoformat()


def test_extend_to_30_by_the_lead_and_to_60_only_by_a_supervisor(api_for, factory):
    manager = factory.user("manager", "Team A")
    lead = factory.user("team_lead", "Team A")
    supervisor = factory.user("supervisor")
    customer = factory.prospect(manager)
    cid = _file(api_for(manager), customer.id).json["id"]
    clock.set_now(T0 + timedelta(days=10))
    own = api_for(manager).post(f"/api/v1/complaints/{cid}/events",
                                {"event": "extend", "reason": "complicated"})
    assert own.status_code == 403 and own.json["error"]["code"] == "not_permitted"
    no_reason = api_for(lead).post(f"/api/v1/complaints/{cid}/events", {"event": "extend"})
    assert no_reason.status_code == 422
    first = api_for(lead).post(f"/api/v1/complaints/{cid}/events",
                               {"event": "extend", "reason": "complicated"})
    assert first.status_code == 200, first.json
    assert first.json["due_at"] == (T0 + timedelta(days=30)).isoformat()
    assert "extend" not in first.json["available_events"]  # the lead has none left
    again = api_for(lead).post(f"/api/v1/complaints/{cid}/events",
                               {"event": "extend", "reason": "still complicated"})
    assert again.status_code == 403 and again.json["error"]["code"] == "not_permitted"
    second = api_for(supervisor).post(f"/api/v1/complaints/{cid}/events",
                                      {"event": "extend", "reason": "approved: very complicated"})
    assert second.status_code == 200, second.json
    assert second.json["due_at"] == (T0 + timedelta(days=60)).isoformat()
    last = api_for(supervisor).post(f"/api/v1/complaints/{cid}/events",
                                    {"event": "extend", "reason": "more"})
    assert last.status_code == 422 and last.json["error"]["code"] == "no_extension_left"
    rows = [h for h in second.json["history"] if h["event"] == "extend"]
    assert [(h["data"]["to_days"], h["reason"]) for h in rows] == [
        (30, "complicated"), (60, "approved: very complicated")]


def test_the_receiver_handles_it_even_for_another_managers_customer(api_for, factory):
    owner = factory.user("manager", "Team A")
    receiver = factory.user("manager", "Team B")
    customer = factory.prospect(owner)
    r = _file(api_for(receiver), customer.id)
    assert r.status_code == 201 and r.json["handler"] == receiver.email
    # The customer's own manager does not see a complaint handled elsewhere.
    assert api_for(owner).get(f"/api/v1/complaints/{r.json['id']}").status_code == 404


def test_a_complaint_naming_its_receiver_goes_to_their_lead_who_assigns_it(api_for, factory):
    manager = factory.user("manager", "Team A")
    colleague = factory.user("manager", "Team A")
    lead = factory.user("team_lead", "Team A")
    customer = factory.prospect(manager)
    r = _file(api_for(manager), customer.id, named_employee=manager.email)
    assert r.status_code == 201, r.json
    assert r.json["handler"] == lead.email and r.json["named_employee"] == manager.email
    assert r.json["history"][0]["data"]["recused"] is True
    cid = r.json["id"]
    assert api_for(manager).get(f"/api/v1/complaints/{cid}").status_code == 404
    refused = api_for(lead).post(f"/api/v1/complaints/{cid}/assign", {"handler": manager.email})
    assert refused.status_code == 422 and refused.json["error"]["code"] == "recused"
    assert "handler" in refused.json["error"]["details"]
    by_manager = api_for(colleague).post(f"/api/v1/complaints/{cid}/assign",
                                         {"handler": colleague.email})
    assert by_manager.status_code == 403
    given = api_for(lead).post(f"/api/v1/complaints/{cid}/assign", {"handler": colleague.email})
    assert given.status_code == 200, given.json
    assert given.json["handler"] == colleague.email
    assert given.json["due_at"] == r.json["due_at"]  # the clock runs on
    assert given.json["history"][-1]["event"] == "assign"


def test_bad_input_is_a_422_naming_the_field(api_for, factory):
    manager = factory.user()
    customer = factory.prospect(manager)
    api = api_for(manager)
    for body, field in [
        ({"summary": "x"}, "customer_id"),
        ({"customer_id": customer.id}, "summary"),
        ({"customer_id": 999999, "summary": "x"}, "customer_id"),
        ({"customer_id": customer.id, "summary": "x",
          "received_at": (T0 + timedelta(days=1)).isoformat()}, "received_at"),
        ({"customer_id": customer.id, "summary": "x", "named_employee": "nobody@bank.test"},
         "named_employee"),
        ({"customer_id": customer.id, "summary": "x", "colour": "red"}, "colour"),
    ]:
        r = api.post("/api/v1/complaints", body)
        assert r.status_code == 422, (body, r.json)
        assert field in r.json["error"]["details"], (body, r.json)
    cid = _file(api, customer.id).json["id"]
    bad = api.put(f"/api/v1/complaints/{cid}/records/receipt", {"received_via": "pigeon"})
    assert bad.status_code == 422 and "received_via" in bad.json["error"]["details"]


def test_a_complaint_cannot_be_filed_against_a_complaint(api_for, factory):
    manager = factory.user()
    api = api_for(manager)
    customer = factory.prospect(manager)
    cid = _file(api, customer.id).json["id"]
    r = _file(api, cid)
    assert r.status_code == 422 and "customer_id" in r.json["error"]["details"]
    # ...and a customer's prospect is not a complaint.
    assert api.get(f"/api/v1/complaints/{cid}").status_code == 200
    assert api.get(f"/api/v1/complaints/{customer.id}").status_code == 404
    assert api.get("/api/v1/complaints/999999").status_code == 404


def test_the_list_filters_by_customer(api_for, factory):
    manager = factory.user()
    api = api_for(manager)
    one, two = factory.prospect(manager, name="Li Lei"), factory.prospect(manager, name="Han Mei")
    a = _file(api, one.id).json["id"]
    _file(api, two.id)
    items = api.get(f"/api/v1/complaints?customer_id={one.id}").json["items"]
    assert [i["id"] for i in items] == [a]
    assert len(api.get("/api/v1/complaints").json["items"]) == 2


def test_the_openapi_document_describes_complaints(client):
    from openapi_spec_validator import validate

    doc = client.get("/api/v1/openapi.json").json
    validate(doc)
    assert {"/api/v1/complaints", "/api/v1/complaints/{complaint_id}/events",
            "/api/v1/complaints/report", "/api/v1/complaints/causes"} <= set(doc["paths"])
    assert "named_employee" in doc["components"]["schemas"]["ComplaintCreate"]["properties"]


def test_a_manager_setting_a_corrective_action_is_forbidden_whatever_the_body(api_for, factory):
    """403 before any check of the body: an empty or a wrong body answers the same."""
    api = api_for(factory.user("manager"))
    for body in ({}, {"cause": "nonsense"}, {"cause": "x", "action": "y", "owner": "z@b.test"}):
        answer = api.post("/api/v1/complaints/causes", body)
        assert answer.status_code == 403, (body, answer.json)
        assert answer.json["error"]["code"] == "forbidden"
