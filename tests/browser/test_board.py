"""The board in a real browser: drag with missing records, the record dialog, overdue
cards, the keyboard "move to" control, the page without JavaScript, Chinese, scoping."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from pipeline import clock
from pipeline.prospects.models import Prospect

pytestmark = pytest.mark.browser


def card(page, prospect):
    return page.locator(f"#card-{prospect.id}")


def column(page, stage):
    return page.locator(f'.column[data-stage="{stage}"]')


def stage_in_db(live_session, prospect) -> str:
    live_session.rollback()  # a fresh snapshot: SQLite keeps a read transaction's view
    return live_session.scalar(select(Prospect.stage).where(Prospect.id == prospect.id))


def test_drag_with_missing_records_opens_the_form_then_moves(page, live_factory, login,
                                                            live_session):
    manager = live_factory.user("manager", "Team A")
    p = live_factory.prospect(manager, name="Drag Me")
    login(page, manager.email)
    page.goto("/board")
    assert column(page, "first_contact").locator(f"#card-{p.id}").count() == 1
    assert card(page, p).get_by_text("1 record missing").is_visible()

    card(page, p).drag_to(column(page, "learn").locator(".cards"))
    dialog = page.locator("#record-dialog")
    dialog.wait_for(state="visible")
    assert dialog.get_by_role("heading").inner_text().startswith("Contact log")
    assert stage_in_db(live_session, p) == "first_contact"  # nothing moved yet

    dialog.get_by_label("Meeting booked for").fill("2026-03-05T10:00")
    dialog.get_by_role("button", name="Save and move").click()
    moved = column(page, "learn").locator(f"#card-{p.id}")
    moved.wait_for(state="visible")
    assert not dialog.is_visible()
    assert column(page, "first_contact").locator(f"#card-{p.id}").count() == 0
    assert column(page, "learn").locator("[data-count]").inner_text() == "1"
    assert stage_in_db(live_session, p) == "learn"
    page.reload()  # the server agrees
    assert column(page, "learn").locator(f"#card-{p.id}").count() == 1


def test_incomplete_record_keeps_the_dialog_open(page, live_factory, login, live_session):
    manager = live_factory.user("manager", "Team A")
    p = live_factory.prospect(manager, stage="learn", name="Half Known")
    login(page, manager.email)
    page.goto("/board")
    card(page, p).drag_to(column(page, "decision_maker").locator(".cards"))
    dialog = page.locator("#record-dialog")
    dialog.wait_for(state="visible")
    dialog.get_by_label("Age").fill("-3")
    dialog.get_by_role("button", name="Save and move").click()
    page.locator("#record-dialog .error").wait_for()
    assert "Number must be between 0" in dialog.locator(".error").inner_text()
    assert dialog.get_by_label("Age").get_attribute("aria-invalid") == "true"
    dialog.get_by_label("Age").fill("40")
    dialog.get_by_role("button", name="Save and move").click()
    page.locator("[data-toast]").get_by_text("complete").wait_for()
    assert dialog.is_visible() and stage_in_db(live_session, p) == "learn"
    assert "at least 70% complete" in dialog.locator(".needed").inner_text()


def test_overdue_card_is_marked(page, live_factory, login):
    manager = live_factory.user("manager", "Team A")
    with clock.travel(clock.now() - timedelta(days=25)):
        late = live_factory.prospect(manager, name="Late Customer")
    fresh = live_factory.prospect(manager, name="Fresh Customer")
    login(page, manager.email)
    page.goto("/board")
    assert "is-overdue" in card(page, late).get_attribute("class")
    assert card(page, late).locator("[data-overdue]").inner_text().endswith("4 days overdue")
    assert "is-overdue" not in card(page, fresh).get_attribute("class")
    assert card(page, fresh).locator("[data-testid=due]").inner_text() == "21 days left"
    # Overdue cards come first in their column.
    names = column(page, "first_contact").locator(".kcard-name").all_inner_texts()
    assert names.index("Late Customer") < names.index("Fresh Customer")


def test_move_from_the_keyboard(page, live_factory, login, live_session):
    manager = live_factory.user("manager", "Team A")
    p = live_factory.prospect(manager, stage="needs", name="Keyboard Move")
    live_factory.complete(p, "needs", manager)
    login(page, manager.email)
    page.goto("/board")
    select = card(page, p).get_by_label("Move Keyboard Move to")
    select.focus()
    select.select_option("allocation")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the card's "Move" button
    column(page, "allocation").locator(f"#card-{p.id}").wait_for()
    assert stage_in_db(live_session, p) == "allocation"
    # Focus follows the card to its new column.
    assert page.evaluate("document.activeElement.closest('.kcard').id") == f"card-{p.id}"


def test_back_asks_for_a_reason(page, live_factory, login, live_session):
    manager = live_factory.user("manager", "Team A")
    p = live_factory.prospect(manager, stage="needs", name="Going Back")
    login(page, manager.email)
    page.goto("/board")
    card(page, p).drag_to(column(page, "decision_maker").locator(".cards"))
    reason = page.locator("#reason-dialog")
    reason.wait_for(state="visible")
    reason.get_by_label("Reason").fill("the husband decides")
    reason.get_by_role("button", name="Move back").click()
    column(page, "decision_maker").locator(f"#card-{p.id}").wait_for()
    assert stage_in_db(live_session, p) == "decision_maker"


def test_moves_work_without_javascript(browser, live_server, live_factory, live_session):
    from tests.browser.conftest import login

    manager = live_factory.user("manager", "Team A")
    p = live_factory.prospect(manager, name="No Script")
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False,
                                  locale="en-US")
    page = context.new_page()
    try:
        login(page, manager.email)
        page.goto("/board")
        card(page, p).get_by_role("button", name="Move").click()
        # Records are missing: the record form opens as its own page.
        page.wait_for_url(lambda url: f"/prospects/{p.id}/records/contact_log" in url
                          and "then=advance" in url)
        page.get_by_label("Meeting booked for").fill("2026-03-05T10:00")
        page.get_by_role("button", name="Save and move").click()
        page.wait_for_url("**/board")
        assert column(page, "learn").locator(f"#card-{p.id}").count() == 1
        assert stage_in_db(live_session, p) == "learn"
    finally:
        context.close()


def test_board_in_chinese_and_the_choice_sticks(browser, live_server, page, live_factory,
                                                login):
    from tests.browser.conftest import login as sign_in

    manager = live_factory.user("manager", "Team A")
    live_factory.prospect(manager, name="Chinese Board")
    login(page, manager.email)
    page.goto("/board")
    assert page.locator("h1").inner_text().startswith("Board")
    page.get_by_test_id("lang-zh").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text().startswith("看板")
    assert column(page, "first_contact").locator("h2").inner_text().endswith("初次接触")
    assert page.get_by_role("link", name="新增客户").is_visible()
    assert page.locator("[data-testid=due]").first.inner_text() == "剩余 21 天"
    # Another browser (English by its settings) still gets Chinese for this user.
    other = browser.new_context(base_url=live_server.url, locale="en-US")
    try:
        page2 = other.new_page()
        sign_in(page2, manager.email)
        page2.goto("/board")
        assert page2.locator("h1").inner_text().startswith("看板")
    finally:
        other.close()


def test_manager_cannot_open_another_teams_prospect(page, live_factory, login):
    manager = live_factory.user("manager", "Team A")
    theirs = live_factory.prospect(live_factory.user("manager", "Team B"), name="Not Yours")
    login(page, manager.email)
    response = page.goto(f"/prospects/{theirs.id}")
    assert response.status == 404
    assert page.get_by_test_id("error").inner_text().startswith("404")
    assert "Not Yours" not in page.content()
    page.goto("/board")
    assert page.get_by_text("Not Yours").count() == 0
