"""Data entered once: record fields that start from, or always hold, a value known
elsewhere (the workflow file's ``from`` and ``derived``)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from pipeline.errors import Invalid
from pipeline.prospects.models import StageRecord
from pipeline.prospects.services import save_record
from tests.factories import COMPLETE
from tests.prospects.test_views import sign_in

ID = "110101198001011232"


@pytest.fixture
def manager(factory):
    return factory.user("manager", "Team A")


def stored(session, prospect_id: int, record_key: str) -> dict | None:
    session.expire_all()
    row = session.scalars(select(StageRecord).where(
        StageRecord.prospect_id == prospect_id, StageRecord.record_key == record_key)).first()
    return None if row is None else row.data


def test_the_information_sheet_starts_from_what_was_entered_at_creation(client, factory,
                                                                         manager):
    p = factory.prospect(manager, "learn", name="Wang Fang", phone="13800138000",
                         id_number=ID)
    sign_in(client, manager)
    html = client.get(f"/prospects/{p.id}/records/info_sheet").get_data(as_text=True)
    assert 'value="Wang Fang"' in html
    assert 'value="13800138000"' in html and f'value="{ID}"' in html
    # Shown, not stored: nothing is written until the manager saves the form.
    assert (stored(factory.session, p.id, "info_sheet") or {}).get("mobile") is None


def test_the_checklist_takes_the_questionnaires_level_and_shows_it(client, factory, manager):
    p = factory.prospect(manager, "close")  # its information sheet says C3
    sign_in(client, manager)
    client.post("/language", data={"locale": "en", "next": "/"})
    html = client.get(f"/prospects/{p.id}/records/closing_checklist").get_data(as_text=True)
    assert 'name="closing_checklist-customer_risk_level"' not in html  # never typed
    assert "From Customer information sheet: Risk preference (questionnaire)" in html
    save_record(factory.session, p.id, "closing_checklist", actor=manager,
                data={"product_risk_level": "R2"})
    assert stored(factory.session, p.id, "closing_checklist")["customer_risk_level"] == "C3"


def test_a_level_other_than_the_questionnaires_is_refused_naming_the_field(factory, manager):
    p = factory.prospect(manager, "close")
    with pytest.raises(Invalid) as exc:
        save_record(factory.session, p.id, "closing_checklist", actor=manager,
                    data={"customer_risk_level": "C5", "product_risk_level": "R5"})
    assert set(exc.value.details) == {"customer_risk_level"}
    assert stored(factory.session, p.id, "closing_checklist") is None


def test_a_new_questionnaire_level_reaches_the_checklist_and_its_suitability(factory,
                                                                             manager):
    p = factory.prospect(manager, "close")
    save_record(factory.session, p.id, "closing_checklist", actor=manager,
                data={k: v for k, v in COMPLETE["close"][1].items()
                      if k != "customer_risk_level"})
    row = factory.session.scalars(select(StageRecord).where(
        StageRecord.prospect_id == p.id, StageRecord.record_key == "closing_checklist")).one()
    assert row.complete  # C3 customer, R3 product
    save_record(factory.session, p.id, "info_sheet", actor=manager,
                data={"risk_preference": "C1"})
    factory.session.expire_all()
    row = factory.session.get(StageRecord, row.id)
    assert row.data["customer_risk_level"] == "C1"
    assert not row.complete  # a C1 customer may not buy an R3 product
