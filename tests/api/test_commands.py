"""The API documents and loads each command with the schema the forms use."""
from __future__ import annotations

from pipeline.escalations.forms import DecisionForm
from pipeline.prospects.forms import EventForm, ProspectForm


def test_openapi_describes_the_commands_schemas(client):
    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    create, event, decision = (schemas[n] for n in ("ProspectCreate", "EventRequest",
                                                    "DecisionRequest"))
    assert create["required"] == ["name", "tier"]
    assert create["properties"]["name"]["maxLength"] == 200
    assert create["properties"]["assets"]["minimum"] == 0
    assert event["properties"]["reason"]["maxLength"] == 2000
    assert decision["properties"]["decision"]["enum"] == ["continue", "reassign", "abandon"]
    assert (decision["properties"]["extend_days"]["minimum"],
            decision["properties"]["extend_days"]["maximum"]) == (1, 90)
    assert len(decision["properties"]["new_owner"]["oneOf"]) == 2


def test_forms_show_the_same_limits_to_the_browser(app):
    with app.test_request_context():
        prospect, event, decision = ProspectForm(), EventForm(), DecisionForm()
        assert 'maxlength="200"' in prospect.name() and "required" in prospect.name()
        assert 'min="0"' in prospect.assets()
        assert 'maxlength="2000"' in event.reason()
        assert 'max="90"' in decision.extend_days() and 'min="1"' in decision.extend_days()


def test_api_and_form_refuse_the_same_input_for_the_same_field(api_for, client, factory):
    from tests.prospects.test_views import sign_in

    manager = factory.user()
    r = api_for(manager).post("/api/v1/prospects", {"name": "x", "tier": "gold", "assets": -1})
    assert r.status_code == 422 and list(r.json["error"]["details"]) == ["assets"]
    sign_in(client, manager)
    r = client.post("/prospects/new", data={"name": "x", "tier": "gold", "assets": "-1"})
    assert r.status_code == 422 and b'id="assets-error">Number must be at least 0.<' in r.data
