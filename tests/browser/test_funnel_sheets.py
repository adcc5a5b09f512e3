"""The funnel in a real browser, at a desk (1,440 px) and on a phone (390 px), in English and
Chinese: the charts' stage names drawn whole inside the chart, re-entries apart from entries,
a loss recorded with its category on the prospect page and grouped by it in the funnel, and
the page no wider than the screen. Screenshots of the funnel go to docs/screenshots when
DAILY_SCREENSHOTS is set."""
from __future__ import annotations

import secrets

import pytest

from pipeline.prospects.services import advance_prospect
from tests.browser.test_daily_use import (
    DESK,
    PHONE,
    axe_violations,
    open_page,
    page_width,
    screenshot_folder,
)

pytestmark = pytest.mark.browser

__all__ = ["open_page"]  # the fixture, used by name

CATEGORY = {"en": "Bought at another bank", "zh": "已在他行购买"}
LOSE = {"en": "Lose", "zh": "未成交"}


def labels_inside(page, chart_id: str) -> list[dict]:
    """Each stage name of the chart: its text and whether its drawn box lies inside the
    chart's drawing area (nothing cut at either edge)."""
    return page.evaluate("""(id) => {
        const svg = document.getElementById(id);
        const width = svg.viewBox.baseVal.width;
        return [...svg.querySelectorAll('.chart-label')].map(t => {
            const b = t.getBBox();
            return {text: [...t.querySelectorAll('tspan')].map(s => s.textContent).join(' '),
                    inside: b.x >= 0 && b.x + b.width <= width + 0.5, lines: t.children.length};
        });
    }""", chart_id)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_funnel_labels_reentries_and_lost_categories(open_page, live_factory, live_session,
                                                     login, lang, tmp_path):
    team = f"Funnel {secrets.token_hex(3)}"
    lead = live_factory.user("team_lead", team)
    owner = live_factory.user("manager", team)
    back_and_forth = live_factory.prospect(owner, stage="decision_maker", name="Zhou Back")
    advance_prospect(live_session, back_and_forth.id, "back", actor=owner, reason="决策人未确认")
    advance_prospect(live_session, back_and_forth.id, "advance", actor=owner)
    lost = live_factory.prospect(owner, name="Qian Lost")

    page = open_page(DESK, lang)
    login(page, owner.email)
    page.goto(f"/prospects/{lost.id}")
    page.get_by_test_id("event-lose").click()
    page.select_option("#lose-reason_category", label=CATEGORY[lang])
    page.fill("#lose-reason", "客户已在他行购买同类产品")
    page.locator("form.event-lose button[type=submit]").click()
    page.wait_for_url(f"**/prospects/{lost.id}")

    shots = []
    out = screenshot_folder(tmp_path)
    for label, viewport in (("1440", DESK), ("390", PHONE)):
        page = open_page(viewport, lang)
        login(page, lead.email)
        page.goto("/reports/funnel")
        for chart in ("funnel-chart", "time-chart"):
            names = labels_inside(page, chart)
            assert len(names) == 7 and all(n["inside"] for n in names), names
        stages = [t.inner_text().strip() for t in page.locator(
            '[data-testid="funnel-table"] tbody th').all()]
        assert [n["text"].replace(" ", "") for n in labels_inside(page, "funnel-chart")] == \
            [s.replace(" ", "") for s in stages]
        learn = page.locator('[data-testid="funnel-table"] tr[data-stage="learn"]')
        assert learn.locator('[data-col="entered"]').inner_text() == "1"
        assert learn.locator('[data-col="reentered"]').inner_text() == "1"
        dm = page.locator('[data-testid="funnel-table"] tr[data-stage="decision_maker"]')
        assert dm.locator('[data-col="conversion"]').inner_text() == "0.0%"
        row = page.locator('[data-testid="lost-table"] tr[data-category="bought_elsewhere"]')
        assert CATEGORY[lang] in row.inner_text() and "客户已在他行购买同类产品" in row.inner_text()
        assert page_width(page) <= viewport["width"]
        assert axe_violations(page) == []
        target = out / f"funnel-{label}-{lang}.png"
        page.screenshot(path=str(target), full_page=False, type="png")
        shots.append(target)
        page.context.close()
    if lang == "en":
        long = labels_inside(open_funnel(open_page, login, lead), "funnel-chart")
        assert any(n["lines"] > 1 for n in long)  # "Identify the decision maker" wraps
    for shot in shots:
        assert shot.stat().st_size <= 200 * 1024, shot


def open_funnel(open_page, login, user):
    page = open_page(PHONE, "en")
    login(page, user.email)
    page.goto("/reports/funnel")
    return page


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_supervisor_hands_on_the_branch_sheets(open_page, live_factory, login, lang):
    """The daily sheet's branch totals and the weekly log of all teams, at both widths, and
    their downloads as a browser saves them: a zip of CSV tables and an Excel workbook."""
    import io
    import zipfile

    from openpyxl import load_workbook

    sup = live_factory.user("supervisor")
    for team in (f"Sheets A {secrets.token_hex(2)}", f"Sheets B {secrets.token_hex(2)}"):
        live_factory.prospect(live_factory.user("manager", team), name="Sun Sheet")
    total = {"en": "Branch total", "zh": "支行合计"}[lang]
    for viewport in (DESK, PHONE):
        page = open_page(viewport, lang)
        login(page, sup.email)
        page.goto("/reports/daily?team=all")
        totals = page.get_by_test_id("daily-totals")
        assert total in totals.inner_text()
        assert page_width(page) <= viewport["width"]
        page.goto("/reports/weekly?team=all")
        assert total in page.get_by_test_id("weekly-branch-table").inner_text()
        assert page_width(page) <= viewport["width"]
        assert axe_violations(page) == []
        with page.expect_download() as info:
            page.get_by_test_id("download-xlsx").click()
        book = load_workbook(io.BytesIO(open(info.value.path(), "rb").read()))
        ws = book.worksheets[1]
        assert ws.print_title_rows == "$4:$4" and ws.page_setup.orientation == "landscape"
        assert [c.value for c in ws[ws.max_row]][0] == total
        with page.expect_download() as info:
            page.get_by_test_id("download-csv").click()
        assert info.value.suggested_filename.endswith(".zip")
        with zipfile.ZipFile(info.value.path()) as z:
            assert len(z.namelist()) == 3
        page.context.close()
