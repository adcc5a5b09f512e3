"""Daily use in a real browser, at a desk (1,440 px) and on a phone (390 px), in English
and Chinese: the header folding into a menu, the board scrolling by column and moved by
touch, the keyboard (skip link, arrows between columns, every allowed move announced), the
escalation queue's bulk continue, the grouped inbox, and axe-core finding no serious or
critical violation on the board, a prospect's page, the escalations and the reports."""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from pipeline import clock
from pipeline.escalations.services import sweep_due
from tests.conftest import T0

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1440, "height": 900}
LOCALES = {"en": "en-US", "zh": "zh-CN"}


@pytest.fixture
def open_page(browser, live_server):
    """``open_page(width, lang, touch=False)``: a fresh context at that viewport, its
    browser speaking ``lang`` (``en`` or ``zh``)."""
    contexts = []

    def make(viewport: dict, lang: str = "en", touch: bool = False):
        context = browser.new_context(base_url=live_server.url, locale=LOCALES[lang],
                                      viewport=viewport, has_touch=touch,
                                      is_mobile=touch, device_scale_factor=1)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def screenshot_folder(tmp_path: Path) -> Path:
    """docs/screenshots when DAILY_SCREENSHOTS is set (then a font for Chinese must be
    installed, or the Chinese shots would show empty boxes), else ``tmp_path``."""
    if not os.environ.get("DAILY_SCREENSHOTS"):
        return tmp_path
    fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True,
                           check=False).stdout if shutil.which("fc-list") else ""
    assert fonts.strip(), "no Chinese font: run scripts/ensure-chromium.sh (fonts-noto-cjk)"
    DOCS.mkdir(parents=True, exist_ok=True)
    return DOCS


def team_name() -> str:
    return f"Daily {secrets.token_hex(3)}"


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def axe_violations(page) -> list[dict]:
    """Serious and critical axe-core violations on the page as it is."""
    page.evaluate(AXE.read_text(encoding="utf-8"))  # evaluated, so the page's CSP allows it
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ["violations"]});
        return r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
            .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map(n => n.target)}));
    }""")
    return result


# ---------------------------------------------------------------- phone width

@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_header_folds_into_a_menu_at_390_px(open_page, live_factory, login, lang):
    manager = live_factory.user("manager", team_name())
    live_factory.prospect(manager, name="Narrow One")
    page = open_page(PHONE, lang)
    login(page, manager.email)
    page.goto("/board")
    assert page_width(page) <= PHONE["width"]
    menu = page.locator("[data-menu-button]")
    sign_out = page.locator(".userbox button", has_text="Sign out" if lang == "en" else "退出")
    assert menu.is_visible() and not sign_out.is_visible()
    menu.click()
    assert menu.get_attribute("aria-expanded") == "true"
    assert sign_out.is_visible()
    box = sign_out.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    page.keyboard.press("Escape")
    assert not sign_out.is_visible()
    menu.click()
    sign_out.click()
    page.wait_for_url("**/login")


def test_the_header_is_one_row_at_1440_px(open_page, live_factory, login):
    manager = live_factory.user("manager", team_name())
    page = open_page(DESK)
    login(page, manager.email)
    page.goto("/board")
    assert not page.locator("[data-menu-button]").is_visible()
    sign_out = page.locator(".userbox button", has_text="Sign out")
    assert sign_out.is_visible()
    assert sign_out.bounding_box()["y"] < 60  # in the bar, not wrapped below it


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_board_scrolls_by_column_and_moves_by_touch(open_page, live_factory, login,
                                                         live_session, lang):
    manager = live_factory.user("manager", team_name())
    p = live_factory.prospect(manager, stage="learn", name=f"Touch {lang}")
    live_factory.complete(p, "learn", manager)
    page = open_page(PHONE, lang, touch=True)
    login(page, manager.email)
    page.goto("/board")
    assert page_width(page) <= PHONE["width"]
    board = page.locator("[data-board]")
    assert "x" in board.evaluate("b => getComputedStyle(b).scrollSnapType")
    learn = page.locator('.column[data-stage="learn"]')
    assert learn.evaluate("c => getComputedStyle(c).scrollSnapAlign") == "start"
    assert learn.bounding_box()["width"] <= PHONE["width"]
    card = page.locator(f"#card-{p.id}")
    card.scroll_into_view_if_needed()
    card.locator("select[name=to]").select_option("decision_maker")
    card.get_by_role("button").last.tap()
    moved = page.locator(f'.column[data-stage="decision_maker"] #card-{p.id}')
    moved.wait_for(state="visible")
    assert page.locator('.column[data-stage="learn"]').locator(f"#card-{p.id}").count() == 0


# ---------------------------------------------------------------- keyboard

@pytest.mark.parametrize("lang", ["en", "zh"])
def test_skip_link_arrows_between_columns_and_every_allowed_move(open_page, live_factory,
                                                                   login, lang):
    manager = live_factory.user("manager", team_name())
    first = live_factory.prospect(manager, name="Keys First")
    learn = live_factory.prospect(manager, stage="learn", name="Keys Learn")
    page = open_page(DESK, lang)
    login(page, manager.email)
    page.goto("/board")
    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert skip.is_visible()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    # Arrows on a card's name: to the next column (an empty one: its heading), and back.
    page.locator(f"#card-{first.id} .kcard-name").focus()
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.textContent") == "Keys Learn"
    page.keyboard.press("ArrowRight")
    focused = page.evaluate("document.activeElement.closest('.column').dataset.stage")
    assert focused == "decision_maker"
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert page.evaluate("document.activeElement.textContent") == "Keys First"

    # "Move to" offers the next stage and the one before.
    options = page.locator(f"#card-{learn.id} select[name=to] option")
    assert set(options.evaluate_all("os => os.map(o => o.value)")) == {
        "decision_maker", "first_contact"}
    select = page.locator(f"#card-{learn.id} select[name=to]")
    select.focus()
    select.select_option("first_contact")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the card's Move button
    reason = page.locator("#reason-dialog")
    reason.wait_for(state="visible")
    page.keyboard.type("The customer asked to start over")
    page.locator("#reason-dialog button[value=ok]").click()
    page.locator(f'.column[data-stage="first_contact"] #card-{learn.id}').wait_for()
    announcer = page.get_by_test_id("announcer")
    page.wait_for_function(
        "el => el.textContent.includes('Keys Learn')", arg=announcer.element_handle())
    assert announcer.get_attribute("aria-live") == "polite"
    # Said once: the toast shows the same words without being a second live region.
    assert page.locator("[data-toast]").get_attribute("aria-live") is None


# ---------------------------------------------------------------- queues and inbox

@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("viewport", [DESK, PHONE], ids=["1440", "390"])
def test_a_lead_continues_two_escalations_at_once(open_page, live_factory, live_session,
                                                   login, viewport, lang):
    team = team_name()
    lead = live_factory.user("team_lead", team)
    owner = live_factory.user("manager", team)
    names = [f"Bulk {secrets.token_hex(2)}" for _ in range(3)]
    with clock.travel(T0 - timedelta(days=30)):
        for name in names:
            live_factory.prospect(owner, name=name)
    sweep_due(live_session, T0)
    page = open_page(viewport, lang)
    login(page, lead.email)
    page.goto("/escalations")
    assert page_width(page) <= viewport["width"]
    for name in names[:2]:
        page.locator('[data-testid="escalation"]', has_text=name) \
            .locator("input[name=ids]").check()
    page.locator("input[name=extend_days]").first.fill("5")
    page.get_by_test_id("bulk-continue").click()
    page.wait_for_load_state()
    assert ("2 escalations continued." if lang == "en" else "已对 2 条上报事项决定继续跟进。") \
        in page.locator(".flash-success").inner_text()
    assert page.locator('[data-testid="escalation"]', has_text=names[0]).count() == 0
    assert page.locator('[data-testid="escalation"]', has_text=names[2]).count() == 1


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_inbox_in_the_browsers_language_grouped_and_marked_read(
        open_page, live_factory, live_session, login, lang):
    team = team_name()
    lead = live_factory.user("team_lead", team)
    owner = live_factory.user("manager", team)
    name = f"Inbox {secrets.token_hex(2)}"
    with clock.travel(T0 - timedelta(days=30)):
        live_factory.prospect(owner, name=name)
    sweep_due(live_session, T0)
    page = open_page(PHONE, lang)
    login(page, lead.email)
    page.goto("/inbox")
    assert page_width(page) <= PHONE["width"]
    note = page.locator('[data-testid="notification"]', has_text=name).first
    text = note.inner_text()
    if lang == "en":
        assert f"Escalation: {name} is overdue in First contact" in text
    else:
        assert "初次接触" in text and "Escalation" not in text
    page.locator('[data-testid="inbox-group"]', has_text=name).locator(
        "input[name=ids]").check()
    page.get_by_test_id("mark-selected").click()
    page.wait_for_load_state()
    group = page.locator('[data-testid="inbox-group"]', has_text=name)
    assert group.locator("input[name=ids]").count() == 0  # read: nothing left to tick


# ---------------------------------------------------------------- axe-core

@pytest.mark.parametrize("lang", ["en", "zh"])
def test_no_serious_accessibility_violations(open_page, live_factory, live_session, login,
                                             lang):
    team = team_name()
    lead = live_factory.user("team_lead", team)
    owner = live_factory.user("manager", team)
    with clock.travel(T0 - timedelta(days=30)):
        stalled = live_factory.prospect(owner, name="Axe Stalled")
    live_factory.prospect(owner, stage="learn", name="Axe Learn")
    sweep_due(live_session, T0)
    found = {}
    for viewport in (DESK, PHONE):
        page = open_page(viewport, lang)
        login(page, lead.email)
        for path in ("/board", f"/prospects/{stalled.id}", "/escalations", "/inbox",
                     "/reports/daily", "/funnel"):
            page.goto(path)
            violations = axe_violations(page)
            if violations:
                found[(viewport["width"], path)] = violations
    assert found == {}


# ---------------------------------------------------------------- screenshots

def test_screenshots_of_the_board_the_queue_my_day_and_a_prospect(
        open_page, live_factory, live_session, login, tmp_path):
    """The board, the escalation queue, My day and a prospect's page at both widths in both
    languages. Written to docs/screenshots when DAILY_SCREENSHOTS is set, else to a
    temporary folder; each a PNG of at most 200 KB and no wider than its screen."""
    out = screenshot_folder(tmp_path)
    team = team_name()
    lead = live_factory.user("team_lead", team)
    owner = live_factory.user("manager", team)
    with clock.travel(T0 - timedelta(days=30)):
        for i, name in enumerate(("王芳", "李雷", "张伟")):
            live_factory.prospect(owner, name=name, phone=f"1391234567{i}")
    with clock.travel(T0 - timedelta(days=17)):
        live_factory.prospect(owner, name="陈静", phone="13800138000")
    for stage in ("learn", "decision_maker", "needs"):
        live_factory.prospect(owner, stage=stage, name=f"刘{stage[:2]}")
    shown = live_factory.prospect(owner, stage="needs", name="赵敏", phone="13600136000")
    sweep_due(live_session, T0)
    shots = []
    for lang in ("en", "zh"):
        for label, viewport in (("1440", DESK), ("390", PHONE)):
            for who, path, name in ((owner, "/board", "board"), (lead, "/escalations", "queue"),
                                    (owner, "/my-day", "my-day"),
                                    (owner, f"/prospects/{shown.id}", "prospect")):
                page = open_page(viewport, lang)
                login(page, who.email)
                page.goto(path)
                assert page_width(page) <= viewport["width"]
                target = out / f"{name}-{label}-{lang}.png"
                page.screenshot(path=str(target), full_page=False, type="png")
                page.context.close()
                shots.append(target)
    assert len(shots) == 16
    for shot in shots:
        assert shot.stat().st_size <= 200 * 1024, shot
