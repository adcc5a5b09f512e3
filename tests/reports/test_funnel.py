"""The funnel, time in stage, cohorts, lost reasons and escalations, on a history built by
hand (tests/reports/conftest.py ``story``), checked figure by figure on both databases.

The story (days; "now" is day 20):
  P1 (Team A, m1): first_contact 0-2, learn 2-5, decision_maker 5-6, back to learn 6-10,
     decision_maker 10-now; escalations in learn (day 7, continued day 8) and in
     decision_maker (day 15, open).
  P2 (Team A, m1, diamond): first_contact 1-5, learn 5-8, lost in learn (客户无意向).
  P3 (Team B, m2): first_contact 3-4 lost (联系不上客户), reopened day 6, first_contact 6-9,
     learn 9-now.
  P4 (Team B, m2): one stage a day from day 0 to close (5), won day 7, after_sale 7-now.
"""
from __future__ import annotations

from datetime import UTC, date

import pytest

from pipeline.reports import queries
from pipeline.reports.queries import Filters
from tests.reports.conftest import day

TZ = "Asia/Shanghai"


def by_key(figures):
    return {f.key: f for f in figures}


def test_funnel_all_time(session, story):
    f = by_key(queries.funnel(session, story["sup"], Filters()))
    assert list(f) == ["first_contact", "learn", "decision_maker", "needs", "allocation",
                       "close", "after_sale"]
    # Entered counts prospects once; a second visit (P3 reopened, P1 back in learn and
    # decision_maker) is a re-entry, and advanced/lost/won/stalled count prospects too.
    fc = f["first_contact"]
    assert (fc.entered, fc.reentered, fc.current, fc.advanced, fc.lost, fc.back, fc.won) == \
        (4, 1, 0, 4, 1, 0, 1)
    assert fc.conversion == 1.0 and fc.won_conversion == 0.25
    # durations 2, 4, 1, 3, 1 days (every visit) -> sorted 1 1 2 3 4
    assert fc.days_count == 5 and fc.median_days == 2.0 and fc.p90_days == 3.6
    learn = f["learn"]
    assert (learn.entered, learn.reentered, learn.current, learn.advanced, learn.lost) == \
        (4, 1, 1, 2, 1)
    assert learn.conversion == 0.5 and learn.stalled == 1 and learn.stalled_share == 0.25
    # 3, 4, 3, 11 (open since day 9), 1 -> 1 3 3 4 11; p90 at 3.6 -> 4 + 0.6 * 7
    assert learn.median_days == 3.0 and learn.p90_days == 8.2
    dm = f["decision_maker"]
    assert (dm.entered, dm.reentered, dm.current, dm.advanced, dm.back, dm.lost,
            dm.stalled) == (2, 1, 1, 1, 1, 0, 1)
    assert dm.conversion == 0.5
    assert dm.median_days == 1.0 and dm.p90_days == 8.2  # 1 1 10 -> 1 + 0.8 * 9
    for key in ("needs", "allocation"):
        assert (f[key].entered, f[key].advanced, f[key].median_days) == (1, 1, 1.0)
    assert (f["close"].entered, f["close"].advanced, f["close"].won) == (1, 1, 1)
    assert f["close"].median_days == 2.0
    after = f["after_sale"]
    assert (after.entered, after.current, after.won, after.median_days) == (1, 1, 1, 13.0)
    assert after.conversion == 0.0


def test_funnel_period(session, story):
    f = by_key(queries.funnel(session, story["sup"], Filters(start=day(5), end=day(9))))
    assert f["first_contact"].entered == 1  # P3's second visit (day 6)
    assert f["first_contact"].advanced == 1 and f["first_contact"].lost == 0
    assert f["learn"].entered == 2 and f["learn"].lost == 1 and f["learn"].advanced == 1
    assert f["decision_maker"].entered == 1 and f["decision_maker"].back == 1
    assert f["close"].entered == 1 and f["after_sale"].entered == 1
    assert f["needs"].entered == 0 and f["needs"].conversion is None
    # "current" is now, whatever the period
    assert f["learn"].current == 1 and f["decision_maker"].current == 1
    # days: visits that left in [5, 9) or are still open
    assert f["first_contact"].days_count == 1 and f["first_contact"].median_days == 4.0
    assert f["learn"].days_count == 3                      # 3 (P1), 3 (P2), 11 (P3 open)
    assert f["learn"].median_days == 3.0 and f["learn"].p90_days == 9.4
    assert f["needs"].median_days is None and f["needs"].days_count == 0


def test_funnel_filters_and_scope(session, story):
    team_b = story["m2"].team_id
    f = by_key(queries.funnel(session, story["sup"], Filters(team_id=team_b)))
    assert (f["first_contact"].entered, f["first_contact"].reentered,
            f["first_contact"].advanced, f["first_contact"].lost) == (2, 1, 2, 1)
    f = by_key(queries.funnel(session, story["sup"], Filters(tier="diamond")))
    assert (f["first_contact"].entered, f["learn"].entered, f["learn"].lost) == (1, 1, 1)
    f = by_key(queries.funnel(session, story["sup"], Filters(owner_id=story["m1"].id)))
    assert f["first_contact"].entered == 2 and f["decision_maker"].entered == 1
    assert f["decision_maker"].reentered == 1
    # a manager sees themself only, a team lead their team, whatever they ask for
    for viewer in (story["m1"], story["lead_a"]):
        f = by_key(queries.funnel(session, viewer, Filters()))
        assert f["first_contact"].entered == 2 and f["after_sale"].entered == 0
        f = by_key(queries.funnel(session, viewer, Filters(team_id=team_b)))
        assert f["first_contact"].entered == 0


def test_reassigned_visit_follows_the_prospect(session, factory, history):
    m1 = factory.user("manager", "Team A")
    m3 = factory.user("manager", "Team C")
    from tests.reports.conftest import walk
    history.prospect(m1, [*walk(("create", "first_contact", 0)),
                          ("reassign", "first_contact", "active", 2, "handover")],
                     owners={2: m3})
    assert by_key(queries.funnel(session, m3, Filters()))["first_contact"].current == 1
    assert by_key(queries.funnel(session, m1, Filters()))["first_contact"].current == 0
    # a row that changes neither stage nor status does not split the visit
    assert by_key(queries.funnel(session, m3, Filters()))["first_contact"].median_days == 20.0


def test_cohorts(session, story):
    months = queries.month_starts(date(2026, 1, 1), date(2026, 3, 1))
    rows = queries.cohorts(session, story["sup"], Filters(), months, tz=TZ)
    assert [c.month for c in rows] == ["2026-01", "2026-02", "2026-03"]
    jan, feb, mar = rows
    assert jan.started == 0 and mar.started == 0
    assert feb.started == 4 and feb.lost_now == 1
    assert feb.reached == {"first_contact": 4, "learn": 4, "decision_maker": 2, "needs": 1,
                           "allocation": 1, "close": 1, "after_sale": 1}
    assert feb.share("decision_maker") == 0.5
    team_a = queries.cohorts(session, story["lead_a"], Filters(), months, tz=TZ)[1]
    assert team_a.started == 2 and team_a.reached["decision_maker"] == 1


def test_cohorts_of_a_scope_read_whole_histories(session, factory, history):
    """A prospect handed to another team counts in the cohort of the team it is in now,
    from its first history row (written under the old team), with the stages it reached
    there; the old team and its manager no longer count it. A manager, a team lead and a
    supervisor's team or owner filter read only their prospects' histories (each through
    its index) and agree with the branch-wide figures."""
    from tests.reports.conftest import walk
    m1 = factory.user("manager", "Team A")
    m3 = factory.user("manager", "Team C")
    lead_c = factory.user("team_lead", "Team C")
    sup = factory.user("supervisor")
    history.prospect(m1, [*walk(("create", "first_contact", 0), ("advance", "learn", 1),
                                ("advance", "decision_maker", 2)),
                          ("reassign", "decision_maker", "active", 3, "handover")],
                     owners={4: m3})
    history.prospect(m3, walk(("create", "first_contact", 4), ("lose", "first_contact", 5,
                                                                "联系不上客户")))
    months = queries.month_starts(date(2026, 1, 1), date(2026, 3, 1))

    def totals(viewer, filters=Filters()):
        rows = queries.cohorts(session, viewer, filters, months, tz=TZ)
        return (sum(c.started for c in rows), sum(c.lost_now for c in rows),
                {k: sum(c.reached[k] for c in rows) for k in ("learn", "decision_maker")})

    team_c = (2, 1, {"learn": 1, "decision_maker": 1})
    assert totals(m3) == totals(lead_c) == team_c
    assert totals(sup, Filters(team_id=m3.team_id)) == team_c
    assert totals(sup, Filters(owner_id=m3.id)) == team_c
    assert totals(sup) == team_c  # branch-wide: the same two prospects
    assert totals(m1) == totals(sup, Filters(owner_id=m1.id)) == (0, 0, {
        "learn": 0, "decision_maker": 0})
    assert totals(sup, Filters(team_id=m1.team_id))[0] == 0


def test_cohort_month_is_local(session, factory, history):
    """Created 2026-01-31 20:00 UTC = 1 February 04:00 in Shanghai."""
    from datetime import datetime

    from tests.reports.conftest import D0
    m = factory.user("manager", "Team A")
    offset = (datetime(2026, 1, 31, 20, tzinfo=UTC) - D0).total_seconds() / 86400
    from tests.reports.conftest import walk
    history.prospect(m, walk(("create", "first_contact", offset)))
    months = queries.month_starts(date(2026, 1, 1), date(2026, 2, 1))
    jan, feb = queries.cohorts(session, m, Filters(), months, tz=TZ)
    assert (jan.started, feb.started) == (0, 1)
    jan, feb = queries.cohorts(session, m, Filters(), months, tz="UTC")
    assert (jan.started, feb.started) == (1, 0)


def test_lost_reasons(session, story):
    rows = queries.lost_reasons(session, story["sup"], Filters())
    # rows written without a category: "other", the free text kept as the note
    assert [(r.stage, r.team, r.category, r.count, r.notes) for r in rows] == [
        ("first_contact", "Team B", "other", 1, [("联系不上客户", 1)]),
        ("learn", "Team A", "other", 1, [("客户无意向", 1)])]
    assert queries.lost_reasons(session, story["sup"], Filters(start=day(5))) == \
        [r for r in rows if r.stage == "learn"]
    assert [r.stage for r in queries.lost_reasons(session, story["m1"], Filters())] == ["learn"]


def test_escalations_by_decision(session, story):
    rows = queries.escalations_by_decision(session, story["sup"], Filters())
    assert [(r.decision, r.kind, r.count, r.avg_days_to_decide) for r in rows] == [
        ("continue", "stage_overdue", 1, 1.0), ("open", "stage_overdue", 1, None)]
    assert queries.escalations_by_decision(session, story["m2"], Filters()) == []
    rows = queries.escalations_by_decision(session, story["sup"], Filters(start=day(10)))
    assert [(r.decision, r.count) for r in rows] == [("open", 1)]


@pytest.mark.parametrize("event_count", [1, 4])
def test_percentiles_match_interpolation(session, factory, history, event_count):
    """Median and p90 of n visits of 1..n days equal the textbook continuous percentile."""
    from tests.reports.conftest import walk
    m = factory.user("manager", "Team A")
    for i in range(1, event_count + 1):
        history.prospect(m, walk(("create", "first_contact", 0), ("advance", "learn", i)))
    fc = by_key(queries.funnel(session, m, Filters()))["first_contact"]
    values = list(range(1, event_count + 1))

    def pct(p):
        h = (len(values) - 1) * p
        lo = int(h)
        hi = min(lo + 1, len(values) - 1)
        return round(values[lo] + (values[hi] - values[lo]) * (h - lo), 2)

    assert (fc.median_days, fc.p90_days) == (pct(0.5), pct(0.9))


def test_cohorts_count_each_workflows_cases_apart(session, factory):
    """A complaint about a customer is a case of the complaint workflow: the customers'
    cohorts do not count it, the complaint workflow's count it alone (found by its entry
    into its first step), for the whole branch and for a team alike."""
    from pipeline import clock, workflows
    from pipeline.complaints import services as complaints

    manager = factory.user("manager", "Team A")
    lead, sup = factory.user("team_lead", "Team A"), factory.user("supervisor")
    customer = factory.prospect(manager, "learn")
    complaints.file_complaint(session, actor=manager, data={
        "customer_id": customer.id, "summary": "redemption paid late"})
    today = clock.now().date()
    months = queries.month_starts(today.replace(day=1), today)
    first = workflows.workflow("complaint").stage_keys[0]
    for viewer in (sup, lead):
        ours = queries.cohorts(session, viewer, Filters(), months, tz=TZ)
        theirs = queries.cohorts(session, viewer, Filters(), months, tz=TZ,
                                 workflow_key="complaint")
        assert sum(c.started for c in ours) == 1, viewer.role
        assert sum(c.reached["learn"] for c in ours) == 1
        assert sum(c.started for c in theirs) == 1
        assert sum(c.reached[first] for c in theirs) == 1
