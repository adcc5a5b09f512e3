"""The complaint funnel, report and root-cause list against a history built by hand, on
SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

import pytest

from pipeline import clock
from tests.complaints.conftest import RECORDS, STEPS
from tests.conftest import T0

DAY = timedelta(days=1)


def walk(api, cid: int, start, every: timedelta, steps=STEPS, **data) -> None:  # noqa: ANN001
    """Each step's record then its event, ``every`` apart from ``start``."""
    for i, step in enumerate(steps):
        clock.set_now(start + every * (i + 1))
        key, record = RECORDS[step]
        assert api.put(f"/api/v1/complaints/{cid}/records/{key}",
                       {**record, **data.get(step, {})}).status_code == 200
        event = "win" if step == "follow_up" else "advance"
        r = api.post(f"/api/v1/complaints/{cid}/events", {"event": event})
        assert r.status_code == 200, r.json


@pytest.fixture
def history(api_for, factory):
    """A: received day 0, one step a day, settled day 7 (by counter, cause system, fees).
    B: received day 1, a step every 2.5 days, extended by the lead on day 12, settled day
    18.5 (17.5 days: late; by phone, cause system, fees). C: received day 2 by another
    manager, still at the first step (service)."""
    m1, m2 = factory.user("manager", "Team A"), factory.user("manager", "Team A")
    lead = factory.user("team_lead", "Team A")
    supervisor = factory.user("supervisor")
    one, two = factory.prospect(m1, name="Li Lei"), factory.prospect(m2, name="Han Mei")
    a1, a2, al = api_for(m1), api_for(m2), api_for(lead)

    def file(api, customer, at, category):  # noqa: ANN001, ANN202
        r = api.post("/api/v1/complaints", {"customer_id": customer.id, "summary": "x",
                                            "category": category, "received_at": at.isoformat()})
        assert r.status_code == 201, r.json
        return r.json["id"]

    clock.set_now(T0 + 2 * DAY)
    a = file(a1, one, T0, "fees")
    b = file(a1, one, T0 + DAY, "fees")
    c = file(a2, two, T0 + 2 * DAY, "service")
    walk(a1, a, T0, DAY)
    walk(a1, b, T0 + DAY, timedelta(days=2.5), steps=STEPS[:4],
         receive={"received_via": "phone"})
    clock.set_now(T0 + 12 * DAY)
    assert al.post(f"/api/v1/complaints/{b}/events",
                   {"event": "extend", "reason": "needs the product team"}).status_code == 200
    walk(a1, b, T0 + DAY + 4 * timedelta(days=2.5), timedelta(days=2.5), steps=STEPS[4:])
    clock.set_now(T0 + 30 * DAY)
    return {"api": api_for(supervisor), "lead": al, "m1": m1, "m2": m2, "lead_user": lead,
            "ids": (a, b, c)}


def test_the_complaint_funnel_matches_the_history(history):
    r = history["api"].get("/api/v1/funnel?workflow=complaint")
    assert r.status_code == 200, r.json
    assert r.json["workflow"] == "complaint"
    stages = {s["key"]: s for s in r.json["stages"]}
    assert list(stages) == [*STEPS, "case_closed"]
    first = stages["receive"]
    assert (first["entered"], first["advanced"], first["current"]) == (3, 2, 1)
    # A 1 day, B 2.5 days, C 28 days so far.
    assert first["median_days"] == 2.5
    for step in STEPS[1:]:
        s = stages[step]
        assert (s["entered"], s["advanced"], s["current"]) == (2, 2, 0), step
        assert s["median_days"] == 1.75, step
    assert (stages["case_closed"]["entered"], stages["case_closed"]["current"]) == (2, 2)
    # The customer funnel counts none of it.
    customer = history["api"].get("/api/v1/funnel").json["stages"]
    assert customer[0]["entered"] == 2 and all(s["key"] not in STEPS for s in customer)


def test_the_report_by_category_cause_channel_and_manager(history):
    api = history["api"]
    by_category = api.get("/api/v1/complaints/report?by=category").json
    assert by_category["limit_days"] == 15
    assert by_category["total"] == {
        "group": None, "received": 3, "settled": 2, "settled_in_time": 1,
        "settled_in_time_pct": 33.3, "extended": 1, "median_days_to_settle": 12.25}
    groups = {g["group"]: g for g in by_category["groups"]}
    assert groups["fees"] == {"group": "fees", "received": 2, "settled": 2,
                              "settled_in_time": 1, "settled_in_time_pct": 50.0,
                              "extended": 1, "median_days_to_settle": 12.25}
    assert groups["service"]["settled"] == 0 and groups["service"]["settled_in_time_pct"] == 0
    assert groups["service"]["median_days_to_settle"] is None
    channels = {g["group"]: (g["received"], g["settled_in_time"]) for g in
                api.get("/api/v1/complaints/report?by=channel").json["groups"]}
    assert channels == {"counter": (1, 1), "phone": (1, 0), None: (1, 0)}
    causes = {g["group"]: g["received"] for g in
              api.get("/api/v1/complaints/report?by=cause").json["groups"]}
    assert causes == {"system": 2, None: 1}
    managers = {g["group"]: g["median_days_to_settle"] for g in
                api.get("/api/v1/complaints/report?by=manager").json["groups"]}
    assert managers == {history["m1"].email: 12.25, history["m2"].email: None}
    # A period: only B is received on day 1.
    day1 = (T0 + DAY).astimezone(clock.UTC).date().isoformat()
    r = api.get(f"/api/v1/complaints/report?from={day1}&to={day1}").json
    assert r["total"]["received"] == 1 and r["total"]["extended"] == 1
    bad = api.get("/api/v1/complaints/report?by=colour")
    assert bad.status_code == 422 and "by" in bad.json["error"]["details"]


def test_the_root_cause_list_with_an_action_and_an_owner(history):
    lead = history["lead"]
    empty = lead.get("/api/v1/complaints/causes").json["items"]
    assert [(i["cause"], i["complaints"], i["actions"]) for i in empty] == [("system", 2, [])]
    r = lead.post("/api/v1/complaints/causes", {"cause": "system", "owner":
                                                history["lead_user"].email,
                                                "action": "Check orders after each release"})
    assert r.status_code == 201, r.json
    bad = lead.post("/api/v1/complaints/causes", {"cause": "weather", "owner":
                                                  history["lead_user"].email, "action": "x"})
    assert bad.status_code == 422 and "cause" in bad.json["error"]["details"]
    [item] = lead.get("/api/v1/complaints/causes").json["items"]
    assert [(a["action"], a["owner"]) for a in item["actions"]] == [
        ("Check orders after each release", history["lead_user"].email)]


def test_the_report_page_reads_the_complaints_once_for_every_grouping(history, session):
    from sqlalchemy import select

    from pipeline.auth.models import User
    from pipeline.complaints import reports

    boss = session.scalars(select(User).where(User.role == "supervisor")).one()
    tables = reports.tables(session, boss)
    assert list(tables) == list(reports.GROUPS)
    for by, table in tables.items():
        alone = reports.report(session, boss, by=by)
        assert {k: v for k, v in table.items() if k != "as_of"} == {
            k: v for k, v in alone.items() if k != "as_of"}
    assert tables["cause"]["total"]["received"] == 3
    assert {g["group"] for g in tables["channel"]["groups"]} == {"counter", "phone", None}
