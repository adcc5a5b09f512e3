"""The API documents and loads each command with the schema the forms use."""
from __future__ import annotations

import pytest

from pipeline.escalations.forms import DecisionForm
from pipeline.prospects.forms import EventForm, ProspectForm


def test_openapi_describes_the_commands_schemas(client):
    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    create, event, decision = (schemas[n] for n in ("ProspectCreate", "EventRequest",
                                                    "DecisionRequest"))
    assert create["required"] == ["name"]  # the tier, or the assets it follows
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


@pytest.mark.parametrize("field, api_value, form_value, message", [
    ("assets", -1, "-1", "Number must be between 0 and 1000000000000."),
    ("assets", 2e12, "2e12", "Number must be between 0 and 1000000000000."),
    ("id_number", "110105194912310021", "110105194912310021",
     "The ID number&#39;s check digit does not match."),
    ("id_number", "11010519491231002", "11010519491231002", "An ID number has 18 characters."),
    ("phone", "12800138000", "12800138000",
     "A mobile number is 11 digits starting with 13 to 19."),
    ("customer_no", "CN 001", "CN 001",
     "A customer number is 1 to 32 letters, digits or dashes."),
    ("potential", "medium", "medium", "Not a valid choice."),
])
def test_api_and_form_refuse_the_same_input_for_the_same_field(api_for, client, factory,
                                                               field, api_value, form_value,
                                                               message):
    from tests.prospects.test_views import sign_in

    manager = factory.user()
    r = api_for(manager).post("/api/v1/prospects", {"name": "x", "tier": "gold",
                                                    field: api_value})
    assert r.status_code == 422 and list(r.json["error"]["details"]) == [field]
    sign_in(client, manager)
    r = client.post("/prospects/new", data={"name": "x", "tier": "gold", field: form_value})
    assert r.status_code == 422 and f'id="{field}-error">{message}<'.encode() in r.data


def test_api_and_form_refuse_a_birthday_that_is_not_the_id_numbers(api_for, client, factory):
    from tests.prospects.test_views import sign_in

    manager = factory.user()
    data = {"name": "x", "tier": "gold", "id_number": "11010519491231002X",
            "birthday": "1950-01-01"}
    r = api_for(manager).post("/api/v1/prospects", data)
    assert r.status_code == 422 and r.json["error"]["details"] == {
        "birthday": ["The birthday is not the date of birth in the ID number."]}
    sign_in(client, manager)
    r = client.post("/prospects/new", data=data)
    assert r.status_code == 422
    assert b'id="birthday-error">The birthday is not the date of birth in the ID number.<' \
        in r.data
    r = client.post("/prospects/new", data={**data, "birthday": "not a date"})
    assert r.status_code == 422 and b'id="birthday-error">' in r.data
