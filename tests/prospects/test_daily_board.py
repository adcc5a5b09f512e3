"""A supervisor's board opens on one team (the first by name), not on every prospect of the
branch; "all teams", a search or a manager chosen look across the branch."""
from __future__ import annotations

import re

from tests.escalations.test_queue_inbox import sign_in


def names(html: str) -> set[str]:
    return set(re.findall(r'class="kcard-name" href="[^"]+">([^<]+)<', html))


def test_the_supervisors_board_opens_on_the_first_team(client, session, factory):
    a = factory.user("manager", "Alpha team")
    b = factory.user("manager", "Beta team")
    sup = factory.user("supervisor")
    factory.prospect(a, name="Alpha one")
    factory.prospect(b, name="Beta one")
    sign_in(client, sup)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    html = client.get("/board").get_data(as_text=True)
    assert names(html) == {"Alpha one"}
    assert '<option value="Alpha team" selected>' in html
    assert 'data-testid="board-total">1 prospect<' in html
    # The manager filter offers the team's managers only (counted out of the cap).
    assert f'<option value="{a.email}"' in html and f'<option value="{b.email}"' not in html
    everyone = client.get("/board?team=all").get_data(as_text=True)
    assert {"Alpha one", "Beta one"} <= names(everyone)
    assert '<option value="all" selected>' in everyone
    assert f'<option value="{b.email}"' in everyone
    assert names(client.get("/board?team=Beta+team").get_data(as_text=True)) == {"Beta one"}
    # A search, or a manager chosen, is not limited to the first team.
    assert "Beta one" in names(client.get("/board?q=Beta").get_data(as_text=True))
    assert names(client.get(f"/board?owner={b.email}").get_data(as_text=True)) == {"Beta one"}


def test_a_leads_and_a_managers_board_are_their_own(client, session, factory):
    a = factory.user("manager", "Alpha team")
    lead = factory.user("team_lead", "Beta team")
    b = factory.user("manager", "Beta team")
    factory.prospect(a, name="Alpha one")
    factory.prospect(b, name="Beta one")
    sign_in(client, lead)
    assert names(client.get("/board").get_data(as_text=True)) == {"Beta one"}
    client.post("/logout")
    sign_in(client, a)
    assert names(client.get("/board").get_data(as_text=True)) == {"Alpha one"}
