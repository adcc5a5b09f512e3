"""The queue's cards read each prospect's latest history rows only, in order: the same
rows as the tail of its whole history."""
from __future__ import annotations

from pipeline.escalations import queries


def test_the_latest_rows_are_the_tail_of_the_history(session, factory):
    owner = factory.user("manager", "Team A")
    long = factory.prospect(owner, "needs", name="Li Lei")
    short = factory.prospect(owner, name="Han Mei")
    ids = [long.id, short.id, 999999]
    whole = queries.histories(session, ids)
    latest = queries.histories(session, ids, latest=3)
    assert len(whole[long.id]) > 3 and len(whole[short.id]) < 3
    assert [h.seq for h in latest[long.id]] == [h.seq for h in whole[long.id][-3:]]
    assert [h.seq for h in latest[short.id]] == [h.seq for h in whole[short.id]]
    assert latest[999999] == [] and queries.histories(session, [], latest=3) == {}
