"""A supervisor's daily sheet, one team at a time, on SQLite and PostgreSQL: it opens on
their own team (else the first), a team picker chooses another, ``team=all`` gives every
team's totals and the branch's, and the downloads keep every manager of the branch."""
from __future__ import annotations

import re

import pytest

from tests.reports.test_pages import login, read_csv, section
from tests.reports.test_sheets import branch_story


def _totals(html: str) -> str:
    return html.split('data-testid="daily-totals"', 1)[1].split("</section>", 1)[0]


def _selected(html: str, field: str) -> str:
    select = html.split(f'id="{field}"', 1)[1].split("</select>", 1)[0]
    found = re.search(r'<option selected value="([^"]*)"', select)
    assert found, select
    return found.group(1)


def test_a_supervisor_opens_on_the_first_team(client, factory, history):
    s = branch_story(factory, history)
    login(client, s["sup"])  # a supervisor without a team: the first team, by name
    html = client.get("/reports/daily").get_data(as_text=True)
    block = _totals(html)
    assert "Team totals of the day · Team A" in block
    assert s["a1"].name in block and s["a2"].name in block and s["b1"].name not in block
    assert block.count('data-row="manager"') == 2 and block.count('data-row="team-total"') == 1
    assert 'data-row="branch-total"' not in block
    # The pickers: every team and all teams; the team's managers only.
    team_id = _selected(html, "team")
    options = html.split('id="team"', 1)[1].split("</select>", 1)[0]
    assert 'value="all"' in options and options.count("<option") == 3
    manager_options = html.split('id="manager"', 1)[1].split("</select>", 1)[0]
    assert s["b1"].name not in manager_options and s["a1"].name in manager_options
    assert _selected(html, "manager") in {str(s["a1"].id), str(s["a2"].id)}
    # The other team by the picker.
    other = client.get("/reports/daily", query_string={"team": "x"})  # not a team: default
    assert _selected(other.get_data(as_text=True), "team") == team_id
    html_b = client.get("/reports/daily").get_data(as_text=True)
    b_id = next(v for v in re.findall(r'<option (?:selected )?value="(\d+)"',
                                       html_b.split('id="team"', 1)[1].split("</select>")[0])
                if v != team_id)
    html_b = client.get(f"/reports/daily?team={b_id}").get_data(as_text=True)
    block_b = _totals(html_b)
    assert "Team B" in block_b and s["b1"].name in block_b and s["a1"].name not in block_b
    assert 'id="manager"' not in html_b  # one manager: no manager to pick
    assert f"<h2>{s['b1'].name} · 2026-03-02" in html_b
    assert "1 <span" in block_b.split('data-row="team-total"', 1)[1]  # B1's one call today
    # A manager of another team kept when the team is changed: the team's first manager.
    moved = client.get(f"/reports/daily?team={b_id}&manager={s['a1'].id}").get_data(
        as_text=True)
    assert f"<h2>{s['b1'].name} · " in moved and f"<h2>{s['a1'].name} · " not in moved
    # A manager asked for alone: their team (the day's links carry only the manager).
    html_m = client.get(f"/reports/daily?manager={s['b1'].id}").get_data(as_text=True)
    assert _selected(html_m, "team") == b_id and f"<h2>{s['b1'].name} · " in html_m


def test_all_teams_gives_each_teams_totals_and_the_branchs(client, factory, history):
    s = branch_story(factory, history)
    login(client, s["sup"])
    html = client.get("/reports/daily?team=all").get_data(as_text=True)
    assert _selected(html, "team") == "all"
    block = _totals(html)
    assert "Branch totals of the day" in block
    assert block.count('data-row="team-total"') == 2 and 'data-row="manager"' not in block
    branch = block.split('data-row="branch-total"', 1)[1].split("</tr>", 1)[0]
    assert "4 <span" in branch and "/ 60" in branch  # 4 calls of 3 managers × 20
    # Every manager can be picked, and the day's links keep every team.
    manager_options = html.split('id="manager"', 1)[1].split("</select>", 1)[0]
    assert s["a1"].name in manager_options and s["b1"].name in manager_options
    assert re.search(r'href="/reports/daily\?[^"]*team=all[^"]*" rel="prev"', html)


def test_the_download_keeps_every_manager_of_the_branch(client, factory, history):
    s = branch_story(factory, history)
    login(client, s["sup"])
    tables = read_csv(client.get(f"/reports/daily.csv?manager={s['a1'].id}").data)
    rows = [dict(zip(r[0], x)) for r in [section(tables, "Branch totals of the day")]
            for x in r[1:]]
    assert {r["Manager"] for r in rows} >= {s["a1"].name, s["a2"].name, s["b1"].name}
    assert rows[-1]["Team"] == "Branch total" and rows[-1]["Calls"] == "4"


@pytest.mark.parametrize("who", ["lead_a", "a1"])
def test_team_leads_and_managers_have_no_team_picker(client, factory, history, who):
    s = branch_story(factory, history)
    login(client, s[who])
    html = client.get("/reports/daily?team=all").get_data(as_text=True)
    assert 'id="team"' not in html and s["b1"].name not in html


def test_a_team_not_in_the_branch_is_not_found(client, factory, history):
    s = branch_story(factory, history)
    login(client, s["sup"])
    assert client.get("/reports/daily?team=999999").status_code == 404


def test_the_team_picker_speaks_chinese(client, factory, history):
    s = branch_story(factory, history)
    login(client, s["sup"])
    client.post("/language", data={"locale": "zh_CN", "next": "/"})
    html = client.get("/reports/daily").get_data(as_text=True)
    assert "全部团队" in html and "团队" in html.split('id="team"', 1)[0][-200:]
