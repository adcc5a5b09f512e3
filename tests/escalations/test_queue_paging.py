"""The escalation queue at branch scale: pages of 50 by age, filters by level, kind, team and
manager, a reason on every card, bulk "continue" decided one escalation at a time, and a
supervisor's page with 330 open escalations well under 100 KB."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from pipeline import clock
from pipeline.escalations.models import Escalation
from pipeline.escalations.queries import QUEUE_PAGE
from pipeline.escalations.services import decide_escalation, sweep_due
from pipeline.prospects.models import Prospect
from tests.conftest import T0
from tests.escalations.test_views import login

DAY = timedelta(days=1)
FIRST_SWEEP = T0 + timedelta(days=21, seconds=1)


def card_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-escalation-id="(\d+)"', html)]


def two_waves(session, factory, first: int, second: int, *, teams=("Team A",), per_team=2):
    """``first`` prospects escalated at FIRST_SWEEP and ``second`` two days later (the first
    wave is then at level 2), spread over ``per_team`` managers per team."""
    lead = factory.user("team_lead", teams[0])
    owners = [factory.user("manager", t) for t in teams for _ in range(per_team)]
    sup = factory.user("supervisor")
    early = [factory.prospect(owners[i % len(owners)], name=f"Early {i}")
             for i in range(first)]
    clock.set_now(T0 + 2 * DAY)
    late = [factory.prospect(owners[i % len(owners)], name=f"Late {i}") for i in range(second)]
    clock.set_now(FIRST_SWEEP)
    sweep_due(session, FIRST_SWEEP)
    clock.set_now(FIRST_SWEEP + 2 * DAY + timedelta(hours=1))
    sweep_due(session, clock.now())
    return lead, owners, sup, early, late


def test_pages_of_25_oldest_first_without_overlap(client, session, factory):
    assert QUEUE_PAGE == 25
    _lead, _owners, sup, early, late = two_waves(session, factory, 30, 45)
    login(client, sup)
    pages = []
    for n in (1, 2, 3):
        html = client.get(f"/escalations?page={n}").get_data(as_text=True)
        pages.append(card_ids(html))
        if n == 1:
            assert "Page 1 of 3" in html and 'data-testid="next-page"' in html
            assert "75 open" in html and "30 at the second level" in html
    assert [len(p) for p in pages] == [25, 25, 25]
    seen = [i for p in pages for i in p]
    assert len(set(seen)) == 75
    opened = dict(session.execute(select(Escalation.id, Escalation.opened_at)).all())
    order = [opened[i] for i in seen]
    assert order == sorted(order)
    # The first wave (opened two days earlier) leads the first page.
    # (30 of them: the first page is theirs alone; the newest first, the second wave's.)
    first = client.get("/escalations").get_data(as_text=True)
    assert "Early " in first and "Late " not in first
    newest = client.get("/escalations?sort=newest").get_data(as_text=True)
    assert "Late " in newest and "Early " not in newest
    # A page past the last shows the last.
    assert card_ids(client.get("/escalations?page=99").get_data(as_text=True)) == pages[2]


def test_filters_by_level_kind_team_and_manager(client, session, factory):
    lead, owners, sup, early, late = two_waves(session, factory, 4, 6,
                                               teams=("Team A", "Team B"))
    login(client, sup)
    level2 = card_ids(client.get("/escalations?level=2").get_data(as_text=True))
    assert len(level2) == 4
    assert {e.level for e in session.scalars(select(Escalation).where(
        Escalation.id.in_(level2)))} == {2}
    team_b = session.scalar(select(Prospect.team_id).where(Prospect.owner_id == owners[2].id)
                            .limit(1))
    by_team = card_ids(client.get(f"/escalations?team={team_b}").get_data(as_text=True))
    assert by_team and {e.team_id for e in session.scalars(select(Escalation).where(
        Escalation.id.in_(by_team)))} == {team_b}
    mine = card_ids(client.get(f"/escalations?manager={owners[1].id}")
                    .get_data(as_text=True))
    expected = session.scalar(select(func.count()).select_from(Escalation).where(
        Escalation.owner_id == owners[1].id, Escalation.status == "open"))
    assert len(mine) == expected > 0
    assert card_ids(client.get("/escalations?kind=no_meeting").get_data(as_text=True)) == []
    assert len(card_ids(client.get("/escalations?kind=stage_overdue")
                        .get_data(as_text=True))) == 10
    # A lead's queue is the team's whatever team the query string names.
    client.post("/logout")
    login(client, lead)
    html = client.get(f"/escalations?team={team_b}").get_data(as_text=True)
    team_a = {e.id for e in session.scalars(select(Escalation).where(
        Escalation.team_id == lead.team_id))}
    assert set(card_ids(html)) == team_a


def test_every_card_says_its_reason(client, session, factory):
    _lead, _owners, sup, *_ = two_waves(session, factory, 2, 0)
    login(client, sup)
    html = client.get("/escalations").get_data(as_text=True)
    reasons = re.findall(r'class="esc-reason">([^<]*)<', html)
    assert len(reasons) == 2
    # The stage and the day it was due (Shanghai): 21 days after T0.
    assert all("First contact was due on 2026-03-23." == r.strip() for r in reasons)
    assert "Reason —" not in html and "<dd>—</dd>" not in html.split("Overdue by")[0]
    client.post("/language", data={"locale": "zh_CN", "next": "/"})
    zh = client.get("/escalations").get_data(as_text=True)
    assert "于 2026-03-23 到期" in zh


def test_bulk_continue_decides_each_and_reports_the_failures(client, session, factory):
    lead, _owners, sup, early, _late = two_waves(session, factory, 3, 0)
    escs = session.scalars(select(Escalation).order_by(Escalation.id)).all()
    # One of them is decided meanwhile by the supervisor.
    decide_escalation(session, escs[0].id, actor=sup, decision="continue")
    login(client, lead)
    html = client.get("/escalations").get_data(as_text=True)
    assert 'data-testid="bulk-form"' in html
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) \
        or re.search(r'name="csrf_token" value="([^"]+)"', html)
    data = {"ids": [str(e.id) for e in escs] + ["999999"], "extend_days": "10",
            "next": "/escalations"}
    if token:
        data["csrf_token"] = token.group(1)
    r = client.post("/escalations/continue", data=data, follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "2 escalations continued." in page
    assert "Not continued:" in page and "decided already" in page
    assert "#999999: not in your queue" in page
    session.expire_all()
    statuses = {e.id: (e.status, e.decision, e.extend_days) for e in
                session.scalars(select(Escalation))}
    assert statuses[escs[1].id] == ("resolved", "continue", 10)
    assert statuses[escs[2].id] == ("resolved", "continue", 10)
    p = session.get(Prospect, escs[1].prospect_id)
    assert p.due_at == clock.now() + timedelta(days=10)


def test_bulk_continue_refuses_bad_days_and_nothing_ticked(client, session, factory):
    lead, _owners, _sup, *_ = two_waves(session, factory, 1, 0)
    esc = session.scalars(select(Escalation)).one()
    login(client, lead)
    r = client.post("/escalations/continue", data={"ids": [str(esc.id)], "extend_days": "500"},
                    follow_redirects=True)
    assert "between 1 and 90" in r.get_data(as_text=True)
    r = client.post("/escalations/continue", data={"extend_days": "5"}, follow_redirects=True)
    assert "Choose the escalations to continue." in r.get_data(as_text=True)
    session.expire_all()
    assert session.get(Escalation, esc.id).status == "open"


def test_managers_may_not_bulk_continue(client, session, factory):
    _lead, owners, *_ = two_waves(session, factory, 1, 0)
    esc = session.scalars(select(Escalation)).one()
    login(client, owners[0])
    r = client.post("/escalations/continue", data={"ids": [str(esc.id)]})
    assert r.status_code == 403
    session.expire_all()
    assert session.get(Escalation, esc.id).status == "open"


def test_supervisor_page_with_330_open_is_under_100_kb(client, session, factory):
    # The demo branch's shape: teams of four managers (three others to reassign to).
    teams = ("Team A", "Team B", "Team C", "Team D")
    _lead, _owners, sup, *_ = two_waves(session, factory, 200, 130, teams=teams, per_team=4)
    assert session.scalar(select(func.count()).select_from(Escalation).where(
        Escalation.status == "open")) == 330
    login(client, sup)
    r = client.get("/escalations")
    assert r.status_code == 200
    size = len(r.get_data())
    assert len(card_ids(r.get_data(as_text=True))) == QUEUE_PAGE
    assert size <= 100 * 1024, size

