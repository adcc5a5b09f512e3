"""The touch report at a branch's scale: the page opens on the current month and, for a
supervisor, on one team's managers with a team picker (every team's totals on request);
the team's figures (read from its prospects) and the branch's (read from the touches)
agree; the API keeps its whole-period, whole-branch default."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from pipeline import clock
from pipeline.auth.models import Team
from pipeline.messages import reports
from pipeline.messages.outbox import send_pending
from pipeline.messages.services import set_manager_phone
from pipeline.prospects.services import save_record
from tests.api.conftest import Api
from tests.conftest import T0
from tests.messages.conftest import Recorder
from tests.messages.test_views import sign_in

APRIL = datetime(2026, 4, 10, 2, 0, tzinfo=UTC)  # Friday 10 April, 10:00 in Shanghai
FIGURES = ("sms_sent", "calls_after_no_reply", "meetings_after_call", "meetings_after_sms")


def two_teams(session, factory) -> dict:
    """Team A's A1 and Team B's B1 in March: an SMS each; A1's customer called and a meeting
    booked after the call, B1's booked after the SMS (no call). In April: A1's new customer
    gets an SMS. The clock ends on 10 April."""
    a1 = factory.user("manager", "Team A")
    b1 = factory.user("manager", "Team B")
    lead_a = factory.user("team_lead", "Team A")
    sup = factory.user("supervisor")
    set_manager_phone(session, a1, "13900001111")
    set_manager_phone(session, b1, "13900002222")
    session.commit()
    pa = factory.prospect(a1, name="王芳", phone="13800138001")
    pb = factory.prospect(b1, name="李雷", phone="13800138002")
    send_pending(session, Recorder())
    clock.set_now(T0 + timedelta(hours=80))
    meeting = (T0 + timedelta(days=5)).isoformat()
    save_record(session, pa.id, "contact_log", actor=a1, data={
        "call_at": (T0 + timedelta(hours=79)).isoformat(), "meeting_booked_at": meeting})
    save_record(session, pb.id, "contact_log", actor=b1, data={"meeting_booked_at": meeting})
    clock.set_now(APRIL)
    factory.prospect(a1, name="赵敏", phone="13800138003")
    send_pending(session, Recorder())
    teams = {t.name: t for t in session.query(Team)}
    return {"a1": a1, "b1": b1, "lead_a": lead_a, "sup": sup, "A": teams["Team A"],
            "B": teams["Team B"]}


def figures(row: dict) -> tuple:
    return tuple(row[k] for k in FIGURES)


def cells(page: str, name: str) -> list[str]:
    """The figures of the first table row named ``name`` (SMS sent, delivered, failed,
    replies, calls, meetings after the SMS, after the call)."""
    row = page.split(f"<td>{name}</td>", 1)[1].split("</tr>", 1)[0]
    return re.findall(r"<td>([^<]*)</td>", row)[:7]


def test_a_teams_figures_agree_with_the_branchs(session, factory):
    s = two_teams(session, factory)
    for period in ({}, {"start": T0 - timedelta(days=1), "end": T0 + timedelta(days=30)},
                   {"start": APRIL - timedelta(days=9)}):
        branch = reports.touch_report(session, s["sup"], **period)
        by_id = {r["owner_id"]: r for r in branch["managers"]}
        for team in ("A", "B"):
            one = reports.touch_report(session, s["sup"], team_id=s[team].id, **period)
            assert one["managers"] and all(r == by_id[r["owner_id"]] for r in one["managers"])
            [total] = one["teams"]
            assert total == next(t for t in branch["teams"] if t["name"] == f"Team {team}")
    whole = {r["owner_id"]: figures(r) for r in reports.touch_report(
        session, s["sup"])["managers"]}
    assert whole == {s["a1"].id: (2, 1, 1, 0), s["b1"].id: (1, 0, 0, 1)}
    march = {r["owner_id"]: figures(r) for r in reports.touch_report(
        session, s["sup"], start=T0 - timedelta(days=1), end=T0 + timedelta(days=30))[
        "managers"]}
    assert march == {s["a1"].id: (1, 1, 1, 0), s["b1"].id: (1, 0, 0, 1)}
    # a team lead's report is the team's, the same figures
    lead = reports.touch_report(session, s["lead_a"])
    assert [figures(r) for r in lead["managers"]] == [(2, 1, 1, 0)]


def test_the_api_keeps_every_touch_of_the_branch_by_default(client, session, factory):
    s = two_teams(session, factory)
    api = Api(client, factory.token(s["sup"]))
    body = api.get("/api/v1/reports/messages").get_json()
    assert {r["owner_id"]: figures(r) for r in body["managers"]} == {
        s["a1"].id: (2, 1, 1, 0), s["b1"].id: (1, 0, 0, 1)}
    body = api.get(f"/api/v1/reports/messages?team={s['B'].id}").get_json()
    assert [figures(r) for r in body["managers"]] == [(1, 0, 0, 1)]


def test_the_supervisors_page_opens_on_a_team_this_month(client, session, factory):
    s = two_teams(session, factory)
    sign_in(client, s["sup"])
    page = client.get("/reports/messages").get_data(as_text=True)
    assert 'value="2026-04-01"' in page and 'value="2026-04-10"' in page
    assert 'data-testid="touch-team"' in page
    assert re.search(rf'<option value="{s["A"].id}" selected>Team A</option>', page)
    assert f'<option value="{s["B"].id}">Team B</option>' in page
    assert "Per manager" in page and s["b1"].name not in page
    assert cells(page, s["a1"].name) == ["1", "0", "0", "0", "0", "0", "0"]  # April's SMS
    assert cells(page, "Team A")[0] == "1"
    # another team, and every touch (the days left empty)
    page = client.get(f"/reports/messages?team={s['B'].id}&from=&to=").get_data(
        as_text=True)
    assert s["a1"].name not in page and 'value=""' in page
    assert cells(page, s["b1"].name) == ["1", "0", "0", "0", "0", "1", "0"]
    # every team: the per-team table only
    page = client.get("/reports/messages?team=all").get_data(as_text=True)
    assert '<option value="all" selected>' in page
    assert "Per manager" not in page and "Per team" in page
    assert s["a1"].name not in page and s["b1"].name not in page
    assert cells(page, "Team A")[0] == "1" and cells(page, "Team B")[0] == "0"
    page = client.get("/reports/messages?team=all&from=&to=").get_data(as_text=True)
    assert cells(page, "Team A") == ["2", "0", "0", "0", "1", "0", "1"]
    assert cells(page, "Team B") == ["1", "0", "0", "0", "0", "1", "0"]
    # a given period
    page = client.get("/reports/messages?team=all&from=2026-03-01&to=2026-03-31").get_data(
        as_text=True)
    assert cells(page, "Team A")[0] == "1" and cells(page, "Team A")[6] == "1"


def test_a_team_that_is_not_there_is_not_found(client, session, factory):
    s = two_teams(session, factory)
    sign_in(client, s["sup"])
    for team in ("999999", "abc", "-1", ""):
        r = client.get(f"/reports/messages?team={team}")
        if team:
            assert r.status_code == 404 and 'data-testid="error"' in r.get_data(as_text=True)
        else:  # no team asked for: the first
            assert r.status_code == 200 and s["a1"].name in r.get_data(as_text=True)


def test_a_leads_page_opens_on_this_month_without_a_picker(client, session, factory):
    s = two_teams(session, factory)
    sign_in(client, s["lead_a"])
    page = client.get(f"/reports/messages?team={s['B'].id}").get_data(as_text=True)
    assert 'data-testid="touch-team"' not in page and s["b1"].name not in page
    assert cells(page, s["a1"].name) == ["1", "0", "0", "0", "0", "0", "0"]
    page = client.get("/reports/messages?from=&to=").get_data(as_text=True)
    assert cells(page, s["a1"].name) == ["2", "0", "0", "0", "1", "0", "1"]
    # a period that is not one: every touch, as before
    page = client.get("/reports/messages?from=2026-04-10&to=2026-04-01").get_data(
        as_text=True)
    assert "That period is not valid" in page
    assert cells(page, s["a1"].name)[0] == "2"
