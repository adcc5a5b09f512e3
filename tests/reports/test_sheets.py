"""The sheets a branch head hands on: branch totals on the daily sheet and the weekly log,
CSV as a zip of one table per file, rates as percentages, and XLSX workbooks with a title,
the branch, the period, number formats, sheet names within Excel's limit and print setup
(read back with openpyxl)."""
from __future__ import annotations

import io
import re
import zipfile
from datetime import date, timedelta

from openpyxl import load_workbook

from pipeline import clock
from pipeline.reports import exports, queries
from tests.conftest import T0
from tests.reports.conftest import day, walk
from tests.reports.test_pages import login, read_csv, section

TZ = "Asia/Shanghai"
BRANCH = "Industrial Bank XX Branch XX Sub-branch"  # workflows/seven_step.yaml


def branch_story(factory, history):
    """Two teams on Monday 2 March 2026 (T0 is 09:00 in Shanghai): A1 and A2 in Team A,
    B1 in Team B; calls, a visit and moves in the morning."""
    a1 = factory.user("manager", "Team A")
    a2 = factory.user("manager", "Team A")
    b1 = factory.user("manager", "Team B")
    lead_a = factory.user("team_lead", "Team A")
    sup = factory.user("supervisor")
    morning = 19.9  # 06:36 in Shanghai, the same day as T0
    p1 = history.prospect(a1, walk(("create", "first_contact", 10), ("advance", "learn", morning)))
    history.prospect(a2, walk(("create", "first_contact", morning)))
    p3 = history.prospect(b1, walk(("create", "first_contact", 12),
                                   ("lose", "first_contact", morning, "联系不上客户")))
    for i in range(3):
        history.contact(p1, a1, "call", T0 - timedelta(minutes=10 + i))
    history.contact(p3, b1, "call", T0 - timedelta(minutes=30))
    history.contact(p3, b1, "visit", T0 - timedelta(minutes=20))
    history.contact(p3, b1, "call", T0 - timedelta(days=1))  # yesterday
    return {"a1": a1, "a2": a2, "b1": b1, "lead_a": lead_a, "sup": sup}


def test_daily_totals_by_team_and_branch(session, factory, history):
    s = branch_story(factory, history)
    managers = queries.visible_managers(session, s["sup"])
    totals = queries.daily_totals(session, managers, date(2026, 3, 2), tz=TZ)
    assert [(t, [m.name for m in rows]) for t, rows in totals.teams()] == [
        ("Team A", [s["a1"].name, s["a2"].name]), ("Team B", [s["b1"].name])]
    by = {m.user_id: m for m in totals.managers}
    assert (by[s["a1"].id].calls, by[s["a1"].id].advanced) == (3, 1)
    assert (by[s["a2"].id].created, by[s["a2"].id].contacts) == (1, 0)
    assert (by[s["b1"].id].calls, by[s["b1"].id].meetings, by[s["b1"].id].lost) == (1, 1, 1)
    assert (totals.total("calls"), totals.total("meetings"), totals.total("lost")) == (4, 1, 1)
    assert totals.working_day and totals.call_norm == 20


def test_daily_page_and_sheets_carry_the_branch_totals(client, factory, history):
    s = branch_story(factory, history)
    login(client, s["sup"])
    html = client.get("/reports/daily?team=all").get_data(as_text=True)
    block = html.split('data-testid="daily-totals"', 1)[1].split("</section>", 1)[0]
    assert "Branch totals of the day" in block
    branch_row = block.split('data-row="branch-total"', 1)[1].split("</tr>", 1)[0]
    assert "4 <span" in branch_row and "/ 60" in branch_row  # 4 calls of 3 × 20
    assert "6.7%" in branch_row
    assert block.count('data-row="team-total"') == 2

    tables = read_csv(client.get("/reports/daily.csv").data)
    assert list(tables) == ["Customer management progress sheet", "Prospects",
                            "Branch totals of the day"]
    rows = section(tables, "Branch totals of the day")
    header, body = rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]
    assert header[:3] == ["Team", "Manager", "Calls"]
    team_a = next(r for r in body if r["Team"] == "Team A" and r["Manager"] == "Team total")
    assert (team_a["Calls"], team_a["Call norm"], team_a["Calls against the norm"]) == \
        ("3", "40", "7.5%")
    total = body[-1]
    assert (total["Team"], total["Calls"], total["Meetings"], total["Lost"]) == \
        ("Branch total", "4", "1", "1")

    ws = load_workbook(io.BytesIO(client.get("/reports/daily.xlsx").data))[
        "Branch totals of the day"]
    values = list(ws.values)
    assert values[3][:3] == ("Team", "Manager", "Calls")
    last = ws.max_row
    assert ws.cell(last, 1).value == "Branch total" and ws.cell(last, 3).value == 4
    assert ws.cell(last, 5).value == round(4 / 60, 4) and ws.cell(last, 5).number_format == "0.0%"

    # a team lead sees the team's managers and the team total, no branch total
    login(client, s["lead_a"])
    block = client.get("/reports/daily").get_data(as_text=True).split(
        'data-testid="daily-totals"', 1)[1].split("</section>", 1)[0]
    assert "Team totals of the day" in block and s["b1"].name not in block
    assert 'data-row="branch-total"' not in block
    # a manager has no totals
    login(client, s["a1"])
    assert 'data-testid="daily-totals"' not in client.get("/reports/daily").get_data(
        as_text=True)


def test_weekly_log_of_all_teams(client, session, factory, history):
    s = branch_story(factory, history)
    clock.set_now(T0 + timedelta(days=4, hours=9))  # Friday 6 March, 18:00 in Shanghai
    login(client, s["sup"])
    html = client.get("/reports/weekly?team=all&week=2026-03-02").get_data(as_text=True)
    table = html.split('data-testid="weekly-branch-table"', 1)[1].split("</table>", 1)[0]
    assert s["a1"].name in table and s["b1"].name in table
    assert table.count('data-row="team-total"') == 2
    total = table.split('data-row="branch-total"', 1)[1].split("</tr>", 1)[0]
    assert "Branch total" in total and "/ 300" in total  # 3 managers × 5 days × 20 calls
    assert re.search(r'<option[^>]*selected[^>]*value="all"|<option[^>]*value="all"[^>]*selected',
                     html)
    tables = read_csv(client.get("/reports/weekly.csv?team=all&week=2026-03-02").data)
    per = section(tables, "Managers")
    rows = [dict(zip(per[0], r)) for r in per[1:]]
    assert per[0][:2] == ["Team", "Manager"]
    assert [(r["Team"], r["Manager"]) for r in rows if r["Manager"] == "Team total"] == [
        ("Team A", "Team total"), ("Team B", "Team total")]
    branch = rows[-1]
    assert (branch["Team"], branch["New prospects"], branch["Advanced"], branch["Lost"],
            branch["Calls"], branch["Call norm"]) == ("Branch total", "1", "1", "1", "4", "300")
    assert branch["Calls against the norm"] == "1.3%"
    head = section(tables, "CRM weekly work log")
    assert [r[0] for r in head[1:]] == ["Team A", "Team B"]
    # a team lead cannot ask for every team
    login(client, s["lead_a"])
    html = client.get("/reports/weekly?team=all&week=2026-03-02").get_data(as_text=True)
    assert 'data-testid="weekly-branch-table"' not in html and s["b1"].name not in html


def test_csv_is_one_table_per_file(client, factory, history):
    s = branch_story(factory, history)
    login(client, s["sup"])
    r = client.get("/reports/funnel.csv")
    assert r.mimetype == "application/zip"
    assert r.headers["Content-Disposition"].endswith('.zip"')
    with zipfile.ZipFile(io.BytesIO(r.data)) as z:
        names = z.namelist()
        assert names == ["01-Funnel.csv", "02-Cohorts.csv", "03-Lost reasons.csv",
                         "04-Escalations.csv"]
        funnel = z.read(names[0]).decode("utf-8-sig").splitlines()
    assert funnel[0].startswith("Stage,Entered,Re-entries")
    assert all(line.count(",") >= 12 for line in funnel)  # one table: no title or blank line
    fc = dict(zip(funnel[0].split(","), funnel[1].split(",")))
    assert fc["Conversion to next stage"] == "33.3%"  # 1 of 3: a1's advanced
    assert fc["Median days in stage"].count(".") == 1 and len(
        fc["Median days in stage"].split(".")[1]) == 1


def test_xlsx_title_branch_period_formats_and_print_setup(client, factory, history):
    s = branch_story(factory, history)
    login(client, s["sup"])
    wb = load_workbook(io.BytesIO(client.get(
        "/reports/funnel.xlsx?start=2026-02-01&end=2026-03-02").data))
    assert wb.sheetnames == ["Funnel", "Cohorts", "Lost reasons", "Escalations"]
    ws = wb["Funnel"]
    assert ws["A1"].value == "Stage funnel · Funnel" and ws["A1"].font.b
    assert ws["A2"].value == f"Branch: {BRANCH}"
    assert ws["A3"].value == "Period: 2026-02-01 – 2026-03-02"
    assert ws["A4"].value == "Stage" and ws["A4"].font.b
    header = [c.value for c in ws[4]]
    fc = {h: ws.cell(5, i + 1) for i, h in enumerate(header)}
    assert fc["Entered"].value == 3 and fc["Entered"].number_format == "#,##0"
    assert fc["Conversion to next stage"].value == 0.3333
    assert fc["Conversion to next stage"].number_format == "0.0%"
    assert fc["Median days in stage"].number_format == "0.0"
    assert ws.print_title_rows == "$4:$4"
    assert ws.page_setup.orientation == "landscape"
    assert ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0
    assert ws.sheet_properties.pageSetUpPr.fitToPage is True
    assert ws.freeze_panes == "A5"

    wb = load_workbook(io.BytesIO(client.get("/reports/daily.xlsx").data))
    # "Customer management progress sheet" is 34 characters: cut between words
    assert wb.sheetnames[0] == "Customer management progress…"
    assert all(len(n) <= 31 for n in wb.sheetnames)
    ws = wb[wb.sheetnames[0]]
    assert ws["A1"].value == ("Customer management progress sheet · Customer management "
                              "progress sheet")
    assert ws["A3"].value == "Period: 2026-03-02"
    prospects = wb["Prospects"]
    header = [c.value for c in prospects[4]]
    days = prospects.cell(5, header.index("Days in stage") + 1)
    assert isinstance(days.value, float) and days.number_format == "0.0"

    login(client, s["sup"], locale="zh_CN")
    wb = load_workbook(io.BytesIO(client.get("/reports/daily.xlsx").data))
    assert wb.sheetnames[0] == "客户管理进度表"
    assert wb["客户管理进度表"]["A2"].value == "机构：兴业银行XX分行XX支行"
    assert wb["客户管理进度表"]["A3"].value == "期间：2026-03-02"


def test_sheet_names_fit_excel_without_cutting_words():
    used: set[str] = set()
    long = "Customer management progress sheet of the whole branch"
    name = exports.sheet_name(long, used)
    assert name == "Customer management progress…" and len(name) <= 31
    again = exports.sheet_name(long, used)
    assert again != name and again.lower() not in {name.lower()} and len(again) <= 31
    assert again.endswith(" (2)") and "  " not in again
    assert exports.sheet_name("Funnel", used) == "Funnel"
    assert exports.sheet_name("funnel", used) == "funnel (2)"  # Excel ignores case
    assert exports.sheet_name("a/b: c?", set()) == "a b c"
    cjk = "客" * 40
    assert exports.sheet_name(cjk, set()) == "客" * 30 + "…"


def test_percent_and_share():
    assert exports.percent(0.7161) == "71.6%" and exports.percent(None) == ""
    assert exports.share(3, 40) == 0.075 and exports.share(1, 0) is None
    assert day(0) < T0
