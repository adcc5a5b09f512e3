"""The funnel's rollups (pipeline.reports.rollups) agree with the live funnel and cohorts
computed from the stage visits: counts exactly, the percentiles of days in stage within an
hour, over histories with re-entries, reopenings, reassignments across teams, wins, losses
and escalations, for many periods; the page and the API read them only when fresh and
branch-wide; a build is exactly once; a changed history is picked up by the next build."""
from __future__ import annotations

import json
import random
import re
import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from pipeline import clock, workflows
from pipeline.db import make_engine
from pipeline.escalations import scheduler
from pipeline.prospects.models import StageVisit
from pipeline.reports import queries, rollups
from pipeline.reports.models import (
    RollupBuild,
    rollup_cohorts,
    rollup_reentries,
    rollup_visits,
)
from tests.conftest import T0
from tests.reports.conftest import History, day

TZ = "Asia/Shanghai"
HOUR = 3600
COUNTS = ("entered", "reentered", "current", "advanced", "lost", "back", "won", "stalled",
          "days_count")
STATUS = {"lose": "lost", "win": "won"}


def local(n: float) -> date:
    """The local day (Shanghai) of story day ``n``."""
    return (day(n) + timedelta(hours=8)).date()


def period(first: date | None, last: date | None) -> queries.Filters:
    """The funnel's filters for the days ``first`` to ``last`` (both included)."""
    return queries.Filters(
        start=queries.local_midnight(first, TZ) if first else None,
        end=queries.local_midnight(last + timedelta(days=1), TZ) if last else None)


def assert_same(live: list[queries.StageFigures], rolled: list[queries.StageFigures],
                label: str = "") -> None:
    assert [f.key for f in live] == [f.key for f in rolled]
    for a, b in zip(live, rolled):
        assert {k: getattr(a, k) for k in COUNTS} == {k: getattr(b, k) for k in COUNTS}, \
            (label, a.key)
        for name in ("median_seconds", "p90_seconds"):
            x, y = getattr(a, name), getattr(b, name)
            assert (x is None) == (y is None), (label, a.key, name)
            if x is not None:
                assert abs(x - y) < HOUR, (label, a.key, name, x, y)


def steps(*rows: tuple) -> list[tuple]:
    """(event, stage, day[, status[, reason]]) -> History steps; the status follows the
    event unless given (a reassignment of a lost prospect stays lost)."""
    out = []
    for event, stage, when, *rest in rows:
        status = rest[0] if rest else STATUS.get(event, "active")
        reason = rest[1] if len(rest) > 1 else ("no interest" if status == "lost" else None)
        out.append((event, stage, status, when, reason))
    return out


@pytest.fixture
def rich(session, factory):
    """Prospects over three months with every kind of move, some at local midnight."""
    h = History(session)
    m1, m2 = factory.user("manager", "Team A"), factory.user("manager", "Team B")
    sup = factory.user("supervisor")
    a = h.prospect(m1, steps(
        ("create", "first_contact", -50), ("advance", "learn", -45.3),
        ("back", "first_contact", -40), ("advance", "learn", -20.375),  # local midnight
        ("advance", "decision_maker", -10), ("back", "learn", -5),
        ("advance", "decision_maker", 3), ("advance", "needs", 12)), name="A")
    b = h.prospect(m1, steps(
        ("create", "first_contact", -30), ("lose", "first_contact", -28, "lost", "no answer"),
        ("reopen", "first_contact", -2), ("advance", "learn", 1),
        ("reassign", "learn", 4), ("lose", "learn", 6, "lost", "no need")),
        owners={5: m2, 6: m2}, name="B")
    h.prospect(m2, steps(
        ("create", "first_contact", -60), ("advance", "learn", -58),
        ("advance", "decision_maker", -50.2), ("advance", "needs", -40),
        ("advance", "allocation", -33), ("advance", "close", -30.375),
        ("win", "after_sale", -1)), name="C")
    d = h.prospect(m2, steps(
        ("create", "first_contact", -15), ("advance", "learn", -14),
        ("advance", "decision_maker", -12), ("back", "learn", -11),
        ("advance", "decision_maker", -9), ("lose", "decision_maker", -3)), name="D")
    h.escalation(d, "learn", -13, decision="continue", decided=-12.5)
    h.escalation(d, "learn", -10.5)
    h.escalation(a, "decision_maker", -7)
    h.prospect(m1, steps(
        ("create", "first_contact", 0.625), ("advance", "learn", 1.625),
        ("back", "first_contact", 2.625), ("advance", "learn", 2.7)), name="E")
    h.prospect(m1, steps(("create", "first_contact", 19.5)), name="F")
    h.prospect(m2, steps(
        ("create", "first_contact", -7), ("lose", "learn", -6, "lost", "moved")), name="G")
    h.prospect(m1, steps(
        ("create", "first_contact", -8), ("lose", "first_contact", -7.5, "lost", "gone"),
        ("reassign", "first_contact", -7, "lost")), owners={3: m2}, name="H")
    return {"sup": sup, "m1": m1, "m2": m2, "a": a, "b": b, "history": h}


PERIODS = [
    ("all time", None, None),
    ("one day: A back in first contact", local(-40), local(-40)),
    ("from between A's first visit and its re-entry", local(-45), None),
    ("from a local midnight entry", local(-20.375), local(0)),
    ("up to a day", None, local(-29)),
    ("a month", date(2026, 1, 1), date(2026, 1, 31)),
    ("the day of a midnight entry", local(0.625), local(0.625)),
    ("the last days", local(15), local(20)),
    ("nothing in it", date(2025, 1, 1), date(2025, 1, 31)),
]


@pytest.mark.parametrize("label,first,last", PERIODS, ids=[p[0] for p in PERIODS])
def test_rollup_funnel_equals_the_live_funnel(session, rich, label, first, last):
    summary = rollups.build_all(session, tz=TZ, now=T0)
    assert "seven_step" in summary.built and summary.skipped is None
    build = rollups.latest(session, "seven_step")
    assert build.built_at == T0 and build.timezone == TZ
    filters = period(first, last)
    live = queries.funnel(session, rich["sup"], filters, now=T0)
    assert_same(live, rollups.funnel(session, build, filters), label)


def test_the_story_has_what_the_rollup_must_get_right(session, rich):
    """The history exercises re-entries, several outcomes per stage and open visits (so
    the comparisons above test the dedupe, not only first visits)."""
    rollups.build_all(session, tz=TZ, now=T0)
    figures = {f.key: f for f in rollups.funnel(session, rollups.latest(session, "seven_step"),
                                                queries.Filters())}
    fc, learn = figures["first_contact"], figures["learn"]
    assert fc.reentered == 3 and learn.reentered == 4
    assert (fc.entered, fc.advanced, fc.lost, fc.current) == (8, 5, 2, 1)
    assert (learn.entered, learn.back, learn.stalled, learn.lost) == (6, 2, 1, 2)
    assert figures["after_sale"].won == 1 and figures["after_sale"].current == 1
    # A period that starts between A's first visit to first contact and its re-entry
    # counts A once, by the re-entry.
    later = rollups.funnel(session, rollups.latest(session, "seven_step"),
                           period(local(-45), None))
    assert {f.key: f for f in later}["first_contact"].entered == 7


def test_rollup_cohorts_equal_the_live_cohorts(session, rich):
    rollups.build_all(session, tz=TZ, now=T0)
    build = rollups.latest(session, "seven_step")
    months = queries.month_starts(date(2025, 11, 1), date(2026, 3, 1))
    live = queries.cohorts(session, rich["sup"], queries.Filters(), months, tz=TZ)
    assert rollups.cohorts(session, build, months) == live
    assert sum(c.started for c in live) == 8 and sum(c.lost_now for c in live) == 4


@pytest.mark.parametrize("seed", [3, 11, 29])
def test_random_histories(session, factory, seed):
    """Bounded random walks through the workflow (advance, back, lose, reopen, win,
    reassignments and escalations, several at one instant): the rollup and the live
    figures agree for random periods."""
    rng = random.Random(seed)
    order = workflows.workflow().stage_keys
    close, last = len(order) - 2, len(order) - 1
    h = History(session)
    owners = [factory.user("manager", "Team A"), factory.user("manager", "Team B")]
    sup = factory.user("supervisor")
    for n in range(25):
        t = rng.uniform(-90, 15)
        i, status, rows, who = 0, "active", [("create", order[0], t)], {}
        escalate = []
        while len(rows) < 14:
            t += rng.choice([0, 0.01, 0.3, 0.625, 1, 2.5, 7, 12])
            if t >= 19.9 or rng.random() < 0.1:
                break
            if status == "lost":
                event = rng.choice(["reopen", "reassign"])
            elif status == "won":
                event = "reassign"
            else:
                event = rng.choice(["advance", "advance", "back", "lose", "reassign"]
                                   + (["win"] * 2 if i == close else []))
            if event == "advance" and i < close:
                i += 1
            elif event == "back" and 0 < i < last:
                i -= 1
            elif event == "win" and i == close:
                i, status = last, "won"
            elif event == "lose":
                status = "lost"
            elif event == "reopen":
                status = "active"
            elif event != "reassign":
                continue
            if event == "reassign":
                who[len(rows) + 1] = owners[rng.randrange(2)]
            rows.append((event, order[i], t, status))
            if status == "active" and rng.random() < 0.2:
                escalate.append((order[i], t))
        p = h.prospect(owners[n % 2], steps(*rows), owners=who, name=f"R{n}")
        for stage, opened in escalate:
            h.escalation(p, stage, opened)
    rollups.build_all(session, tz=TZ, now=T0)
    build = rollups.latest(session, "seven_step")
    for _ in range(8):
        a, b = sorted(rng.uniform(-95, 21) for _ in range(2))
        first = local(a) if rng.random() < 0.8 else None
        last_day = local(b) if rng.random() < 0.8 else None
        filters = period(first, last_day)
        assert_same(queries.funnel(session, sup, filters, now=T0),
                    rollups.funnel(session, build, filters), f"{seed} {first} {last_day}")
    months = queries.month_starts(date(2025, 10, 1), date(2026, 3, 1))
    assert rollups.cohorts(session, build, months) == queries.cohorts(
        session, sup, queries.Filters(), months, tz=TZ)


def test_days_of_a_time_zone_with_summer_time(session, factory):
    """Days in a zone whose offset changes (London, 29 March 2026 at 01:00 UTC): entries
    just before and after the change, and at the local midnights on either side, fall on
    the same days for the rollup as for the live funnel."""
    london = "Europe/London"
    h = History(session)
    m = factory.user("manager", "Team A")
    sup = factory.user("supervisor")
    change = 47  # day(47) is 2026-03-29 01:00 UTC
    h.prospect(m, steps(("create", "first_contact", change - 1 - 1 / 24),  # 28th, 00:00 GMT
                        ("advance", "learn", change - 0.02),  # 00:31 GMT, the 29th
                        ("back", "first_contact", change + 0.02),  # 02:28 BST, the 29th
                        ("advance", "learn", change + 22 / 24)))  # 00:00 BST, the 30th
    h.prospect(m, steps(("create", "first_contact", change - 2 / 24),  # 23:00 GMT, the 28th
                        ("advance", "learn", change + 21.99 / 24),  # 23:59 BST, the 29th
                        ("lose", "learn", change + 2, "lost", "gone")))
    now = day(change + 5)
    clock.set_now(now)
    rollups.build_all(session, tz=london, now=now)
    build = rollups.latest(session, "seven_step")
    assert build.timezone == london

    def in_london(first: date | None, last: date | None) -> queries.Filters:
        return queries.Filters(
            start=queries.local_midnight(first, london) if first else None,
            end=queries.local_midnight(last + timedelta(days=1), london) if last else None)

    for first, last in [(None, None), (date(2026, 3, 28), date(2026, 3, 28)),
                        (date(2026, 3, 29), date(2026, 3, 29)), (date(2026, 3, 30), None),
                        (None, date(2026, 3, 29)), (date(2026, 3, 29), date(2026, 3, 30))]:
        filters = in_london(first, last)
        assert_same(queries.funnel(session, sup, filters, now=now),
                    rollups.funnel(session, build, filters), f"{first} {last}")
    day_29 = {f.key: f for f in rollups.funnel(
        session, build, in_london(date(2026, 3, 29), date(2026, 3, 29)))}
    assert (day_29["learn"].entered, day_29["learn"].reentered) == (2, 0)
    assert (day_29["first_contact"].entered, day_29["first_contact"].reentered) == (1, 0)
    months = queries.month_starts(date(2026, 2, 1), date(2026, 4, 1))
    assert rollups.cohorts(session, build, months) == queries.cohorts(
        session, sup, queries.Filters(), months, tz=london)


def test_a_build_replaces_its_rows(session, rich):
    rollups.build_all(session, tz=TZ, now=T0)
    rollups.build_all(session, tz=TZ, now=T0)
    visits = session.scalar(select(func.count()).select_from(StageVisit))
    assert session.scalar(select(func.sum(rollup_visits.c.visits))) == visits
    # Only the re-entries keep their previous days.
    assert session.scalar(select(func.sum(rollup_reentries.c.n))) == \
        visits - session.scalar(select(func.sum(rollup_visits.c.entered)))
    assert session.scalar(select(func.sum(rollup_cohorts.c.n))) == 8
    assert session.scalar(select(func.count()).select_from(RollupBuild)) == \
        len(workflows.all_engines())


def test_a_build_in_ranges_of_prospects_gives_the_same_rows(session, rich, monkeypatch):
    """The visits' windows run over a range of prospects at a time; the ranges' rows are
    summed, so the rollup is the same as from one range."""
    def rows() -> list[list[str]]:
        return [sorted(repr(tuple(r)) for r in session.execute(select(t)).all())
                for t in (rollup_visits, rollup_reentries)]

    rollups.build_all(session, tz=TZ, now=T0)
    whole = rows()
    monkeypatch.setattr(rollups, "CHUNK", 2)
    rollups.build_all(session, tz=TZ, now=T0)
    assert rows() == whole
    build = rollups.latest(session, "seven_step")
    for label, first, last in PERIODS[:4]:
        filters = period(first, last)
        assert_same(queries.funnel(session, rich["sup"], filters, now=T0),
                    rollups.funnel(session, build, filters), label)


def test_an_unknown_time_zone_is_refused_before_anything_is_written(session, rich):
    with pytest.raises(Exception):  # noqa: B017 - zoneinfo's own error
        rollups.build_all(session, tz="Mars/Olympus", now=T0)
    assert session.scalar(select(func.count()).select_from(RollupBuild)) == 0


# ---------------------------------------------------------------- the page and the API

def entered_on_page(body: str, stage: str) -> int:
    row = re.search(rf'<tr data-stage="{stage}">(.*?)</tr>', body, re.S).group(1)
    return int(re.search(r'data-col="entered">(\d+)<', row).group(1))


def test_page_and_api_read_the_rollup_only_when_fresh_and_branch_wide(
        app, client, session, factory, rich):
    from tests.reports.test_pages import login

    sup, h = rich["sup"], rich["history"]
    auth = {"Authorization": f"Bearer {factory.token(sup)}"}
    login(client, sup)

    def api(query: str = "", headers=auth) -> dict:
        r = client.get(f"/api/v1/funnel{query}", headers=headers)
        assert r.status_code == 200
        return r.get_json()

    def first_contact(answer: dict) -> int:
        return next(s for s in answer["stages"] if s["key"] == "first_contact")["entered"]

    # No rollup yet: live, as of now.
    page = client.get("/reports/funnel").get_data(as_text=True)
    assert 'data-testid="rollup-as-of"' not in page and entered_on_page(page, "first_contact") == 8
    answer = api()
    assert answer["rollup"] is False and first_contact(answer) == 8

    rollups.build_all(session, tz=app.config["PIPELINE_TIMEZONE"], now=T0)
    # A prospect created after the build: the rollup does not have it yet.
    clock.set_now(T0 + timedelta(minutes=5))
    h.prospect(rich["m1"], steps(("create", "first_contact", 20.002)), name="Late")

    page = client.get("/reports/funnel").get_data(as_text=True)
    assert 'data-testid="rollup-as-of"' in page and entered_on_page(page, "first_contact") == 8
    answer = api()
    assert answer["rollup"] is True and first_contact(answer) == 8
    assert answer["as_of"].startswith(T0.isoformat()[:19])
    # Narrowed views are live: a team, a team lead, another time zone.
    answer = api("?team=Team%20A")
    assert answer["rollup"] is False and first_contact(answer) == 6
    page = client.get(f"/reports/funnel?team={rich['m1'].team_id}").get_data(as_text=True)
    assert 'data-testid="rollup-as-of"' not in page
    lead = factory.user("team_lead", "Team A")
    assert api(headers={"Authorization": f"Bearer {factory.token(lead)}"})["rollup"] is False
    sup.timezone = "Europe/London"
    session.flush()
    assert api()["rollup"] is False
    sup.timezone = TZ
    session.flush()
    assert api(f"?from={local(-40).isoformat()}&to={local(0).isoformat()}")["rollup"] is True

    # Older than the maximum age: live again, with the late prospect.
    clock.set_now(T0 + timedelta(minutes=app.config["PIPELINE_ROLLUP_MAX_AGE_MINUTES"] + 1))
    answer = api()
    assert answer["rollup"] is False and first_contact(answer) == 9
    # The next build picks the changed history up.
    rollups.build_all(session, tz=app.config["PIPELINE_TIMEZONE"])
    answer = api()
    assert answer["rollup"] is True and first_contact(answer) == 9
    page = client.get("/reports/funnel").get_data(as_text=True)
    assert entered_on_page(page, "first_contact") == 9


def test_chinese_page_says_where_the_figures_come_from(app, client, session, rich):
    from tests.reports.test_pages import login

    rollups.build_all(session, tz=app.config["PIPELINE_TIMEZONE"], now=T0)
    login(client, rich["sup"], "zh_CN")
    page = client.get("/reports/funnel").get_data(as_text=True)
    assert "本页数据截至" in page


# ---------------------------------------------------------------- the job

def test_command_builds_and_skips_a_fresh_rollup(runner, session, rich):
    result = runner.invoke(args=["reports", "rollup"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert "seven_step" in out["built"] and out["skipped"] is None and out["visits"] > 0
    result = runner.invoke(args=["reports", "rollup", "--if-older-than", "10"])
    assert json.loads(result.output)["skipped"] == "fresh"
    result = runner.invoke(args=["reports", "rollup", "--if-older-than", "0"])
    assert result.exit_code == 2 and "--if-older-than" in result.output


def test_scheduled_runs_build_once_per_interval(app, session, rich):
    # The app gives the scheduler the build on the rollups' own interval.
    assert scheduler.PERIODIC["rollup"] == ("PIPELINE_ROLLUP_MINUTES", rollups.scheduled_build)
    first = rollups.scheduled_build(app)
    assert first["skipped"] is None and "seven_step" in first["built"]
    assert rollups.scheduled_build(app)["skipped"] == "fresh"
    clock.set_now(T0 + timedelta(minutes=app.config["PIPELINE_ROLLUP_MINUTES"]))
    assert rollups.scheduled_build(app)["skipped"] is None


@pytest.mark.postgres_only
def test_two_concurrent_builds_build_once(committed, monkeypatch):
    setup = committed.sessionmaker()
    from tests.factories import Factory

    m = Factory(setup).user("manager", "Team A")
    History(setup).prospect(m, steps(("create", "first_contact", -3),
                                     ("advance", "learn", -1)))
    setup.commit()
    setup.close()
    # The build that takes the lock waits (up to 10 s) until the other run has returned.
    other_done = threading.Event()
    real = rollups._build_one

    def slow_build(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        other_done.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(rollups, "_build_one", slow_build)
    engine = make_engine(committed.url, pool_size=2, max_overflow=0)
    from sqlalchemy.orm import sessionmaker

    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    barrier = threading.Barrier(2, timeout=30)
    results: list[dict] = []

    def run() -> None:
        session = sessions()
        try:
            barrier.wait()
            summary = rollups.build_all(session, tz=TZ, now=T0,
                                        fresh_within=timedelta(minutes=5)).as_dict()
            results.append(summary)
            if summary["skipped"]:
                other_done.set()
        finally:
            session.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    engine.dispose()
    assert sorted(str(r["skipped"]) for r in results) == ["None", "busy"]
    check = committed.sessionmaker()
    try:
        assert check.scalar(select(func.sum(rollup_visits.c.visits))) == 2
        assert check.scalar(select(func.count()).select_from(RollupBuild)) == \
            len(workflows.all_engines())
        # A third run finds the rollup fresh.
        assert rollups.build_all(check, tz=TZ, now=T0, fresh_within=timedelta(minutes=5)) \
            .skipped == "fresh"
    finally:
        check.close()
