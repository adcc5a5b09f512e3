"""A supervisor's whole-branch board reads its columns one by one (a grouped count and each
column's first cards in index order) and shows exactly what ranking every prospect gave."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select, update

from pipeline import workflows
from pipeline.prospects import queries
from pipeline.prospects.models import Prospect
from tests.prospects.test_views import _bulk

STAGES = workflows.engine().workflow.stage_keys


def shape(board: queries.Board) -> list[tuple]:
    return [(c.stage, c.count, c.overdue, [card.prospect.id for card in c.cards])
            for c in board.columns]


@pytest.fixture
def branch(session, factory):
    boss = factory.user("supervisor")
    owners = [factory.user("manager", team) for team in ("Team A", "Team B") for _ in range(2)]
    _bulk(session, owners, 90)
    # Ties on the due time and prospects with none, to check the order's every key.
    ids = list(session.scalars(select(Prospect.id).order_by(Prospect.id)))
    session.execute(update(Prospect).where(Prospect.id.in_(ids[::9])).values(due_at=None))
    same = session.scalar(select(Prospect.due_at).where(Prospect.id == ids[1]))
    session.execute(update(Prospect).where(Prospect.id.in_(ids[2::7])).values(due_at=same))
    session.execute(update(Prospect).where(Prospect.id.in_(ids[3::5])).values(tier="diamond"))
    session.commit()
    return boss


@pytest.mark.parametrize("filters, limits", [
    ({}, {}),
    ({}, {"learn": 11}),
    ({"tier": "diamond"}, {}),
    ({"status": "active", "overdue": True}, {}),
    ({"status": "lost"}, {}),
])
def test_whole_branch_board_shows_what_the_ranking_showed(session, branch, monkeypatch,
                                                         filters, limits):
    def read() -> queries.Board:
        return queries.board(session, branch, {"team": None, **filters}, stages=STAGES,
                             limits=limits, default_limit=6)

    assert queries.is_wide(branch, {"team": None, **filters})
    wide = read()
    monkeypatch.setattr(queries, "is_wide", lambda *_: False)
    ranked = read()
    assert shape(wide) == shape(ranked)
    assert wide.total == ranked.total
    assert [o.id for o in wide.owners] == [o.id for o in ranked.owners]
    if not filters:
        # Every column holds more prospects than it shows: the limits did cut.
        assert wide.total == 90
        assert all(c.count > len(c.cards) > 0 for c in wide.columns if c.count)


def test_a_team_an_owner_or_a_search_is_not_the_whole_branch(branch, factory):
    lead = factory.user("team_lead", "Team A")
    assert not queries.is_wide(branch, {"team": "Team A"})
    assert not queries.is_wide(branch, {"owner": "m@example.com"})
    assert not queries.is_wide(branch, {"q": "Bulk"})
    assert not queries.is_wide(lead, {})


def test_all_teams_opens_on_the_most_urgent_cards_and_more_continues_in_order(
        client, session, branch):
    from tests.prospects.test_views import cards_in, sign_in

    sign_in(client, branch)
    html = client.get("/board?team=all").get_data(as_text=True)
    ranked = queries.board(session, branch, {"team": None}, stages=STAGES, default_limit=90)
    for column in ranked.columns:
        if not column.count:
            continue
        names = [c.prospect.name for c in column.cards]
        shown = cards_in(html, column.stage)
        assert shown == names[:queries.WIDE_PAGE]
        more = client.get(f"/board/columns/{column.stage}?team=all&offset={len(shown)}")
        assert re.findall(r'class="kcard-name"[^>]*>([^<]+)<', more.get_data(as_text=True)) \
            == names[len(shown):len(shown) + queries.BOARD_PAGE]
