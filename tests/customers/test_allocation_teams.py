"""The allocation page's managers, one team at a time, on SQLite and PostgreSQL: the
supervisor's form offers their own team's managers (else the first team's), each with the
count of customers they maintain; another team or every manager (``team=all``) is chosen
on the filters, kept on the pages and after a refused allocation."""
from __future__ import annotations

from sqlalchemy import func, select

from pipeline.customers import allocation
from pipeline.prospects.models import Prospect
from tests.customers.test_allocation import book, fill, ids, row
from tests.customers.test_allocation_pages import sign_in

EN = {"Accept-Language": "en"}


def _get(client, path: str):  # noqa: ANN001, ANN202
    return client.get(path, headers=EN)


def _options(html: str) -> str:
    return html.split('data-testid="allocate-manager"', 1)[1].split("</select>", 1)[0]


def _team_id(html: str, name: str) -> str:
    picker = html.split('data-testid="allocation-team"', 1)[1].split("</select>", 1)[0]
    return picker.split(f">{name}</option>", 1)[0].rsplit('value="', 1)[1].split('"', 1)[0]


def test_the_form_offers_one_teams_managers_with_their_counts(client, session, factory):
    boss = factory.user("supervisor")
    east = factory.user("manager", "East team")
    west = factory.user("manager", "West team")
    fill(factory, west, 2)
    book(session, row(1), row(2))
    sign_in(client, boss)  # without a team of their own: the first team by name
    html = _get(client, "/allocation").get_data(as_text=True)
    cap = allocation.cap()
    assert f"{east.name} (0/{cap})" in _options(html) and west.name not in _options(html)
    assert "Allocate to the managers of" in html
    west_id = _team_id(html, "West team")
    html = _get(client, f"/allocation?team={west_id}").get_data(as_text=True)
    assert f"{west.name} (2/{cap})" in _options(html) and east.name not in _options(html)
    assert f'<option value="{west_id}" selected>' in html
    every = _get(client, "/allocation?team=all").get_data(as_text=True)
    assert f"{east.name} (0/{cap})" in _options(every)
    assert f"{west.name} (2/{cap})" in _options(every)
    assert _get(client, "/allocation?team=999999").status_code == 404
    assert _get(client, "/allocation?team=west").status_code == 404


def test_the_team_is_kept_on_the_pages_and_after_a_refusal(client, session, factory,
                                                             monkeypatch):
    boss = factory.user("supervisor")
    factory.user("manager", "East team")
    west = factory.user("manager", "West team")
    monkeypatch.setattr(allocation, "_cap", lambda: 2)
    fill(factory, west, 2)
    book(session, *(row(i) for i in range(1, 53)))  # two pages of 50
    sign_in(client, boss)
    west_id = _team_id(_get(client, "/allocation").get_data(as_text=True), "West team")
    html = _get(client, f"/allocation?team={west_id}").get_data(as_text=True)
    assert f"team={west_id}" in html.split('rel="next"', 1)[0].rsplit("<a ", 1)[1]
    # Over the cap: refused, and the form offers the same team's managers again.
    back = f"/allocation?team={west_id}"
    over = client.post("/allocation/allocate", data={
        "customers": [str(i) for i in ids(session, 1)], "manager": str(west.id),
        "back": back}, headers=EN)
    assert over.status_code == 422
    assert f'<option selected value="{west.id}">{west.name} (2/2)</option>' in _options(
        over.get_data(as_text=True))
    assert session.scalar(select(func.count()).select_from(Prospect).where(
        Prospect.owner_id == west.id)) == 2


def test_a_team_lead_and_a_manager_have_no_team_picker(client, session, factory):
    lead = factory.user("team_lead", "East team")
    manager = factory.user("manager", "East team")
    factory.user("manager", "West team")
    book(session, row(1))
    for user in (lead, manager):
        sign_in(client, user)
        html = _get(client, "/allocation").get_data(as_text=True)
        assert 'data-testid="allocation-team"' not in html
        client.post("/logout")


def test_the_team_picker_speaks_chinese(client, session, factory):
    boss = factory.user("supervisor")
    factory.user("manager", "East team")
    book(session, row(1))
    sign_in(client, boss)
    html = client.get("/allocation", headers={"Accept-Language": "zh-CN"}).get_data(
        as_text=True)
    assert "分配对象所属团队" in html and "全部团队" in html
