"""The demo data: a timeline played in memory gives the rows the services give."""
from __future__ import annotations

import json
from datetime import date, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import aliased

from pipeline import clock, workflows
from pipeline.demo import Timeline, insert_timelines
from pipeline.prospects.models import (
    CadenceTask,
    Contact,
    Prospect,
    StageEvent,
    StageRecord,
)
from pipeline.prospects.schemas import CreateProspect
from pipeline.prospects.services import (
    advance_prospect,
    create_prospect,
    log_contact,
    save_record,
)
from pipeline.validation import load
from tests.factories import INFO_70

PROSPECT_FIELDS = ("stage", "status", "stage_entered_at", "clock_started_at", "due_at",
                   "warn_at", "paused_at", "paused_seconds", "clock_no", "lost_reason",
                   "name", "tier", "owner_id", "team_id", "phone", "id_number", "version",
                   "created_at", "updated_at", "workflow_key", "customer_no", "birthday",
                   "potential", "assets")


def _script(t0):
    h = lambda n: t0 + timedelta(hours=n)
    return [
        (h(2), "save", "contact_log", {"institution_sms_at": h(0).isoformat(),
                                       "manager_sms_at": h(20).isoformat()}),
        (h(30), "contact", "call", "no_answer"),
        (h(75), "save", "contact_log", {"call_at": h(70).isoformat(),
                                        "meeting_booked_at": h(90).isoformat()}),
        (h(76), "fire", "pause", "customer annoyed"),
        (h(150), "fire", "resume", None),
        (h(160), "fire", "advance", None),
        (h(170), "save", "info_sheet", INFO_70),
        (h(180), "fire", "advance", None),
        (h(190), "fire", "back", "  wrong person  "),
        (h(200), "save", "decision_maker", {"identified": True, "name": "Wang", "met": False}),
        (h(210), "fire", "lose", "bought elsewhere"),
        (h(400), "fire", "reopen", "back in touch"),
        (h(401), "save", "contact_log", {"institution_sms_at": h(401).isoformat()}),
    ]


def _rows(session, pid):
    p = session.get(Prospect, pid)
    prospect = {f: getattr(p, f) for f in PROSPECT_FIELDS}
    events = [{k: getattr(e, k) for k in ("seq", "event", "from_stage", "to_stage",
                                          "from_status", "to_status", "actor_id", "owner_id",
                                          "team_id", "at", "reason", "data")}
              for e in session.scalars(select(StageEvent).where(StageEvent.prospect_id == pid)
                                       .order_by(StageEvent.seq))]
    records = {r.record_key: (r.data, r.completeness, r.complete, r.updated_at,
                              r.updated_by_id)
               for r in session.scalars(select(StageRecord)
                                        .where(StageRecord.prospect_id == pid))}
    tasks = sorted((t.key, t.clock_no, t.assignee_kind, t.assignee_id, t.due_at, t.done_at,
                    t.done_by_id) for t in session.scalars(
        select(CadenceTask).where(CadenceTask.prospect_id == pid)))
    contacts = sorted((c.kind, c.outcome, c.at, c.user_id) for c in session.scalars(
        select(Contact).where(Contact.prospect_id == pid)))
    return prospect, events, records, tasks, contacts


def test_timeline_rows_equal_the_services_rows(factory, session):
    owner = factory.user("manager", "Team A")
    t0 = clock.now()
    data = {"name": "Zhao Min", "tier": "platinum", "phone": "13912345678",
            "id_number": "110101199001011237", "customer_no": "CN0000000042",
            "potential": "high", "assets": 300_000.0}
    via_services = create_prospect(session, actor=owner, data=data)
    for at, kind, a, b in _script(t0):
        with clock.travel(at):
            if kind == "save":
                save_record(session, via_services.id, a, actor=owner, data=b)
            elif kind == "contact":
                log_contact(session, via_services.id, actor=owner,
                            data={"kind": a, "outcome": b, "at": at})
            else:
                advance_prospect(session, via_services.id, a, actor=owner, reason=b)

    expected = _rows(session, via_services.id)
    # One customer, one prospect: the copy may hold the same numbers only once the services'
    # prospect no longer does.
    session.execute(update(Prospect).where(Prospect.id == via_services.id)
                    .values(customer_no=None, id_number=None))
    session.commit()
    timeline = Timeline(workflows.engine(), owner, name=data["name"], tier=data["tier"],
                        start=t0, phone=data["phone"], id_number=data["id_number"],
                        customer_no=data["customer_no"], potential=data["potential"],
                        assets=data["assets"], birthday=date(1990, 1, 1))
    for at, kind, a, b in _script(t0):
        if kind == "save":
            timeline.save(a, b, at)
        elif kind == "contact":
            timeline.contact(a, at, b)
        else:
            timeline.fire(a, at, b)
    [pid] = insert_timelines(session, [timeline])
    session.commit()
    session.expire_all()

    got = _rows(session, pid)
    assert got[0] == expected[0]  # prospect: state, clock, version
    assert got[1] == expected[1]  # history
    assert got[2] == expected[2]  # records
    assert got[3] == expected[3]  # cadence tasks of both visits
    assert got[4] == expected[4]  # contacts
    assert expected[0]["status"] == "active" and expected[0]["clock_no"] >= 5


def test_seed_demo_spreads_prospects(runner, session):
    r = runner.invoke(args=["pipeline", "seed-demo", "--prospects", "300"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output.strip().splitlines()[-1])
    assert summary["created"] is True
    assert set(summary["by_stage"]) == set(workflows.workflow().stage_keys)
    assert sum(summary["by_stage"].values()) == 300
    for key in ("paused", "lost", "won", "overdue"):
        assert 0 < summary[key] < 150, key
    total = session.scalar(select(func.count()).select_from(Prospect))
    assert total == 300
    now = clock.now()
    overdue = session.scalar(select(func.count()).select_from(Prospect).where(
        Prospect.status == "active", Prospect.due_at < now))
    assert overdue == summary["overdue"]
    oldest = session.scalar(select(func.min(Prospect.created_at)))
    assert now - oldest > timedelta(days=60)  # spread over the last months
    # Every prospect's history ends in its current stage.
    later = aliased(StageEvent)
    mismatched = session.scalar(
        select(func.count()).select_from(Prospect).join(
            StageEvent, StageEvent.prospect_id == Prospect.id).where(
            StageEvent.seq == select(func.max(later.seq)).where(
                later.prospect_id == Prospect.id).scalar_subquery(),
            StageEvent.to_stage != Prospect.stage))
    assert mismatched == 0
    assert session.scalar(select(func.count()).select_from(Contact)) > 300
    # Every customer passes the create form's checks, and is one customer.
    people = session.execute(select(Prospect.name, Prospect.tier, Prospect.customer_no,
                                    Prospect.id_number, Prospect.phone, Prospect.birthday,
                                    Prospect.potential, Prospect.assets)).all()
    for p in people:
        assert load(CreateProspect, p._asdict()) == {**p._asdict(), "owner": None,
                                                      "workflow": None}
    assert len({p.id_number for p in people}) == len({p.customer_no for p in people}) == 300
