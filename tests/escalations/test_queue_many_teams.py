"""A supervisor's queue over many teams (a province): each card leaves reassigning to its
team's page, which lists the team's managers with their counts; the manager filter lists a
team's managers once a team is chosen."""
from __future__ import annotations

import re

from pipeline.escalations import views
from tests.escalations.test_queue_paging import card_ids, two_waves
from tests.escalations.test_views import login

TEAMS = tuple(f"Team {n}" for n in range(views.REASSIGN_TEAMS + 1))


def new_owner_selects(html: str) -> int:
    return len(re.findall(r'<select name="e\d+-new_owner"', html))


def test_a_page_of_many_teams_reassigns_from_each_teams_page(client, session, factory):
    lead, owners, sup, *_ = two_waves(session, factory, 2 * len(TEAMS), 0, teams=TEAMS)
    login(client, sup)
    html = client.get("/escalations").get_data(as_text=True)
    cards = card_ids(html)
    assert len(cards) == 2 * len(TEAMS)
    # Continue and abandon on each card; reassign on the team's page the card links to.
    assert new_owner_selects(html) == 0
    assert 'value="reassign"' not in html and html.count('value="continue"') == len(cards)
    links = set(re.findall(r'<p class="esc-team"><a href="/escalations\?team=(\d+)">', html))
    assert len(links) == len(TEAMS)
    assert '<select name="manager">' not in html  # no list of the province's managers
    team = sorted(links)[0]
    page = client.get(f"/escalations?team={team}").get_data(as_text=True)
    assert new_owner_selects(page) == len(card_ids(page)) == 2
    assert 'value="reassign"' in page and "/250)</option>" in page
    # The manager filter offers the team's managers who own open escalations.
    chosen = re.search(r'<select name="manager">(.*?)</select>', page, re.S).group(1)
    assert len(re.findall(r'<option value="\d+"', chosen)) == 2
    # A lead's page is one team: reassign is on the card.
    client.post("/logout")
    login(client, lead)
    mine = client.get("/escalations").get_data(as_text=True)
    assert new_owner_selects(mine) == len(card_ids(mine)) == 2
    assert '<select name="manager">' in mine
