"""The weekly work log of many teams at once: the same figures as each team's own log, a
manager who changed teams counted where each figure belongs, and the same two statements
however many teams there are."""
from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta

from sqlalchemy import event, select

from pipeline.auth.models import Team
from pipeline.reports import queries
from tests.conftest import T0
from tests.reports.conftest import day, walk

TZ = "Asia/Shanghai"
WEEK = date(2026, 3, 2)  # the week of T0 (day 20 of the story; day 19 is Sunday 1 March)


def two_teams(session, factory, history):
    """Team A: A1, A2 and their lead; Team B: B1, and M, who worked the week in Team B and
    is in Team A now. Moves, escalations and contacts in and around the week."""
    a1 = factory.user("manager", "Team A")
    a2 = factory.user("manager", "Team A")
    lead = factory.user("team_lead", "Team A")
    b1 = factory.user("manager", "Team B")
    mover = factory.user("manager", "Team B")
    p1 = history.prospect(a1, walk(("create", "first_contact", 19.9),
                                   ("advance", "learn", 20.1), ("back", "first_contact", 20.2)))
    history.prospect(a2, walk(("create", "first_contact", 18),  # the week before
                              ("lose", "first_contact", 20.05, "联系不上客户")))
    p3 = history.prospect(b1, walk(("create", "first_contact", 20), ("advance", "learn", 20.1),
                                   ("win", "learn", 20.3)))
    p4 = history.prospect(mover, walk(("create", "first_contact", 20),
                                      ("advance", "learn", 20.1)))
    history.escalation(p1, "learn", 20.15, decision="continue", decided=20.2)
    history.escalation(p3, "learn", 20.12, decision="abandon", decided=20.25)
    history.escalation(p4, "learn", 20.12)
    for minutes in (5, 6, 7):
        history.contact(p1, a1, "call", T0 + timedelta(minutes=minutes))
    history.contact(p1, lead, "call", T0 + timedelta(minutes=8))
    history.contact(p3, b1, "visit", T0 + timedelta(minutes=9))
    history.contact(p4, mover, "call", T0 + timedelta(minutes=10))
    history.contact(p4, mover, "call", T0 - timedelta(days=1))  # Sunday: the week before
    # M moves to Team A after the week's work (their moves stay with Team B).
    mover.team_id = session.scalars(select(Team.id).where(Team.name == "Team A")).one()
    session.flush()
    return {"a1": a1, "a2": a2, "lead": lead, "b1": b1, "mover": mover}


def rows(fig: queries.WeeklyFigures) -> dict[int, tuple]:
    return {m.user_id: (m.created, m.advanced, m.won, m.lost, m.back, m.escalated, m.calls,
                        m.meetings, m.contacts) for m in fig.managers}


def test_every_team_at_once_gives_each_teams_own_log(session, factory, history):
    s = two_teams(session, factory, history)
    teams = list(session.scalars(select(Team).order_by(Team.name)))
    now = day(21)
    branch = queries.weekly_branch(session, teams, WEEK, tz=TZ, now=now)
    assert [t.name for t, _f in branch] == ["Team A", "Team B"]
    for team, fig in branch:
        alone = queries.weekly_figures(session, team.id, WEEK, tz=TZ, now=now)
        assert asdict(fig) == asdict(alone)
    a, b = (f for _t, f in branch)
    # Team A lists its managers now (M included), then the lead whose calls count there.
    assert [m.user_id for m in a.managers] == [s["a1"].id, s["a2"].id, s["mover"].id,
                                               s["lead"].id]
    assert rows(a)[s["a1"].id] == (1, 1, 0, 0, 1, 1, 3, 0, 3)
    assert rows(a)[s["a2"].id] == (0, 0, 0, 1, 0, 0, 0, 0, 0)
    assert rows(a)[s["mover"].id] == (0, 0, 0, 0, 0, 0, 1, 0, 1)  # a contact: their team now
    assert rows(a)[s["lead"].id] == (0, 0, 0, 0, 0, 0, 1, 0, 1)
    # Team B keeps M's moves and escalation of the week, in a row after its managers.
    assert [m.user_id for m in b.managers] == [s["b1"].id, s["mover"].id]
    assert rows(b)[s["b1"].id] == (1, 1, 1, 0, 0, 1, 0, 1, 1)
    assert rows(b)[s["mover"].id] == (1, 1, 0, 0, 0, 1, 0, 0, 0)
    assert a.decided == {"continue": 1} and b.decided == {"abandon": 1}
    assert a.total("calls") == 5 and b.total("created") == 2


def test_two_statements_however_many_teams(session, factory, history):
    two_teams(session, factory, history)
    for n in range(3):
        factory.user("manager", f"Team {n + 3}")
    teams = list(session.scalars(select(Team).order_by(Team.name)))
    assert len(teams) == 5
    counts = []
    engine = session.get_bind().engine
    for some in (teams[:1], teams):
        statements: list[str] = []
        listener = lambda *a, out=statements: out.append(a[2])
        event.listen(engine, "before_cursor_execute", listener)
        try:
            branch = queries.weekly_branch(session, some, WEEK, tz=TZ, now=day(21))
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        counts.append(len(statements))
        assert len(branch) == len(some)
    assert counts == [2, 2]
    assert queries.weekly_of_teams(session, [], WEEK, tz=TZ) == {}
