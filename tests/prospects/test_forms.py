"""Stage-record forms, built from the workflow: for every record, valid data saves, each
invalid field gets its message beside it, and nothing is saved on error."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from pipeline import workflows
from pipeline.prospects.models import StageRecord
from pipeline.prospects.services import save_record
from tests.prospects.test_views import sign_in

LONG = "x" * 201
VERY_LONG = "x" * 4001

# Per record: the form's POST (without the prefix) and the data the service then stores.
VALID: dict[str, tuple[dict, dict]] = {
    "contact_log": (
        {"institution_sms_at": "2026-03-01T09:00", "manager_sms_at": "2026-03-02T09:30",
         "customer_replied_at": "", "call_at": "2026-03-04T14:00",
         "meeting_booked_at": "2026-03-06T10:00", "notes": "  prefers mornings "},
        {"institution_sms_at": "2026-03-01T01:00:00+00:00",
         "manager_sms_at": "2026-03-02T01:30:00+00:00",
         "call_at": "2026-03-04T06:00:00+00:00",
         "meeting_booked_at": "2026-03-06T02:00:00+00:00", "notes": "prefers mornings"}),
    "info_sheet": (
        {"full_name": "王芳", "sex": "female", "age": "41", "id_number": "110101198001011232",
         "mobile": "13800138000", "home_phone": "", "work_phone": "", "address": "北京",
         "family": "married", "employer": "SOE", "position": "manager", "education": "BA",
         "product_history": "deposits", "assets_cash": "500000.5", "assets_investments": "0",
         "insurance": "health", "fixed_assets": "flat", "risk_preference": "C3",
         "income_spending": "", "debts": "", "other_banks": "", "interests": "badminton",
         "children": "one", "cars": "", "property": "", "taboos": "none", "background": "",
         "value_assessment": "high", "wishes": "education", "difficulties": "",
         "complaints": ""},
        {"full_name": "王芳", "sex": "female", "age": 41, "id_number": "110101198001011232",
         "mobile": "13800138000", "address": "北京", "family": "married", "employer": "SOE",
         "position": "manager", "education": "BA", "product_history": "deposits",
         "assets_cash": 500000.5, "assets_investments": 0.0, "insurance": "health",
         "fixed_assets": "flat", "risk_preference": "C3", "interests": "badminton",
         "children": "one", "taboos": "none", "value_assessment": "high",
         "wishes": "education"}),
    "decision_maker": (
        {"identified": "y", "name": "Wang Wei", "relation": "spouse", "notes": ""},
        {"identified": True, "name": "Wang Wei", "relation": "spouse", "met": False}),
    "needs_sheet": (
        {"life_stage": "young_family", "needs": ["education", "home"],
         "needs_other": "study abroad，boat", "notes": "n"},
        {"life_stage": "young_family", "needs": ["education", "home", "study abroad", "boat"],
         "notes": "n"}),
    "proposals": (
        {"options-0": "fund plan", "options-1": " deposit plan ", "options-2": "",
         "chosen": "1", "notes": ""},
        {"options": ["fund plan", "deposit plan"], "chosen": 1}),
    "closing_checklist": (
        {"product": "Steady R2", "recommended": "y", "risk_disclosed": "y", "confirmed": "y",
         "signed": "y", "ledger": "y", "customer_risk_level": "C3",
         "product_risk_level": "R2", "other_bank_product": ""},
        {"product": "Steady R2", "recommended": True, "risk_disclosed": True,
         "confirmed": True, "signed": True, "ledger": True, "customer_risk_level": "C3",
         "product_risk_level": "R2"}),
}

# (record, form field, bad value, message shown beside the field)
INVALID = [
    ("contact_log", "institution_sms_at", "tomorrow", "Not a valid datetime value."),
    ("contact_log", "manager_sms_at", "2026-13-01T09:00", "Not a valid datetime value."),
    ("contact_log", "customer_replied_at", "soon", "Not a valid datetime value."),
    ("contact_log", "call_at", "03/04/2026", "Not a valid datetime value."),
    ("contact_log", "meeting_booked_at", "next week", "Not a valid datetime value."),
    ("contact_log", "notes", VERY_LONG, "Field cannot be longer than 4000 characters."),
    ("info_sheet", "full_name", LONG, "Field cannot be longer than 200 characters."),
    ("info_sheet", "sex", "other", "Not a valid choice."),
    ("info_sheet", "age", "forty", "Not a valid integer value."),
    ("info_sheet", "age", "-3", "Number must be between 0 and 1000000000."),
    ("info_sheet", "assets_cash", "lots", "Not a valid float value."),
    ("info_sheet", "assets_investments", "-1", "Number must be at least 0."),
    ("info_sheet", "risk_preference", "C9", "Not a valid choice."),
    ("info_sheet", "address", VERY_LONG, "Field cannot be longer than 4000 characters."),
    ("info_sheet", "complaints", VERY_LONG, "Field cannot be longer than 4000 characters."),
    ("decision_maker", "name", LONG, "Field cannot be longer than 200 characters."),
    ("decision_maker", "relation", LONG, "Field cannot be longer than 200 characters."),
    ("decision_maker", "notes", VERY_LONG, "Field cannot be longer than 4000 characters."),
    ("needs_sheet", "needs", ["flying"], "'flying' is not a valid choice for this field."),
    ("needs_sheet", "needs_other", LONG, "Field cannot be longer than 200 characters."),
    ("needs_sheet", "notes", VERY_LONG, "Field cannot be longer than 4000 characters."),
    ("proposals", "options-0", LONG, "Field cannot be longer than 200 characters."),
    ("proposals", "chosen", "7", "Not a valid choice."),
    ("proposals", "chosen", "2", "Choose one of the proposals offered."),
    ("closing_checklist", "product", LONG, "Field cannot be longer than 200 characters."),
    ("closing_checklist", "product_risk_level", "R0", "Not a valid choice."),
    ("closing_checklist", "other_bank_product", LONG,
     "Field cannot be longer than 200 characters."),
]

STAGE_OF = {"contact_log": "first_contact", "info_sheet": "learn",
            "decision_maker": "decision_maker", "needs_sheet": "needs",
            "proposals": "allocation", "closing_checklist": "close"}


def prefixed(record_key: str, data: dict) -> dict:
    return {f"{record_key}-{k}": v for k, v in data.items()}


def stored(session, prospect_id: int, record_key: str) -> dict | None:
    session.expire_all()
    row = session.scalars(select(StageRecord).where(
        StageRecord.prospect_id == prospect_id, StageRecord.record_key == record_key)).first()
    return None if row is None else row.data


@pytest.fixture
def manager(factory):
    return factory.user("manager", "Team A")


def test_every_record_and_field_of_the_workflow_is_covered():
    wf = workflows.workflow()
    records = {r.key: r for s in wf.stages for r in s.records}
    assert set(records) == set(VALID)
    for key, record in records.items():
        posted = {k.split("-")[0] for k in VALID[key][0]}
        # An unticked checkbox is absent from a real POST.
        assert {f.key for f in record.fields if f.type != "boolean"} <= posted, key
    invalid_types = {records[r].field(f.split("-")[0]).type for r, f, _v, _m in INVALID
                     if records[r].field(f.split("-")[0])}
    assert invalid_types >= {"string", "text", "integer", "number", "choice", "datetime",
                             "string_list", "list"}


@pytest.mark.parametrize("record_key", list(VALID))
def test_valid_data_saves(client, factory, manager, record_key):
    p = factory.prospect(manager, stage=STAGE_OF[record_key])
    sign_in(client, manager)
    form, expected = VALID[record_key]
    r = client.post(f"/prospects/{p.id}/records/{record_key}", data=prefixed(record_key, form))
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    assert r.location.endswith(f"/prospects/{p.id}#record-{record_key}")
    assert stored(factory.session, p.id, record_key) == expected


@pytest.mark.parametrize("record_key, field, value, message", INVALID,
                         ids=[f"{r}-{f}-{i}" for i, (r, f, _v, _m) in enumerate(INVALID)])
def test_invalid_field_gets_its_message_and_nothing_is_saved(client, factory, manager,
                                                             record_key, field, value, message):
    p = factory.prospect(manager, stage=STAGE_OF[record_key])
    before = {"info_sheet": {"background": "kept"},
              "closing_checklist": {"other_bank_product": "kept"}}.get(record_key,
                                                                      {"notes": "kept"})
    save_record(factory.session, p.id, record_key, actor=manager, data=before)
    kept = stored(factory.session, p.id, record_key)  # with any value derived from elsewhere
    sign_in(client, manager)
    form = dict(VALID[record_key][0])
    form[field] = value
    r = client.post(f"/prospects/{p.id}/records/{record_key}", data=prefixed(record_key, form))
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    errors = re.findall(r'<p class="error" id="([^"]+)-error">([^<]*)</p>', html)
    assert errors == [(f"{record_key}-{field}", message.replace("'", "&#39;"))]
    assert stored(factory.session, p.id, record_key) == kept


def test_errors_show_on_the_prospect_page_when_sent_from_it(client, factory, manager):
    p = factory.prospect(manager, stage="learn")
    sign_in(client, manager)
    r = client.post(f"/prospects/{p.id}/records/info_sheet?from=detail",
                    data={"info_sheet-age": "old", "info_sheet-full_name": "Kept Name"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'data-testid="history"' in html  # the prospect page, not the record page
    assert 'id="info_sheet-age-error"' in html
    assert 'value="Kept Name"' in html  # what was typed is not lost
    assert stored(factory.session, p.id, "info_sheet") is None


def test_messages_in_chinese(client, factory, manager):
    p = factory.prospect(manager, stage="learn")
    sign_in(client, manager)
    client.post("/language", data={"locale": "zh_CN"})
    r = client.post(f"/prospects/{p.id}/records/info_sheet", data={"info_sheet-age": "old"})
    assert r.status_code == 422
    [(_id, message)] = re.findall(r'<p class="error" id="([^"]+)-error">([^<]*)</p>',
                                  r.get_data(as_text=True))
    assert message != "Not a valid integer value." and re.search(r"[\u4e00-\u9fff]", message)


def test_checkboxes_left_unticked_save_false(client, factory, manager):
    p = factory.prospect(manager, stage="close")
    sign_in(client, manager)
    r = client.post(f"/prospects/{p.id}/records/closing_checklist",
                    data={"closing_checklist-recommended": "y"})
    assert r.status_code == 302
    data = stored(factory.session, p.id, "closing_checklist")
    assert data["recommended"] is True and data["signed"] is False


def test_empty_field_clears_the_stored_value(client, factory, manager):
    p = factory.prospect(manager, stage="decision_maker")
    save_record(factory.session, p.id, "decision_maker", actor=manager,
                data={"name": "Old", "relation": "brother"})
    sign_in(client, manager)
    r = client.post(f"/prospects/{p.id}/records/decision_maker",
                    data={"decision_maker-name": "", "decision_maker-relation": "brother"})
    assert r.status_code == 302
    assert stored(factory.session, p.id, "decision_maker") == {
        "relation": "brother", "identified": False, "met": False}


def test_form_shows_stored_values_in_the_users_zone(client, factory, manager):
    p = factory.prospect(manager)
    save_record(factory.session, p.id, "contact_log", actor=manager,
                data={"call_at": "2026-03-04T06:00:00Z"})
    sign_in(client, manager)
    html = client.get(f"/prospects/{p.id}/records/contact_log").get_data(as_text=True)
    assert 'value="2026-03-04T14:00"' in html  # 06:00 UTC is 14:00 in Shanghai


def test_risk_mismatch_is_explained_beside_the_form(client, factory, manager):
    p = factory.prospect(manager, stage="close")
    sign_in(client, manager)
    form = dict(VALID["closing_checklist"][0], product_risk_level="R5")
    client.post(f"/prospects/{p.id}/records/closing_checklist",
                data=prefixed("closing_checklist", form))
    html = client.get(f"/prospects/{p.id}").get_data(as_text=True)
    assert "the product&#39;s risk rating is above the customer&#39;s risk tolerance" in html
    assert 'data-testid="event-win"' in html and "disabled" in html.split(
        'data-testid="event-win"')[0].rsplit("<button", 1)[1]
