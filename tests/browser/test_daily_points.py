"""Issue 18's points in a real browser, in English and Chinese, at a desk (1,440 px) and on
a phone (390 px), for the points the other browser tests leave out: messages that say what
is missing (a saved record, a refused suitability check, a card dragged two columns ahead,
a failed reassignment kept on its card), input checked in the form with the field named,
data entered once (the information sheet starts from creation, the checklist's risk level
comes from the questionnaire), My day's tasks and call list, the handover letter and a
history naming both managers, search beyond names and no missing favicon.

Each test makes its own team and looks only at its own prospects."""
from __future__ import annotations

import re
import secrets
from datetime import date, timedelta

import pytest

from pipeline import clock
from pipeline.engine.identity import make_id_number
from pipeline.escalations.models import Escalation
from pipeline.escalations.services import decide_escalation, sweep_due
from pipeline.prospects.models import Prospect
from tests.browser.test_daily_use import DESK, PHONE, open_page, page_width
from tests.conftest import T0

pytestmark = pytest.mark.browser

__all__ = ["open_page"]  # the fixture, used by name

LANGS = ["en", "zh"]
WIDTHS = pytest.mark.parametrize("viewport", [DESK, PHONE], ids=["1440", "390"])
COMPLETE_WORDS = ("100%", "it is complete", "已完整")


def team_name() -> str:
    return f"Points {secrets.token_hex(3)}"


def flash(page, category: str) -> str:
    box = page.locator(f".flash-{category}")
    return box.first.inner_text() if box.count() else ""


def field_error(page, field_id: str) -> str:
    """The error shown under the form field whose input has the id ``field_id``."""
    return page.locator(f".has-error:has(#{field_id}) .error").first.inner_text()


def mobile() -> str:
    return f"139{secrets.randbelow(10**8):08d}"


def id_number() -> str:
    """A resident ID number with a valid birth date and check digit."""
    born = date(1960, 1, 1) + timedelta(days=secrets.randbelow(15000))
    return make_id_number("110105", born, secrets.randbelow(1000))


def save(page) -> None:
    page.get_by_test_id("save-record").click()
    page.wait_for_load_state()


# ---------------------------------------------------------------- 1. messages

@pytest.mark.parametrize("lang", LANGS)
@WIDTHS
def test_saved_records_say_what_is_missing_and_a_refused_check_is_not_complete(
        open_page, live_factory, live_session, login, viewport, lang):
    owner = live_factory.user("manager", team_name())
    offered = live_factory.prospect(owner, stage="allocation", name="Msg Offer")
    closing = live_factory.prospect(owner, stage="close", name="Msg Close")
    page = open_page(viewport, lang)
    login(page, owner.email)

    # One proposal of the two or three the stage needs.
    page.goto(f"/prospects/{offered.id}/records/proposals")
    assert "0-based" not in page.content()
    page.fill("#proposals-options-0", "Fund plan")
    save(page)
    said = flash(page, "info")
    assert said and flash(page, "success") == ""
    assert not any(word in said for word in COMPLETE_WORDS)
    # In the stage's own words: what the page lists as missing for the move.
    needed = page.get_by_test_id("missing-list").locator("li").first.inner_text()
    assert needed in said
    assert page_width(page) <= viewport["width"]

    # Every step ticked, but the product's risk is above the customer's (C3 from the sheet).
    page.goto(f"/prospects/{closing.id}/records/closing_checklist")
    for step in ("recommended", "risk_disclosed", "confirmed", "signed", "ledger"):
        page.check(f"#closing_checklist-{step}")
    page.fill("#closing_checklist-product", "Equity fund")
    page.select_option("#closing_checklist-product_risk_level", "R5")
    save(page)
    said = flash(page, "info")
    assert said and flash(page, "success") == ""
    assert not any(word in said for word in COMPLETE_WORDS)
    assert ("risk" in said) if lang == "en" else ("风险" in said)


@pytest.mark.parametrize("lang", LANGS)
def test_a_card_dragged_two_columns_ahead_says_why_it_stays(open_page, live_factory, login,
                                                             lang):
    owner = live_factory.user("manager", team_name())
    p = live_factory.prospect(owner, name="Msg Drag")
    page = open_page(DESK, lang)
    login(page, owner.email)
    page.goto("/board")
    card = page.locator(f"#card-{p.id}")
    card.drag_to(page.locator('.column[data-stage="decision_maker"] .cards'))
    toast = page.locator("[data-toast]")
    toast.wait_for(state="visible")
    said = {"en": "Cards move one stage at a time.", "zh": "卡片每次只能移动一个阶段。"}[lang]
    assert toast.inner_text() == said and "error" in (toast.get_attribute("class") or "")
    assert page.locator(f'.column[data-stage="first_contact"] #card-{p.id}').count() == 1


@pytest.mark.parametrize("lang", LANGS)
@WIDTHS
def test_a_failed_reassignment_keeps_the_decision_with_the_error_beside_it(
        open_page, live_factory, live_session, login, viewport, lang):
    team = team_name()
    lead = live_factory.user("team_lead", team)
    owner = live_factory.user("manager", team)
    other = live_factory.user("manager", team)
    name = f"Msg Reassign {secrets.token_hex(2)}"
    with clock.travel(T0 - timedelta(days=30)):
        live_factory.prospect(owner, name=name)
    sweep_due(live_session, T0)
    page = open_page(viewport, lang)
    login(page, lead.email)
    page.goto("/escalations")
    card = page.locator('[data-testid="escalation"]', has_text=name)
    card.locator("input[value=reassign]").check()
    card.locator("textarea").fill("Needs someone closer to the customer")
    card.locator("button.primary").click()  # no new manager chosen
    page.wait_for_load_state()
    card = page.locator('[data-testid="escalation"]', has_text=name)
    error = card.get_by_test_id("decision-error")
    assert error.is_visible() and error.inner_text()
    assert flash(page, "error") == ""  # beside the card, not at the top of the page
    assert card.locator("input[value=reassign]").is_checked()
    assert card.locator("textarea").input_value() == "Needs someone closer to the customer"
    assert page_width(page) <= viewport["width"]
    card.locator("select").select_option(str(other.id))
    card.locator("button.primary").click()
    page.wait_for_load_state()
    assert flash(page, "success")
    assert page.locator('[data-testid="escalation"]', has_text=name).count() == 0


# ---------------------------------------------------------------- 2. validation

@pytest.mark.parametrize("lang", LANGS)
@WIDTHS
def test_bad_input_is_refused_in_the_form_naming_the_field(open_page, live_factory, login,
                                                           live_session, viewport, lang):
    owner = live_factory.user("manager", team_name())
    learning = live_factory.prospect(owner, stage="learn", name="Check Sheet")
    calling = live_factory.prospect(owner, name="Check Calls")
    page = open_page(viewport, lang)
    login(page, owner.email)

    page.goto(f"/prospects/{learning.id}/records/info_sheet")
    for key, value in (("mobile", "abc-not-a-phone"), ("id_number", "123"),
                       ("age", "999999999"), ("assets_cash", "1e30")):
        page.fill(f"#info_sheet-{key}", value)
    save(page)
    for key in ("mobile", "id_number", "age", "assets_cash"):
        assert field_error(page, f"info_sheet-{key}"), key
        assert page.locator(f"#info_sheet-{key}").get_attribute("aria-invalid") == "true"
    assert page.locator("#info_sheet-mobile").input_value() == "abc-not-a-phone"  # not lost
    assert page_width(page) <= viewport["width"]

    page.goto(f"/prospects/{calling.id}/records/contact_log")
    page.fill("#contact_log-meeting_booked_at", "2020-01-01T10:00")
    page.fill("#contact_log-call_at", "2099-01-01T10:00")
    save(page)
    assert field_error(page, "contact_log-meeting_booked_at")
    assert field_error(page, "contact_log-call_at")
    # The refused meeting did not count: the prospect is still in first contact.
    live_session.expire_all()
    assert live_session.get(Prospect, calling.id).stage == "first_contact"


# ---------------------------------------------------------------- 3. data entered once

@pytest.mark.parametrize("lang", LANGS)
@WIDTHS
def test_records_start_from_what_is_known(open_page, live_factory, live_session, login,
                                          viewport, lang):
    owner = live_factory.user("manager", team_name())
    phone, number = mobile(), id_number()
    fresh = live_factory.prospect(owner, stage="learn", name="Once Zhang", phone=phone,
                                  id_number=number)
    closing = live_factory.prospect(owner, stage="close", name="Once Close")  # sheet: C3
    page = open_page(viewport, lang)
    login(page, owner.email)
    page.goto(f"/prospects/{fresh.id}/records/info_sheet")
    assert page.locator("#info_sheet-full_name").input_value() == "Once Zhang"
    assert page.locator("#info_sheet-mobile").input_value() == phone
    assert page.locator("#info_sheet-id_number").input_value() == number

    page.goto(f"/prospects/{closing.id}/records/closing_checklist")
    level = page.locator(".field.readonly", has=page.locator(".hint"))
    assert level.locator(".value").inner_text() == "C3"  # the questionnaire's, not typed
    assert page.locator("#closing_checklist-customer_risk_level").count() == 0
    page.select_option("#closing_checklist-product_risk_level", "R5")
    save(page)
    needed = page.get_by_test_id("missing-list").inner_text()
    assert ("risk" in needed) if lang == "en" else ("风险" in needed)
    assert page_width(page) <= viewport["width"]


# ---------------------------------------------------------------- 4. My day

@pytest.mark.parametrize("lang", LANGS)
@WIDTHS
def test_my_day_keeps_late_tasks_apart_and_shows_the_owner_their_numbers(
        open_page, live_factory, login, viewport, lang):
    owner = live_factory.user("manager", team_name())
    with clock.travel(T0 - timedelta(days=25)):
        late = live_factory.prospect(owner, name="Day Late", phone=(phone := mobile()))
    page = open_page(viewport, lang)
    login(page, owner.email)
    page.goto("/my-day")
    assert page.get_by_test_id("tasks-overdue").get_by_text("Day Late").count() >= 1
    assert page.get_by_test_id("tasks-today").get_by_text("Day Late").count() == 0
    overdue = page.get_by_test_id("overdue")
    assert phone in overdue.inner_text()  # the owner's own list, unmasked
    assert late.id and page_width(page) <= viewport["width"]


# ---------------------------------------------------------------- 6. handover and history

@pytest.mark.parametrize("lang", LANGS)
@WIDTHS
def test_the_handover_letter_and_the_history_name_both_managers(
        open_page, live_factory, live_session, login, viewport, lang):
    team = team_name()
    lead = live_factory.user("team_lead", team)
    owner = live_factory.user("manager", team)
    newcomer = live_factory.user("manager", team)
    name = f"Hand {secrets.token_hex(2)}"
    with clock.travel(T0 - timedelta(days=30)):
        p = live_factory.prospect(owner, name=name)
    sweep_due(live_session, T0)
    esc = live_session.query(Escalation).filter_by(prospect_id=p.id).one()
    decide_escalation(live_session, esc.id, actor=lead, decision="reassign",
                      new_owner=newcomer.id, note="Call her after six")
    page = open_page(viewport, lang)
    login(page, newcomer.email)
    page.goto("/inbox")
    page.locator('[data-testid="notification"][data-kind="handover"]', has_text=name) \
        .get_by_test_id("handover-link").first.click()
    assert "Call her after six" in page.get_by_test_id("handover-note").inner_text()
    letter = page.get_by_test_id("handover-letter").inner_text()
    assert newcomer.name in letter
    assert not re.search(r"(客户经理|Customer manager)\s+\1", letter)  # the role said once
    assert page_width(page) <= viewport["width"]
    page.goto(f"/prospects/{p.id}")
    moved = page.locator('[data-testid="history"] li.ev-reassign').first.inner_text()
    assert owner.name in moved and newcomer.name in moved


# ---------------------------------------------------------------- 10, 11. search, favicon

@pytest.mark.parametrize("lang", LANGS)
@WIDTHS
def test_search_by_mobile_and_no_missing_file(open_page, live_factory, login, viewport,
                                              lang):
    owner = live_factory.user("manager", team_name())
    number = mobile()
    live_factory.prospect(owner, name="Find Me", phone=number)
    live_factory.prospect(owner, name="Not Me")
    page = open_page(viewport, lang)
    missing = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    login(page, owner.email)
    page.goto(f"/board?q={number}")
    assert page.locator('[data-testid="card"]', has_text="Find Me").count() == 1
    assert page.locator('[data-testid="card"]', has_text="Not Me").count() == 0
    assert missing == []
    assert page_width(page) <= viewport["width"]
