"""A stalled prospect in a real browser: the team lead reassigns it from the queue; the new
manager finds the card on the board and the handover in the inbox."""
from __future__ import annotations

import secrets
from datetime import timedelta

import pytest

from pipeline import clock
from pipeline.escalations.services import sweep_due
from tests.conftest import T0

pytestmark = pytest.mark.browser


def test_lead_reassigns_an_escalation_and_the_new_manager_sees_it(
        page, live_factory, live_session, login):
    team = f"Escalation team {secrets.token_hex(3)}"
    lead = live_factory.user("team_lead", team)
    owner = live_factory.user("manager", team)
    newcomer = live_factory.user("manager", team)
    name = f"Stalled {secrets.token_hex(3)}"
    with clock.travel(T0 - timedelta(days=30)):
        live_factory.prospect(owner, name=name)
    summary = sweep_due(live_session, T0)
    assert summary.escalated >= 1

    login(page, lead.email)
    badge = page.locator('[data-testid="open_escalations"]')
    assert int(badge.inner_text()) >= 1
    page.goto("/escalations")
    card = page.locator('[data-testid="escalation"]', has_text=name)
    assert card.is_visible()
    assert owner.name in card.locator('[data-testid="owner"]').inner_text()
    card.get_by_label("Reassign").check()
    card.get_by_label("New manager").select_option(str(newcomer.id))
    card.get_by_label("Note").fill("A fresh start with a new manager")
    card.get_by_role("button", name="Decide").click()
    page.wait_for_load_state()
    assert page.locator(".flash-success").is_visible()
    assert page.locator('[data-testid="escalation"]', has_text=name).count() == 0

    page.locator(".userbox button", has_text="Sign out").click()
    page.wait_for_url("**/login")
    login(page, newcomer.email)
    page.goto("/board")
    board_card = page.locator('[data-testid="card"]', has_text=name)
    assert board_card.is_visible()
    assert int(page.locator('[data-testid="unread_notifications"]').inner_text()) >= 1
    page.goto("/inbox")
    note = page.locator('[data-testid="notification"][data-kind="handover"]', has_text=name)
    assert note.is_visible()
    # The seed's handover letter, filled in for the new manager to send.
    assert newcomer.name in note.inner_text() and owner.name in note.inner_text()
    note.get_by_test_id("handover-link").click()
    letter = page.get_by_test_id("handover-letter")
    assert name in letter.inner_text() and newcomer.name in letter.inner_text()
