"""Lost reasons: the workflow's categories (workflows/seven_step.yaml ``lost_reasons``), the
lose event's ``reason_category`` in the API and on the prospect page, and the funnel grouping
by category with the free-text notes beside it ("other" for a loss without one)."""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from pipeline import workflows
from pipeline.auth.models import Team
from pipeline.engine.definition import WorkflowError, parse_workflow
from pipeline.engine.guards import GUARDS
from pipeline.prospects.models import StageEvent
from pipeline.reports import queries
from pipeline.reports.queries import Filters
from tests.reports.conftest import walk
from tests.reports.test_pages import login


def lose_row(session, prospect_id):
    return session.scalars(select(StageEvent).where(
        StageEvent.prospect_id == prospect_id, StageEvent.event == "lose")).one()


def test_the_workflow_lists_its_categories_in_both_languages():
    wf = workflows.workflow()
    keys = [c.key for c in wf.lost_reasons]
    assert "bought_elsewhere" in keys and keys[-1] == "other" and len(set(keys)) == len(keys)
    assert all(c.name.get("en") and c.name.get("zh_CN") for c in wf.lost_reasons)
    assert next(c for c in wf.lost_reasons if c.key == "bought_elsewhere").name.get(
        "zh_CN") == "已在他行购买"


@pytest.mark.parametrize("lost, message", [
    ("not-a-list", "must be a list"),
    ([{"key": "a", "name": {"en": "A", "zh_CN": "甲"}}, {"key": "a", "name": "A"}],
     "appears twice"),
    ([{"key": "a", "name": {"en": "A"}}], "needs a name in zh_CN"),
    ([{"key": "Bad key", "name": "x"}], "lower-case"),
    ([{"key": "a", "name": "x", "colour": "red"}], "is not a known key"),
])
def test_a_bad_category_list_stops_the_load(lost, message):
    raw = yaml.safe_load(Path(workflows.workflow().source).read_text(encoding="utf-8"))
    assert parse_workflow(raw, "t.yaml", GUARDS).lost_reasons  # the file as it is loads
    raw["lost_reasons"] = lost
    with pytest.raises(WorkflowError, match=f"lost_reasons.*{message}"):
        parse_workflow(raw, "t.yaml", GUARDS)


def test_api_lose_keeps_the_category_beside_the_note(client, session, factory):
    m = factory.user("manager")
    auth = {"Authorization": f"Bearer {factory.token(m)}"}
    p = factory.prospect(m)
    url = f"/api/v1/prospects/{p.id}/events"
    r = client.post(url, json={"event": "lose", "reason": "x", "reason_category": "nope"},
                    headers=auth)
    assert r.status_code == 422 and "reason_category" in r.json["error"]["details"]
    r = client.post(url, json={"event": "pause", "reason": "出差", "reason_category": "funds"},
                    headers=auth)
    assert r.status_code == 422 and "reason_category" in r.json["error"]["details"]
    session.expire_all()
    assert session.scalars(select(StageEvent).where(StageEvent.prospect_id == p.id,
                                                    StageEvent.event != "create")).all() == []
    r = client.post(url, json={"event": "lose", "reason": "客户已在他行购买同类产品",
                               "reason_category": "bought_elsewhere"}, headers=auth)
    assert r.status_code == 200, r.json
    row = lose_row(session, p.id)
    assert row.reason == "客户已在他行购买同类产品"
    assert row.data["reason_category"] == "bought_elsewhere"


def test_api_lose_with_the_note_only_still_works(client, session, factory):
    m = factory.user("manager")
    p = factory.prospect(m)
    r = client.post(f"/api/v1/prospects/{p.id}/events",
                    json={"event": "lose", "reason": "客户无意向"},
                    headers={"Authorization": f"Bearer {factory.token(m)}"})
    assert r.status_code == 200
    row = lose_row(session, p.id)
    assert row.reason == "客户无意向" and "reason_category" not in (row.data or {})
    [lost] = queries.lost_reasons(session, m, Filters())
    assert (lost.category, lost.count, lost.notes) == ("other", 1, [("客户无意向", 1)])


def test_the_lose_form_asks_for_the_category(client, session, factory):
    m = factory.user("manager")
    p = factory.prospect(m)
    login(client, m)
    html = client.get(f"/prospects/{p.id}").get_data(as_text=True)
    select_html = re.search(r'<select[^>]*name="lose-reason_category".*?</select>', html,
                            re.S).group(0)
    assert "Bought at another bank" in select_html and 'value="other"' in select_html
    assert 'name="pause-reason_category"' not in html  # the other events have the note only
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    data = {"lose-event": "lose", "lose-version": str(p.version),
            "lose-reason": "客户已在他行购买"}
    if token:
        data["lose-csrf_token"] = token.group(1)
    r = client.post(f"/prospects/{p.id}/events/lose", data=data)
    assert r.status_code == 422 and "Choose the category of the reason." in r.get_data(
        as_text=True)
    data["lose-reason_category"] = "bought_elsewhere"
    r = client.post(f"/prospects/{p.id}/events/lose", data=data)
    assert r.status_code == 302
    row = lose_row(session, p.id)
    assert (row.reason, row.data["reason_category"]) == ("客户已在他行购买", "bought_elsewhere")
    login(client, m, locale="zh_CN")
    p2 = factory.prospect(m, name="Han Meimei")
    assert "已在他行购买" in client.get(f"/prospects/{p2.id}").get_data(as_text=True)


def test_funnel_groups_losses_by_category(client, session, factory, history):
    m = factory.user("manager", "Team A")
    sup = factory.user("supervisor")
    notes = ["客户已在他行购买", "客户已在他行购买同类产品", "客户已在他行购买"]
    for i, note in enumerate(notes):
        history.prospect(m, walk(("create", "first_contact", 0),
                                 ("lose", "first_contact", 1, note,
                                  {"reason_category": "bought_elsewhere"})), name=f"B{i}")
    old = history.prospect(m, walk(("create", "first_contact", 0),
                                   ("lose", "first_contact", 2, "客户无意向")), name="Old")
    history.prospect(m, walk(("create", "first_contact", 0),  # a category not in the file
                             ("lose", "first_contact", 2, "资金不够",
                              {"reason_category": "removed_since"})), name="Odd")
    rows = queries.lost_reasons(session, sup, Filters())
    assert [(r.category, r.count) for r in rows] == [("bought_elsewhere", 3), ("other", 2)]
    assert rows[0].notes == [("客户已在他行购买", 2), ("客户已在他行购买同类产品", 1)]
    assert sorted(rows[1].notes) == [("客户无意向", 1), ("资金不够", 1)]
    assert old.status == "lost"
    login(client, sup)
    html = client.get("/reports/funnel").get_data(as_text=True)
    table = html.split('data-testid="lost-table"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr data-category=") == 2
    row = table.split('data-category="bought_elsewhere"', 1)[1].split("</tr>", 1)[0]
    assert "Bought at another bank" in row and ">3<" in row
    assert "客户已在他行购买 (2); 客户已在他行购买同类产品" in row
    login(client, sup, locale="zh_CN")
    html = client.get("/reports/funnel").get_data(as_text=True)
    assert "已在他行购买" in html and ">其他<" in html


def test_whole_branch_page_adds_the_teams_up(client, session, factory, history):
    """The supervisor's page, unfiltered, gives one row per stage and category over every
    team; a team filter and the download keep the teams apart."""
    a, b = factory.user("manager", "Team A"), factory.user("manager", "Team B")
    sup = factory.user("supervisor")
    for i, m in enumerate((a, a, b)):
        history.prospect(m, walk(("create", "first_contact", 0),
                                 ("lose", "first_contact", 1, f"note {i % 2}",
                                  {"reason_category": "bought_elsewhere"})), name=f"L{i}")
    by_team = queries.lost_reasons(session, sup, Filters())
    assert [(r.team, r.count) for r in by_team] == [("Team A", 2), ("Team B", 1)]
    [summed] = queries.lost_reasons(session, sup, Filters(), by_team=False)
    assert (summed.team, summed.category, summed.count) == (None, "bought_elsewhere", 3)
    assert sorted(summed.notes) == [("note 0", 2), ("note 1", 1)]
    login(client, sup)

    def lost_rows(path: str) -> list[str]:
        html = client.get(path).get_data(as_text=True)
        table = html.split('data-testid="lost-table"', 1)[1].split("</table>", 1)[0]
        return table.split("<tr data-category=")[1:]

    [row] = lost_rows("/reports/funnel")
    assert "All teams" in row and ">3<" in row
    team_a = session.scalar(select(Team.id).where(Team.name == "Team A"))
    [row] = lost_rows(f"/reports/funnel?team={team_a}")
    assert "Team A" in row and ">2<" in row
    with zipfile.ZipFile(io.BytesIO(client.get("/reports/funnel.csv").data)) as z:
        text = "".join(z.read(n).decode("utf-8-sig") for n in z.namelist())
    assert "Team A" in text and "Team B" in text
