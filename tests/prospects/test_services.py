"""Prospect services on SQLite and PostgreSQL: one transaction each, nothing half-done."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from pipeline import clock
from pipeline.errors import Conflict, Forbidden, Invalid, NotFound
from pipeline.escalations.models import Escalation, Notification, OutboxMessage
from pipeline.prospects.models import CadenceTask, Prospect, StageEvent, StageRecord
from pipeline.prospects.services import advance_prospect, create_prospect, save_record
from tests.conftest import T0


def count(session, model, *where) -> int:  # noqa: ANN001
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_create_writes_prospect_history_and_cadence(session, factory):
    owner = factory.user()
    p = create_prospect(session, actor=owner, data={"name": " Wang Fang ", "tier": "diamond",
                                                    "phone": "13800138000"})
    assert (p.name, p.stage, p.status, p.version) == ("Wang Fang", "first_contact", "active", 1)
    assert p.due_at == T0 + timedelta(days=21) and p.team_id == owner.team_id
    history = session.scalars(select(StageEvent).where(StageEvent.prospect_id == p.id)).all()
    assert [(h.event, h.to_stage, h.actor_id) for h in history] == [
        ("create", "first_contact", owner.id)]
    tasks = session.scalars(select(CadenceTask).where(CadenceTask.prospect_id == p.id)
                            .order_by(CadenceTask.due_at)).all()
    assert [(t.key, t.due_at - T0) for t in tasks] == [
        ("institution_sms", timedelta(0)), ("manager_sms", timedelta(hours=24)),
        ("call", timedelta(hours=72))]
    assert tasks[0].assignee_kind == "institution" and tasks[1].assignee_id == owner.id


@pytest.mark.parametrize("data, field", [
    ({"tier": "gold"}, "name"),
    ({"name": "  ", "tier": "gold"}, "name"),
    ({"name": "x", "tier": "silver"}, "tier"),
    ({"name": "x", "tier": "gold", "assets": -5}, "assets"),
    ({"name": "x", "tier": "gold", "phone": 13800138000}, "phone"),
])
def test_create_refuses_bad_input_and_saves_nothing(session, factory, data, field):
    owner = factory.user()
    with pytest.raises(Invalid) as info:
        create_prospect(session, actor=owner, data=data)
    assert field in info.value.details
    assert count(session, Prospect) == 0 and count(session, StageEvent) == 0


def test_owner_rules(session, factory):
    lead = factory.user("team_lead", "Team A")
    mine = factory.user("manager", "Team A")
    other_team = factory.user("manager", "Team B")
    p = create_prospect(session, actor=lead, data={"name": "x", "tier": "gold",
                                                   "owner": mine.email})
    assert p.owner_id == mine.id
    with pytest.raises(Forbidden):
        create_prospect(session, actor=lead, data={"name": "x", "tier": "gold",
                                                    "owner": other_team.email})
    with pytest.raises(Forbidden):
        create_prospect(session, actor=mine, data={"name": "x", "tier": "gold",
                                                    "owner": other_team.email})
    with pytest.raises(Invalid, match="not an active customer manager"):
        create_prospect(session, actor=lead, data={"name": "x", "tier": "gold",
                                                    "owner": lead.email})


def test_capacity_of_250(session, factory, backend):
    owner = factory.user()
    session.add_all([Prospect(name=f"p{i}", tier="gold", owner_id=owner.id, team_id=owner.team_id,
                              stage="learn", status="active", stage_entered_at=T0,
                              clock_started_at=T0) for i in range(250)])
    session.commit()
    with pytest.raises(Invalid) as info:
        create_prospect(session, actor=owner, data={"name": "one more", "tier": "gold"})
    assert info.value.code == "over_capacity"


def test_save_record_partial_merge_and_clear(session, factory):
    owner = factory.user()
    p = factory.prospect(owner)
    r = save_record(session, p.id, "contact_log", actor=owner,
                    data={"institution_sms_at": "2026-03-02T09:00:00+08:00"})
    assert not r.complete and r.completeness == 0.25
    assert r.errors == {"meeting_booked_at": ["contact_log.meeting_booked_at must be set"]}
    r = save_record(session, p.id, "contact_log", actor=owner,
                    data={"meeting_booked_at": "2026-03-05T02:00:00Z", "notes": "called"})
    assert r.complete and r.data["institution_sms_at"] == "2026-03-02T01:00:00+00:00"
    r = save_record(session, p.id, "contact_log", actor=owner, data={"meeting_booked_at": None})
    assert not r.complete and "meeting_booked_at" not in r.data
    row = session.scalars(select(StageRecord).where(StageRecord.prospect_id == p.id)).one()
    assert row.complete is False and row.updated_by_id == owner.id


@pytest.mark.parametrize("data, field", [
    ({"meeting_booked_at": "tomorrow"}, "meeting_booked_at"),
    ({"meeting_booked_at": 5}, "meeting_booked_at"),
    ({"favourite_colour": "red"}, "favourite_colour"),
])
def test_save_record_refuses_bad_fields_and_saves_nothing(session, factory, data, field):
    owner = factory.user()
    p = factory.prospect(owner)
    save_record(session, p.id, "contact_log", actor=owner,
                data={"institution_sms_at": "2026-03-02T01:00:00Z"})
    with pytest.raises(Invalid) as info:
        save_record(session, p.id, "contact_log", actor=owner,
                    data={"call_at": "2026-03-03T01:00:00Z", **data})
    assert field in info.value.details
    row = session.scalars(select(StageRecord).where(StageRecord.prospect_id == p.id)).one()
    assert row.data == {"institution_sms_at": "2026-03-02T01:00:00+00:00"}


@pytest.mark.parametrize("record, data, field", [
    ("decision_maker", {"identified": "yes"}, "identified"),
    ("info_sheet", {"age": "forty"}, "age"),
    ("info_sheet", {"age": 40.5}, "age"),
    ("info_sheet", {"sex": "other"}, "sex"),
    ("needs_sheet", {"needs": "home"}, "needs"),
    ("needs_sheet", {"needs": [1, 2]}, "needs"),
    ("proposals", {"options": ["a", "b", "c", "d"]}, "options"),
    ("proposals", {"chosen": True}, "chosen"),
    ("closing_checklist", {"customer_risk_level": "C9"}, "customer_risk_level"),
    ("closing_checklist", {"signed": 1}, "signed"),
])
def test_wrong_types_per_record(session, factory, record, data, field):
    owner = factory.user()
    p = factory.prospect(owner)
    with pytest.raises(Invalid) as info:
        save_record(session, p.id, record, actor=owner, data=data)
    assert list(info.value.details) == [field]
    assert count(session, StageRecord) == 0


def test_unknown_record_and_prospect(session, factory):
    owner = factory.user()
    p = factory.prospect(owner)
    with pytest.raises(NotFound):
        save_record(session, p.id, "horoscope", actor=owner, data={})
    with pytest.raises(NotFound):
        save_record(session, 999999, "contact_log", actor=owner, data={})
    with pytest.raises(NotFound):
        advance_prospect(session, "abc", "advance", actor=owner)


def test_advance_writes_history_and_new_clock(session, factory):
    owner = factory.user()
    p = factory.prospect(owner)
    factory.complete(p, "first_contact", owner)
    clock.set_now(T0 + timedelta(days=3))
    p = advance_prospect(session, p.id, "advance", actor=owner, version=1)
    assert (p.stage, p.version, p.clock_no) == ("learn", 2, 2)
    assert p.stage_entered_at == T0 + timedelta(days=3)
    assert p.due_at == T0 + timedelta(days=24)
    rows = session.scalars(select(StageEvent).where(StageEvent.prospect_id == p.id)
                           .order_by(StageEvent.seq)).all()
    assert [(r.seq, r.event, r.from_stage, r.to_stage) for r in rows] == [
        (1, "create", None, "first_contact"), (2, "advance", "first_contact", "learn")]


def test_refused_advance_changes_nothing(session, factory):
    owner = factory.user()
    p = factory.prospect(owner)
    with pytest.raises(Invalid) as info:
        advance_prospect(session, p.id, "advance", actor=owner)
    assert info.value.code == "transition_refused"
    assert info.value.details["missing"][0]["field"] == "meeting_booked_at"
    session.expire_all()
    p = session.get(Prospect, p.id)
    assert (p.stage, p.version) == ("first_contact", 1)
    assert count(session, StageEvent) == 1


def test_stale_version_is_refused(session, factory):
    owner = factory.user()
    p = factory.prospect(owner)
    factory.complete(p, "first_contact", owner)
    with pytest.raises(Conflict) as info:
        advance_prospect(session, p.id, "advance", actor=owner, version=7)
    assert info.value.details == {"current_version": 1}
    assert session.get(Prospect, p.id).stage == "first_contact"


def test_lost_needs_reason_in_the_database_too(session, factory):
    from sqlalchemy.exc import IntegrityError

    owner = factory.user()
    p = factory.prospect(owner)
    p.status = "lost"
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_history_rows_are_immutable(session, factory):
    p = factory.prospect()
    row = session.scalars(select(StageEvent).where(StageEvent.prospect_id == p.id)).first()
    row.reason = "rewritten"
    with pytest.raises(ValueError, match="immutable"):
        session.flush()
    session.rollback()


def test_contact_log_marks_cadence_done_and_retimes_the_call(session, factory):
    owner = factory.user()
    p = factory.prospect(owner)
    save_record(session, p.id, "contact_log", actor=owner,
                data={"institution_sms_at": "2026-03-02T01:00:00Z",
                      "manager_sms_at": "2026-03-04T01:00:00Z"})
    tasks = {t.key: t for t in session.scalars(select(CadenceTask)
                                               .where(CadenceTask.prospect_id == p.id))}
    assert tasks["institution_sms"].done_at is not None
    assert tasks["manager_sms"].done_by_id == owner.id
    assert tasks["call"].done_at is None
    assert tasks["call"].due_at == clock.parse("2026-03-06T01:00:00Z")  # 48 h after the SMS


def test_no_meeting_opens_one_escalation_and_a_lead_call(session, factory):
    lead = factory.user("team_lead", "Team A")
    owner = factory.user("manager", "Team A")
    p = factory.prospect(owner)
    with pytest.raises(Invalid) as info:
        advance_prospect(session, p.id, "no_meeting", actor=owner)
    assert {m["field"] for m in info.value.details["missing"]} == {
        "institution_sms_at", "manager_sms_at", "call_at"}
    save_record(session, p.id, "contact_log", actor=owner, data={
        "institution_sms_at": "2026-03-02T01:00:00Z", "manager_sms_at": "2026-03-03T01:00:00Z",
        "call_at": "2026-03-05T01:00:00Z"})
    advance_prospect(session, p.id, "no_meeting", actor=owner, reason="no answer")
    advance_prospect(session, p.id, "no_meeting", actor=owner, reason="still nothing")
    escalations = session.scalars(select(Escalation)).all()
    assert [(e.kind, e.level, e.status, e.team_id) for e in escalations] == [
        ("no_meeting", 1, "open", owner.team_id)]
    call = session.scalars(select(CadenceTask).where(CadenceTask.key == "lead_call")).one()
    assert call.assignee_id == lead.id and call.due_at == T0 + timedelta(days=2)
    assert count(session, Notification, Notification.user_id == lead.id) == 1
    assert count(session, OutboxMessage, OutboxMessage.recipient == lead.email) == 1
    assert session.get(Prospect, p.id).stage == "first_contact"


def test_reopen_with_new_owner(session, factory):
    lead = factory.user("team_lead", "Team A")
    first = factory.user("manager", "Team A")
    second = factory.user("manager", "Team A")
    p = factory.prospect(first, "needs")
    advance_prospect(session, p.id, "lose", actor=first, reason="no budget")
    with pytest.raises(Conflict):
        save_record(session, p.id, "needs_sheet", actor=first, data={"life_stage": "x"})
    with pytest.raises(Forbidden):
        advance_prospect(session, p.id, "reopen", actor=first, reason="back",
                         new_owner=second.email)
    p = advance_prospect(session, p.id, "reopen", actor=lead, reason="budget found",
                         new_owner=second.email)
    assert (p.stage, p.status, p.owner_id, p.lost_reason) == (
        "first_contact", "active", second.id, None)
    tasks = session.scalars(select(CadenceTask).where(CadenceTask.prospect_id == p.id,
                                                      CadenceTask.clock_no == p.clock_no)).all()
    assert len(tasks) == 3 and {t.assignee_id for t in tasks} == {None, second.id}
    # The new owner went to the database, and nothing is left pending on the instance.
    assert not session.dirty
    session.expire(p)
    assert (p.owner_id, p.team_id) == (second.id, second.team_id)


def test_an_event_updates_just_the_columns_it_changes(session, factory):
    from sqlalchemy import event

    owner = factory.user()
    p = factory.prospect(owner, "learn")
    factory.complete(p, "learn", owner)
    version = p.version
    sent: list[str] = []
    engine = session.connection().engine
    listen = lambda _c, _cur, statement, *_a: sent.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    try:
        moved = advance_prospect(session, p.id, "advance", actor=owner)
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    # On PostgreSQL the UPDATE is the first part of one statement with the history row.
    (update,) = [s for s in sent if "UPDATE prospects SET " in s]
    assigned = update.split("UPDATE prospects SET ", 1)[1].split(" WHERE ", 1)[0]
    assert "stage=" in assigned and "clock_no=" in assigned and "version=" in assigned
    assert "owner_id=" not in assigned and "status=" not in assigned  # unchanged
    assert (moved.stage, moved.version) == ("decision_maker", version + 1)
    session.expire(moved)
    assert (moved.stage, moved.version, moved.status) == ("decision_maker", version + 1,
                                                          "active")


def test_managers_cannot_touch_other_prospects(session, factory):
    a = factory.user("manager", "Team A")
    b = factory.user("manager", "Team A")
    p = factory.prospect(a)
    with pytest.raises(NotFound):
        advance_prospect(session, p.id, "pause", actor=b, reason="x")
    with pytest.raises(NotFound):
        save_record(session, p.id, "contact_log", actor=b, data={})
    assert session.get(Prospect, p.id).status == "active"


def test_advancing_closes_the_stall_of_the_visit_it_leaves(session, factory):
    factory.user("team_lead", "Team A")
    owner = factory.user("manager", "Team A")
    p = factory.prospect(owner)
    save_record(session, p.id, "contact_log", actor=owner, data={
        "institution_sms_at": "2026-03-02T01:00:00Z", "manager_sms_at": "2026-03-03T01:00:00Z",
        "call_at": "2026-03-05T01:00:00Z"})
    advance_prospect(session, p.id, "no_meeting", actor=owner, reason="no answer")
    factory.complete(p, "first_contact", owner)
    advance_prospect(session, p.id, "advance", actor=owner)
    escalation = session.scalars(select(Escalation)).one()
    assert (escalation.status, escalation.decision) == ("resolved", "continue")
    assert escalation.decided_by_id is None and escalation.decided_at == T0
