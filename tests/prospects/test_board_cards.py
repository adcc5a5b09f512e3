"""Board cards as the board, its "more" fragment and a fetch move write them: escaping,
column counts, owner names, and what a card's read must carry for the engine."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from pipeline import clock
from pipeline.prospects import queries
from pipeline.prospects.services import STATE_FIELDS
from tests.prospects.test_views import FETCH, sign_in

NASTY = '<b>Tom & "Jerry"</b>'
ESCAPED = "&lt;b&gt;Tom &amp; &#34;Jerry&#34;&lt;/b&gt;"


@pytest.fixture
def manager(factory):
    return factory.user("manager", "Team A")


def column_of(html: str, stage: str) -> str:
    return html.split(f'data-testid="column-{stage}"')[1].split("</section>")[0]


def test_card_reads_every_field_the_engine_state_needs():
    assert set(STATE_FIELDS) <= set(queries.CARD_COLUMNS)


def test_names_are_escaped_on_the_board_in_the_fragment_and_after_a_move(client, factory,
                                                                         manager):
    p = factory.prospect(manager, stage="learn", name=NASTY)
    factory.complete(p, "learn", manager)
    sign_in(client, manager)
    for url in ("/board", "/board/columns/learn?offset=0"):
        html = client.get(url).get_data(as_text=True)
        card = html.split(f'id="card-{p.id}"')[1].split("</li>")[0]
        assert f'class="kcard-name" href="/prospects/{p.id}">{ESCAPED}</a>' in card
        assert f"Move {ESCAPED} to</label>" in card
        assert NASTY not in html
    r = client.post(f"/prospects/{p.id}/move", data={"to": "decision_maker"}, headers=FETCH)
    body = r.get_json()
    assert r.status_code == 200 and body["ok"]
    assert ESCAPED in body["card"] and NASTY not in body["card"]
    assert f'action="/prospects/{p.id}/move"' in body["card"]
    assert 'name="csrf_token"' in body["card"] and 'name="next" value="/board"' in body["card"]


def test_team_lead_cards_name_the_owner_escaped_a_managers_do_not(app, client, factory,
                                                                  session, manager):
    lead = factory.user("team_lead", "Team A")
    factory.prospect(manager, name="Shared")
    manager.name = "<i>Ann</i>"
    session.commit()
    sign_in(client, lead)
    html = client.get("/board").get_data(as_text=True)
    assert '<div class="kcard-owner muted">&lt;i&gt;Ann&lt;/i&gt;</div>' in html
    own = app.test_client()
    sign_in(own, manager)
    html = own.get("/board").get_data(as_text=True)
    assert "kcard-owner" not in html and "Shared" in html


def test_column_counts_cover_the_cards_beyond_the_page(client, factory, manager):
    with clock.travel(clock.now() - timedelta(days=25)):
        factory.prospect(manager, name="Late A")
        factory.prospect(manager, name="Late B")
    factory.prospect(manager, name="Fresh")
    factory.prospect(manager, stage="learn", name="Learning")
    sign_in(client, manager)
    html = client.get("/board?limit_first_contact=1").get_data(as_text=True)
    first = column_of(html, "first_contact")
    assert re.search(r"data-count[^>]*>3<", first)
    assert "2 overdue" in first and "Show more (2 more)" in first
    assert len(re.findall(r'data-testid="card"', first)) == 1
    learn = column_of(html, "learn")
    assert re.search(r"data-count[^>]*>1<", learn) and "overdue" not in learn.split("</header>")[0]
    assert re.search(r"data-count[^>]*>0<", column_of(html, "needs"))
    assert "4 prospects" in html


def test_missing_flag_names_what_is_missing(client, factory, manager):
    p = factory.prospect(manager, name="Needs Log")
    sign_in(client, manager)
    html = client.get("/board").get_data(as_text=True)
    card = html.split(f'id="card-{p.id}"')[1].split("</li>")[0]
    title = re.search(r'class="flag flag-missing" title="([^"]+)"', card)
    assert title and title.group(1) == "Contact log: “Meeting booked for” is needed"
    assert "1 record missing" in card


def test_each_viewer_sees_their_own_board_when_the_statement_is_shared(app, factory):
    # The board as it opens is one statement per kind of viewer, built once: each viewer's
    # own id and team go in as parameters, and the overdue counts use the time of the request.
    a, b = factory.user("manager", "Team A"), factory.user("manager", "Team B")
    lead_b, boss = factory.user("team_lead", "Team B"), factory.user("supervisor")
    with clock.travel(clock.now() - timedelta(days=25)):
        factory.prospect(a, name="Only A")
    factory.prospect(b, name="Only B")
    seen = {}
    for user in (a, b, lead_b, boss, a):
        client = app.test_client()
        sign_in(client, user)
        # A supervisor's board opens on one team: the whole branch is "all".
        html = client.get("/board?team=all" if user is boss else "/board") \
            .get_data(as_text=True)
        seen[user.email] = (sorted(re.findall(r'class="kcard-name"[^>]*>([^<]+)<', html)),
                            "1 overdue" in column_of(html, "first_contact"))
    assert seen[a.email] == (["Only A"], True)
    assert seen[b.email] == (["Only B"], False)
    assert seen[lead_b.email] == (["Only B"], False)
    assert seen[boss.email] == (["Only A", "Only B"], True)
    with clock.travel(clock.now() - timedelta(days=30)):  # before A's prospect fell due
        client = app.test_client()
        sign_in(client, a)
        assert "overdue" not in column_of(client.get("/board").get_data(as_text=True),
                                          "first_contact").split("</header>")[0]


def test_a_managers_own_count_on_the_board_is_what_they_maintain(session, factory, manager):
    from pipeline.complaints.services import file_complaint
    from pipeline.prospects.services import advance_prospect

    other = factory.user("manager", "Team A")
    kept = [factory.prospect(manager, stage=s) for s in ("first_contact", "learn", "needs")]
    advance_prospect(session, kept[1].id, "pause", actor=manager, reason="abroad")
    gone = factory.prospect(manager)
    advance_prospect(session, gone.id, "lose", actor=manager, reason="no interest")
    factory.prospect(other)
    # A complaint the manager handles is not a customer they maintain.
    file_complaint(session, actor=manager, data={"customer_id": kept[0].id,
                                                 "summary": "lost card"})
    stages = [s.key for s in queries.workflows.workflow().stages]
    for default_limit in (queries.BOARD_PAGE, 1):
        board = queries.board(session, manager, {}, stages=stages, default_limit=default_limit)
        assert board.mine is not None and board.mine.id == manager.id
        assert board.mine.count == queries.maintained_count(session, manager.id) == 3
        assert board.total == 3 and board.owners == []
