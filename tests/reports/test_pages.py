"""The report pages, their downloads (parsed back) and the funnel API, on the hand-built
story of conftest.py (figures worked out in test_funnel.py)."""
from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, timedelta

from openpyxl import load_workbook
from sqlalchemy import event, select

from pipeline.auth.models import AuditEntry
from pipeline.prospects.models import Prospect
from tests.conftest import T0
from tests.reports.conftest import day, walk


def login(client, user, locale="en"):
    client.post("/logout")
    r = client.post("/login", data={"email": user.email, "password": "secret-pass"})
    assert r.status_code == 302
    client.post("/language", data={"locale": locale, "next": "/"})


def read_csv(body: bytes) -> dict[str, list[list[str]]]:
    """The CSV download: a zip of one CSV file per table ("01-Funnel.csv"), by title."""
    out = {}
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        for name in z.namelist():
            data = z.read(name)
            assert data.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets read the Chinese right
            number, title = name.removesuffix(".csv").split("-", 1)
            assert number == f"{len(out) + 1:02d}"  # in the report's order
            out[title] = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    return out


def section(tables: dict[str, list[list[str]]], title: str) -> list[list[str]]:
    """The header and rows of the table titled ``title`` (one file, one table)."""
    return tables[title]


def test_report_pages_need_sign_in(client):
    for url in ("/reports/funnel", "/reports/daily", "/reports/weekly", "/reports/funnel.csv"):
        r = client.get(url)
        assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_funnel_page_shows_the_figures(client, story):
    login(client, story["sup"])
    r = client.get("/reports/funnel")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert '<svg' in html and 'role="img"' in html
    assert 'data-stage="first_contact"' in html
    row = html.split('data-stage="learn"', 1)[1].split("</tr>", 1)[0]
    assert 'data-col="entered">4<' in row and 'data-col="reentered">1<' in row
    assert 'data-col="conversion">50.0%<' in row and 'data-col="stalled">25.0%<' in row
    time_row = html.split('data-testid="time-table"', 1)[1].split('data-stage="learn"', 1)[1]
    assert 'data-col="median">3.0<' in time_row and 'data-col="p90">8.2<' in time_row
    assert "客户无意向" in html and "联系不上客户" in html
    # the team filter narrows it
    html = client.get(f"/reports/funnel?team={story['m2'].team_id}").get_data(as_text=True)
    row = html.split('data-stage="first_contact"', 1)[1].split("</tr>", 1)[0]
    assert 'data-col="entered">2<' in row and 'data-col="reentered">1<' in row


def test_funnel_page_in_chinese(client, story):
    login(client, story["sup"], locale="zh_CN")
    html = client.get("/reports/funnel").get_data(as_text=True)
    assert "阶段漏斗" in html and "初次接触" in html and "未成交原因" in html
    assert "Stage funnel" not in html


def test_funnel_bad_period_is_an_error_not_a_crash(client, story):
    login(client, story["sup"])
    r = client.get("/reports/funnel?start=2026-03-01&end=2026-02-01")
    assert r.status_code == 200
    assert "The end of the period is before its start." in r.get_data(as_text=True)
    r = client.get("/reports/funnel?start=yesterday")
    assert r.status_code == 200


def test_funnel_csv_and_xlsx(client, session, story):
    login(client, story["sup"])
    r = client.get("/reports/funnel.csv")
    assert r.status_code == 200 and r.mimetype == "application/zip"
    rows = section(read_csv(r.data), "Funnel")
    header, body = rows[0], {row[0]: row for row in rows[1:]}
    learn = dict(zip(header, body["Learn the customer"]))
    assert learn["Entered"] == "4" and learn["Advanced"] == "2" and learn["Lost"] == "1"
    assert learn["Re-entries"] == "1"
    assert learn["Conversion to next stage"] == "50.0%"
    assert float(learn["Median days in stage"]) == 3.0
    assert float(learn["90th percentile days"]) == 8.2
    r = client.get("/reports/funnel.xlsx")
    assert r.status_code == 200
    wb = load_workbook(io.BytesIO(r.data))
    ws = wb["Funnel"]
    values = list(ws.values)
    header = list(values[3])  # below the title, the branch and the period
    fc = dict(zip(header, next(v for v in values if v[0] == "First contact")))
    assert (fc["Entered"], fc["Re-entries"], fc["Advanced"], fc["Lost"],
            fc["Conversion to next stage"]) == (4, 1, 4, 1, 1.0)
    assert fc["90th percentile days"] == 3.6
    lost = list(wb["Lost reasons"].values)
    assert ("Learn the customer", "Team A", "Other", 1, "客户无意向") in lost
    exports = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "report_exported")).all()
    assert len(exports) == 2


def test_funnel_csv_in_chinese(client, story):
    login(client, story["sup"], locale="zh_CN")
    rows = read_csv(client.get("/reports/funnel.csv").data)
    assert list(rows)[0] == "漏斗"
    body = section(rows, "漏斗")
    assert body[0][0] == "阶段" and any(r[0] == "初次接触" for r in body)


def test_exports_keep_formulas_as_text(client, session, factory, history):
    m = factory.user("manager", "Team A")
    history.prospect(m, walk(("create", "first_contact", 19), ("lose", "first_contact", 19.5,
                                                                "=HYPERLINK(\"x\")")))
    login(client, m)
    rows = section(read_csv(client.get("/reports/funnel.csv").data), "Lost reasons")
    assert rows[1][4] == "'=HYPERLINK(\"x\")"
    wb = load_workbook(io.BytesIO(client.get("/reports/funnel.xlsx").data))
    cell = wb["Lost reasons"]["E5"]
    assert cell.value == "=HYPERLINK(\"x\")" and cell.data_type == "s"


# ---------------------------------------------------------------- API

def test_api_funnel(client, factory, story):
    token = factory.token(story["sup"])
    auth = {"Authorization": f"Bearer {token}"}
    r = client.get("/api/v1/funnel", headers=auth)
    assert r.status_code == 200
    stages = {s["key"]: s for s in r.get_json()["stages"]}
    assert next(iter(stages)) == "first_contact" and len(stages) == 7
    fc = stages["first_contact"]
    assert {k: fc[k] for k in ("entered", "reentered", "current", "advanced", "lost",
                               "conversion", "median_days", "p90_days")} == {
        "entered": 4, "reentered": 1, "current": 0, "advanced": 4, "lost": 1, "conversion": 1.0,
        "median_days": 2.0, "p90_days": 3.6}
    assert stages["needs"]["median_days"] == 1.0
    # filters: team (name), owner (e-mail), tier, from/to (dates, both included)
    r = client.get("/api/v1/funnel?team=Team%20B", headers=auth)
    assert {s["key"]: s for s in r.get_json()["stages"]}["first_contact"]["entered"] == 2
    r = client.get(f"/api/v1/funnel?owner={story['m1'].email.upper()}", headers=auth)
    assert {s["key"]: s for s in r.get_json()["stages"]}["first_contact"]["entered"] == 2
    r = client.get("/api/v1/funnel?tier=diamond", headers=auth)
    assert {s["key"]: s for s in r.get_json()["stages"]}["learn"]["lost"] == 1
    local = lambda d: (d + timedelta(hours=8)).date().isoformat()
    r = client.get(f"/api/v1/funnel?from={local(day(5))}&to={local(day(8))}", headers=auth)
    s = {s["key"]: s for s in r.get_json()["stages"]}
    assert s["learn"]["entered"] == 2 and s["first_contact"]["entered"] == 1
    assert s["decision_maker"]["entered"] == 1 and s["needs"]["conversion"] is None


def test_api_funnel_scoped_and_validated(client, factory, story):
    auth = {"Authorization": f"Bearer {factory.token(story['m1'])}"}
    s = {s["key"]: s for s in client.get("/api/v1/funnel", headers=auth).get_json()["stages"]}
    assert s["first_contact"]["entered"] == 2 and s["after_sale"]["entered"] == 0
    s = {s["key"]: s for s in client.get("/api/v1/funnel?team=Team%20B", headers=auth)
         .get_json()["stages"]}
    assert s["first_contact"]["entered"] == 0
    for query in ("tier=bronze", "from=yesterday", "team=Nobody", "owner=no@bank.test",
                  "from=2026-03-02&to=2026-03-01", "colour=blue"):
        r = client.get(f"/api/v1/funnel?{query}", headers=auth)
        assert r.status_code == 422, query
        assert r.get_json()["error"]["code"] == "invalid"
    assert client.get("/api/v1/funnel").status_code == 401


# ---------------------------------------------------------------- daily and weekly

def test_daily_sheet_page_and_exports(client, session, factory, history):
    m = factory.user("manager", "Team A")
    other = factory.user("manager", "Team A")
    # today is T0 (day 20): Monday 2 March 2026, 09:00 in Shanghai
    p1 = history.prospect(m, walk(("create", "first_contact", 10), ("advance", "learn", 19.99)),
                          name="王芳")
    history.prospect(m, walk(("create", "first_contact", 15), ("lose", "first_contact", 16,
                                                                 "客户无意向")), name="Lost Long Ago")
    p3 = history.prospect(m, walk(("create", "first_contact", 19.9)), name="New Today")
    history.prospect(other, walk(("create", "first_contact", 12)), name="Not Mine")
    for i in range(3):
        history.contact(p1, m, "call", T0 - timedelta(minutes=10 + i))
    history.contact(p3, m, "visit", T0 - timedelta(minutes=5))
    history.contact(p3, m, "call", T0 - timedelta(days=1))  # yesterday: not counted
    login(client, m)
    html = client.get("/reports/daily").get_data(as_text=True)
    assert "王芳" in html and "New Today" in html
    assert "Lost Long Ago" not in html and "Not Mine" not in html
    norms = html.split('data-testid="calls"', 1)[1]
    assert '<span class="big">3</span> / 20' in norms
    assert '<span class="big">1</span> / 2' in html.split('data-testid="meetings"', 1)[1]
    rows = read_csv(client.get("/reports/daily.csv").data)
    summary = section(rows, "Customer management progress sheet")
    line = dict(zip(summary[0], summary[1]))
    assert (line["Calls"], line["Call norm"], line["Meetings"], line["Meeting norm"]) == \
        ("3", "20", "1", "2")
    assert (line["Advanced"], line["New prospects"], line["Lost"]) == ("1", "1", "0")
    prospects = section(rows, "Prospects")
    by_name = {r[0]: dict(zip(prospects[0], r)) for r in prospects[1:]}
    assert set(by_name) == {"王芳", "New Today"}
    assert by_name["王芳"]["Stage"] == "Learn the customer"
    assert "First contact → Learn the customer" in by_name["王芳"]["Changed today"]
    assert by_name["王芳"]["Contacts today"] == "Call 3"
    wb = load_workbook(io.BytesIO(client.get("/reports/daily.xlsx").data))
    assert [c.value for c in wb["Prospects"]["A"]][4:] == ["New Today", "王芳"] or \
        [c.value for c in wb["Prospects"]["A"]][4:] == ["王芳", "New Today"]
    # a manager may not read another manager's sheet
    assert client.get(f"/reports/daily?manager={other.id}").status_code == 404


def test_daily_sheet_of_a_past_day_comes_from_the_history(session, factory, history):
    from pipeline.reports import queries
    m = factory.user("manager", "Team A")
    history.prospect(m, walk(("create", "first_contact", 10), ("advance", "learn", 15),
                             ("lose", "learn", 18, "客户无意向")), name="A")
    d = lambda n: (day(n) + timedelta(hours=8)).date()
    sheet = queries.daily_sheet(session, m.id, d(16), tz="Asia/Shanghai")
    assert [(line.stage, line.status) for line in sheet.lines] == [("learn", "active")]
    assert sheet.lines[0].days_in_stage == round(
        (queries.day_bounds(d(16), "Asia/Shanghai")[1] - day(15)).total_seconds() / 86400, 2)
    sheet = queries.daily_sheet(session, m.id, d(18), tz="Asia/Shanghai")
    assert [(line.status, [c["event"] for c in line.changes]) for line in sheet.lines] == \
        [("lost", ["lose"])]
    assert (sheet.events["lost"], sheet.events["advance"]) == (1, 0)
    assert queries.daily_sheet(session, m.id, d(19), tz="Asia/Shanghai").lines == []
    assert queries.daily_sheet(session, m.id, d(5), tz="Asia/Shanghai").lines == []


def test_daily_query_count_does_not_grow(session, factory, history):
    from pipeline.reports import queries
    m = factory.user("manager", "Team A")
    counts = []
    for n in (2, 12):
        while len(session.scalars(select(Prospect.id).where(Prospect.owner_id == m.id)).all()) < n:
            p = history.prospect(m, walk(("create", "first_contact", 19.95)))
            history.contact(p, m, "call", T0 - timedelta(minutes=1))
        statements = []
        listener = lambda *a, out=statements: out.append(a[2])
        event.listen(session.get_bind(), "before_cursor_execute", listener)
        try:
            sheet = queries.daily_sheet(session, m.id, date(2026, 3, 2), tz="Asia/Shanghai")
        finally:
            event.remove(session.get_bind(), "before_cursor_execute", listener)
        assert len(sheet.lines) == n
        counts.append(len(statements))
    assert counts[0] == counts[1]


def test_weekly_log_figures_summary_and_exports(client, session, factory, history):
    from pipeline.reports import queries
    lead = factory.user("team_lead", "Team A")
    m1 = factory.user("manager", "Team A")
    m2 = factory.user("manager", "Team A")
    outsider = factory.user("manager", "Team B")
    # the week of Monday 2 March 2026 (Shanghai) began at day 20 - 9 h; now is day 20 + 0 h
    # so move the clock to Friday 6 March 18:00 Shanghai to have a week to look at
    from pipeline import clock
    now = T0 + timedelta(days=4, hours=9)
    clock.set_now(now)
    start = T0 - timedelta(hours=9)  # Monday 00:00 in Shanghai
    at = lambda h: (start + timedelta(hours=h) - day(0)).total_seconds() / 86400
    p1 = history.prospect(m1, walk(("create", "first_contact", 15), ("advance", "learn", at(10)),
                                   ("advance", "decision_maker", at(30))))
    history.prospect(m1, walk(("create", "first_contact", at(40)),
                              ("lose", "first_contact", at(50), "联系不上客户")))
    history.prospect(m2, walk(("create", "first_contact", 0), ("advance", "learn", 1),
                              ("advance", "decision_maker", 2), ("advance", "needs", 3),
                              ("advance", "allocation", 4), ("advance", "close", 5),
                              ("win", "after_sale", at(60))))
    history.prospect(outsider, walk(("create", "first_contact", at(20))))
    history.prospect(m2, walk(("create", "first_contact", at(-5))))  # Sunday before
    history.escalation(p1, "learn", at(12), decision="continue", decided=at(36))
    for h in range(5):
        history.contact(p1, m1, "call", start + timedelta(hours=10 + h))
    history.contact(p1, m1, "meeting", start + timedelta(hours=30))
    history.contact(p1, m1, "call", start - timedelta(hours=1))  # last week
    fig = queries.weekly_figures(session, lead.team_id, date(2026, 3, 2), tz="Asia/Shanghai")
    assert fig.working_days == 5  # Monday to Friday so far
    rows = {m.user_id: m for m in fig.managers}
    assert set(rows) == {m1.id, m2.id}
    a, b = rows[m1.id], rows[m2.id]
    assert (a.created, a.advanced, a.won, a.lost, a.escalated, a.calls, a.meetings) == \
        (1, 2, 0, 1, 1, 5, 1)
    assert (b.created, b.advanced, b.won, b.lost) == (0, 0, 1, 0)
    assert fig.decided == {"continue": 1} and fig.call_norm == 100 and fig.meeting_norm == 10

    login(client, lead)
    html = client.get("/reports/weekly").get_data(as_text=True)
    assert 'data-testid="weekly-summary-form"' in html
    r = client.post("/reports/weekly", data={"team": lead.team_id, "week": "2026-03-02",
                                            "summary": "两位客户经理推进顺利。"})
    assert r.status_code == 302
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "两位客户经理推进顺利。" in html
    rows = read_csv(client.get("/reports/weekly.csv?week=2026-03-04").data)
    head = section(rows, "CRM weekly work log")
    assert dict(zip(head[0], head[1]))["Summary"] == "两位客户经理推进顺利。"
    per = section(rows, "Managers")
    total = dict(zip(per[0], per[-1]))
    assert (total["Manager"], total["Advanced"], total["Won"], total["Lost"], total["Calls"]) \
        == ("Team total", "2", "1", "1", "5")
    wb = load_workbook(io.BytesIO(client.get("/reports/weekly.xlsx").data))
    decided = dict(list(wb["Escalations decided"].values)[4:])
    assert decided == {"Continue": 1, "Reassign": 0, "Abandon": 0}


def test_weekly_summary_only_by_the_teams_lead(client, session, factory):
    from pipeline.errors import Forbidden, Invalid
    from pipeline.reports.services import save_weekly_summary
    lead_a = factory.user("team_lead", "Team A")
    lead_b = factory.user("team_lead", "Team B")
    sup = factory.user("supervisor")
    try:
        save_weekly_summary(session, lead_a.team_id, date(2026, 3, 2), "x", actor=lead_b)
        raise AssertionError("another team's lead wrote the summary")
    except Forbidden:
        pass
    try:
        save_weekly_summary(session, lead_a.team_id, date(2026, 3, 3), "x", actor=lead_a)
        raise AssertionError("a Tuesday was accepted")
    except Invalid:
        pass
    log = save_weekly_summary(session, lead_a.team_id, date(2026, 3, 2), " first ", actor=lead_a)
    again = save_weekly_summary(session, lead_a.team_id, date(2026, 3, 2), "second",
                                actor=lead_a)
    assert log.id == again.id and again.summary == "second"
    login(client, sup)
    html = client.get(f"/reports/weekly?team={lead_a.team_id}&week=2026-03-02") \
        .get_data(as_text=True)
    assert "second" in html and 'data-testid="weekly-summary-form"' not in html
    r = client.post("/reports/weekly", data={"team": lead_a.team_id, "week": "2026-03-02",
                                            "summary": "mine"})
    assert r.status_code == 403
    login(client, lead_a)
    r = client.post("/reports/weekly", data={"team": lead_a.team_id, "week": "2026-03-02",
                                            "summary": "y" * 10_001})
    assert r.status_code == 422
    assert "y" * 10_001 in r.get_data(as_text=True)  # what was typed is not lost


def test_managers_do_not_get_the_weekly_log(client, factory):
    m = factory.user("manager", "Team A")
    login(client, m)
    assert client.get("/reports/weekly").status_code == 404
    assert "Weekly work log" not in client.get("/reports/daily").get_data(as_text=True)


def test_charts_escape_names_and_carry_their_figures():
    from pipeline.reports import charts
    svg = charts.funnel_chart([("<b>First</b>", 10, 4, 0.4), ("Second", 4, 0, 0.0)],
                              title="T & T", desc="D")
    assert "<b>First" not in svg and "&lt;b&gt;First" in svg
    assert "10 → 4 (40.0%)" in svg and "<title" in svg and "T &amp; T" in svg
    svg = charts.time_chart([("A", 2.0, 3.5, 21), ("After", 50.0, 90.0, None)],
                            title="t", desc="d", unit="days")
    assert "2.0 / 3.5 days" in svg and "50.0 / 90.0 days" in svg
    # the stage without a limit is cut at the edge of a scale that fits the 21-day limit
    import re
    bars = [float(w) for w in re.findall(r'width="([\d.]+)" height="\d+" class="bar-median"', svg)]
    span = charts.WIDTH - charts.LABEL_W - 110
    assert bars == [round(span * 2 / 21, 1), float(span)]
