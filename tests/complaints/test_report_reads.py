"""The complaint report's one reading of the complaints: a branch's (each handler by the
case's key) and a team's (through the prospects) give the same lines of the same cases,
and the root causes counted from those lines are the database's count."""
from __future__ import annotations

from dataclasses import astuple

from sqlalchemy import select

from pipeline.auth.models import User
from pipeline.complaints import reports
from tests.complaints.test_report import history  # noqa: F401 - the fixture


def test_a_branch_and_a_team_read_the_same_lines(history, session):  # noqa: F811
    boss = session.scalars(select(User).where(User.role == "supervisor")).one()
    lead = history["lead_user"]
    branch = reports.lines(session, boss)
    team = reports.lines(session, lead)
    assert [line.id for line in branch] == sorted(history["ids"])
    assert [astuple(line) for line in team] == [astuple(line) for line in branch]
    by_id = {line.id: line for line in branch}
    a, b, c = history["ids"]
    assert by_id[b].extended and not by_id[a].extended and not by_id[c].extended
    assert by_id[a].settled_at is not None and by_id[c].settled_at is None
    assert by_id[c].values["manager"] == history["m2"].email
    assert by_id[a].values["manager"] == history["m1"].email
    assert reports.lines(session, history["m2"])[0].id == c  # a handler's own only


def test_root_causes_from_the_lines_match_the_database(history, session):  # noqa: F811
    boss = session.scalars(select(User).where(User.role == "supervisor")).one()
    found = reports.lines(session, boss)
    assert reports.root_causes(session, boss, found=found) == reports.root_causes(session, boss)
    assert reports.root_causes(session, boss, found=found, at_least=1) == \
        reports.root_causes(session, boss, at_least=1)
    assert reports.root_causes(session, boss, at_least=1)  # a cause to compare
