"""A supervisor's after-sale report, one team at a time, on SQLite and PostgreSQL: it
opens on their own team (else the first), a team picker chooses another, ``team=all``
gives each team's total, and the downloads keep every manager of the branch."""
from __future__ import annotations

import io
import re
import zipfile

from pipeline.prospects.services import advance_prospect


def _story(session, factory):  # noqa: ANN001, ANN202
    """East: two managers, one customer of each leaves the bank; West: one manager, one
    customer leaves."""
    e1, e2 = factory.user("manager", "East team"), factory.user("manager", "East team")
    w1 = factory.user("manager", "West team")
    boss = factory.user("supervisor")
    for n, m in enumerate((e1, e2, w1)):
        p = factory.prospect(m, "after_sale", customer_no=f"C10{n}", assets=300000, tier=None)
        advance_prospect(session, p.id, "leave", actor=m, reason="Moved abroad")
    return {"e1": e1, "e2": e2, "w1": w1, "boss": boss}


def _table(html: str) -> str:
    return html.split('data-testid="aftersale-table"', 1)[1].split("</table>", 1)[0]


def _rows(html: str) -> list[list[str]]:
    """Each row's cells (text), the total last."""
    out = []
    for row in _table(html).split('data-testid="aftersale-row"')[1:]:
        out.append(re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", row.split("</tr>", 1)[0]))
    return out


def _team_id(html: str, name: str) -> str:
    picker = html.split('data-testid="aftersale-team"', 1)[1].split("</select>", 1)[0]
    return picker.split(f">{name}</option>", 1)[0].rsplit('value="', 1)[1].split('"', 1)[0]


def _sign_in(client, user) -> None:  # noqa: ANN001
    client.post("/login", data={"email": user.email, "password": "secret-pass"})


EN = {"Accept-Language": "en"}


def test_a_supervisor_sees_one_team_then_another_then_every_teams_total(
        client, session, factory):
    s = _story(session, factory)
    _sign_in(client, s["boss"])
    html = client.get("/reports/after-sale", headers=EN).get_data(as_text=True)
    rows = _rows(html)  # the first team by name: East, its two managers and the total
    assert [r[0] for r in rows] == sorted([s["e1"].name, s["e2"].name]) + ["Total"]
    assert rows[-1][-1] == "2"  # customers left
    west = _team_id(html, "West team")
    html = client.get(f"/reports/after-sale?team={west}", headers=EN).get_data(as_text=True)
    assert [(r[0], r[-1]) for r in _rows(html)] == [(s["w1"].name, "1"), ("Total", "1")]
    assert f'<option value="{west}" selected>' in html
    every = client.get("/reports/after-sale?team=all", headers=EN).get_data(as_text=True)
    assert [(r[0], r[1], r[-1]) for r in _rows(every)] == [
        ("Team total", "East team", "2"), ("Team total", "West team", "1"), ("Total", "", "3")]
    assert s["e1"].name not in _table(every)
    assert client.get("/reports/after-sale?team=999999").status_code == 404


def test_the_download_keeps_every_manager(client, session, factory):
    s = _story(session, factory)
    _sign_in(client, s["boss"])
    r = client.get("/reports/after-sale.csv", headers=EN)
    with zipfile.ZipFile(io.BytesIO(r.data)) as z:
        text = z.read(z.namelist()[0]).decode("utf-8-sig")
    assert all(s[k].name in text for k in ("e1", "e2", "w1"))


def test_a_team_lead_has_no_team_picker(client, session, factory):
    s = _story(session, factory)
    lead = factory.user("team_lead", "East team")
    _sign_in(client, lead)
    html = client.get("/reports/after-sale?team=all", headers=EN).get_data(as_text=True)
    assert 'data-testid="aftersale-team"' not in html
    assert len(_rows(html)) == 3 and s["w1"].name not in _table(html)


def test_the_team_picker_speaks_chinese(client, session, factory):
    s = _story(session, factory)
    _sign_in(client, s["boss"])
    html = client.get("/reports/after-sale?team=all",
                      headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "全部团队" in html and "团队合计" in _table(html)
