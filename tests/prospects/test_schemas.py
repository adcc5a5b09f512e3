"""The prospect commands' schemas: what the API, the forms and the services accept."""
from __future__ import annotations

from datetime import timedelta

import pytest

from pipeline import clock
from pipeline.errors import Invalid
from pipeline.forms import translated
from pipeline.prospects.schemas import CreateProspect, FireEvent, LogContact
from pipeline.validation import REQUIRED, Message, load


def refused(schema, data) -> dict:  # noqa: ANN001
    with pytest.raises(Invalid) as info:
        load(schema, data)
    assert info.value.code == "invalid" and info.value.status == 422
    return info.value.details


def test_create_prospect_normalises_and_loads_its_own_output_unchanged():
    values = load(CreateProspect, {"name": " Wang Fang ", "tier": "gold",
                                   "phone": " +86 138-0013 8000 ", "id_number": "",
                                   "owner": "li@bank.test", "assets": 5})
    assert values == {"name": "Wang Fang", "tier": "gold", "phone": "13800138000",
                      "id_number": None, "owner": "li@bank.test", "assets": 5,
                      "workflow": None, "customer_no": None, "birthday": None,
                      "potential": None}
    assert load(CreateProspect, values) == values


@pytest.mark.parametrize("data, field", [
    ({"tier": "gold"}, "name"),
    ({"name": "  ", "tier": "gold"}, "name"),
    ({"name": "x" * 201, "tier": "gold"}, "name"),
    ({"name": "x", "tier": "silver"}, "tier"),
    ({"name": "x", "tier": None}, "tier"),
    ({"name": "x", "tier": "gold", "assets": -5}, "assets"),
    ({"name": "x", "tier": "gold", "assets": "5"}, "assets"),
    ({"name": "x", "tier": "gold", "assets": True}, "assets"),
    ({"name": "x", "tier": "gold", "phone": 13800138000}, "phone"),
    ({"name": "x", "tier": "gold", "phone": "1" * 41}, "phone"),
    ({"name": "x", "tier": "gold", "owner": "not-an-email"}, "owner"),
    ({"name": "x", "tier": "gold", "colour": "red"}, "colour"),
])
def test_create_prospect_names_the_bad_field(data, field):
    assert field in refused(CreateProspect, data)


def test_log_contact_takes_a_time_or_an_iso_string_and_refuses_the_future():
    at = clock.now() - timedelta(hours=1)
    assert load(LogContact, {"kind": "call", "at": at})["at"] == at
    assert load(LogContact, {"kind": "call", "at": "2026-03-02T09:00:00+08:00"})["at"] == \
        clock.parse("2026-03-02T01:00:00Z")
    assert load(LogContact, {"kind": "sms", "at": "", "note": "  "}) == {
        "kind": "sms", "outcome": None, "note": None, "at": None, "callback_at": None,
        "override_reason": None}
    later = clock.now() + timedelta(minutes=10)
    assert refused(LogContact, {"kind": "call", "at": later}) == {
        "at": ["A contact cannot be in the future."]}
    assert load(LogContact, {"kind": "call", "at": clock.now() + timedelta(minutes=4)})


@pytest.mark.parametrize("data, field", [
    ({}, "kind"),
    ({"kind": "fax"}, "kind"),
    ({"kind": "call", "outcome": "maybe"}, "outcome"),
    ({"kind": "call", "at": "yesterday"}, "at"),
    ({"kind": "call", "at": 20260302}, "at"),
    ({"kind": "call", "note": "n" * 4001}, "note"),
])
def test_log_contact_names_the_bad_field(data, field):
    assert field in refused(LogContact, data)


def test_fire_event_leaves_events_and_reasons_to_the_workflow():
    # Unknown events and missing reasons are the engine's to refuse (unknown_event,
    # transition_refused): the schema checks only the shape.
    assert load(FireEvent, {"event": "fly"})["event"] == "fly"
    assert load(FireEvent, {"event": "lose", "reason": "  "})["reason"] is None
    assert load(FireEvent, {"event": "lose", "reason": None, "version": None,
                            "new_owner": None}) == {"event": "lose", "reason": None,
                                                     "reason_category": None,
                                                     "version": None, "new_owner": None}
    assert load(FireEvent, {"event": "reopen", "reason": " back ", "version": 3,
                            "new_owner": "li@bank.test"}) == {
        "event": "reopen", "reason": "back", "reason_category": None, "version": 3,
        "new_owner": "li@bank.test"}


@pytest.mark.parametrize("data, field", [
    ({}, "event"),
    ({"event": 3}, "event"),
    ({"event": "advance", "version": "1"}, "version"),
    ({"event": "advance", "version": True}, "version"),
    ({"event": "lose", "reason": "r" * 2001}, "reason"),
    ({"event": "reopen", "new_owner": "nobody"}, "new_owner"),
    ({"event": "advance", "colour": "red"}, "colour"),
])
def test_fire_event_names_the_bad_field(data, field):
    assert field in refused(FireEvent, data)


def test_messages_say_in_english_what_the_api_says_and_forms_translate_them(app):
    details = refused(CreateProspect, {"name": "x" * 201, "tier": "silver", "assets": -1})
    assert details["name"] == ["Longer than maximum length 200."]
    assert all(isinstance(m, Message) for ms in details.values() for m in ms)
    missing = refused(CreateProspect, {"tier": "gold"})["name"][0]
    assert (str(missing), missing.template) == ("Missing data for required field.", REQUIRED)
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert [translated(details[k][0]) for k in ("name", "tier", "assets")] == [
            "Field cannot be longer than 200 characters.", "Not a valid choice.",
            "Number must be between 0 and 1000000000000."]
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        assert [translated(details[k][0]) for k in ("name", "tier", "assets")] == [
            "字段长度不能超过 200 个字符。", "不是有效的选择。",
            "数值大小必须介于 0 到 1000000000000 之间。"]
        assert translated(missing) == "该字段是必填字段。"
        future = refused(LogContact, {"kind": "call",
                                      "at": clock.now() + timedelta(days=1)})["at"][0]
        assert translated(future) == "联系时间不能晚于当前时间。"
