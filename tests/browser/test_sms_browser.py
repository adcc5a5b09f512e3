"""The manager's SMS from the board card in a real browser: the button, the preview with
its segment count, one click, the outbox row and the card without the button."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from pipeline.messages.models import SmsMessage
from pipeline.messages.services import set_manager_phone

pytestmark = pytest.mark.browser


def test_the_manager_sends_the_sms_from_the_card(page, live_factory, live_session, login):
    manager = live_factory.user("manager", "Team A")
    set_manager_phone(live_session, manager, "13900002222")
    live_session.commit()
    p = live_factory.prospect(manager, name="Browser SMS", phone="13800009999")
    login(page, manager.email)
    page.goto("/board")
    card = page.locator(f"#card-{p.id}")
    card.get_by_test_id("sms-button").click()
    page.wait_for_url(f"**/prospects/{p.id}/sms**")
    preview = page.get_by_test_id("sms-preview").inner_text()
    assert "Browser SMS" in preview and "13900002222" in preview
    assert "SMS segment" in page.get_by_test_id("sms-segments").inner_text()
    page.get_by_test_id("sms-send").click()
    page.wait_for_url("**/board**")
    assert page.get_by_text("The SMS to Browser SMS is on its way.").is_visible()
    assert page.locator(f"#card-{p.id}").get_by_test_id("sms-button").count() == 0
    live_session.rollback()
    steps = live_session.scalars(select(SmsMessage.step).where(
        SmsMessage.prospect_id == p.id).order_by(SmsMessage.id)).all()
    assert steps == ["institution_sms", "manager_sms"]


def test_the_card_says_the_customer_opted_out(page, live_factory, live_session, login):
    from pipeline.messages.services import set_opt_out

    manager = live_factory.user("manager", "Team A")
    p = live_factory.prospect(manager, name="No Texts", phone="13800007777")
    set_opt_out(live_session, p.id, actor=manager, opt_out=True)
    login(page, manager.email)
    page.goto("/board")
    card = page.locator(f"#card-{p.id}")
    assert card.get_by_test_id("sms-opt-out").is_visible()
    assert card.get_by_test_id("sms-button").count() == 0
