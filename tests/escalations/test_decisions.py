"""Decisions on escalations: the service and the API, on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from pipeline import clock
from pipeline.auth.models import AuditEntry
from pipeline.errors import Conflict, Forbidden, Invalid, NotFound
from pipeline.escalations.models import (
    Escalation,
    Handover,
    Notification,
    OutboxMessage,
)
from pipeline.escalations.services import decide_escalation, sweep_due
from pipeline.notifications.services import shown
from pipeline.prospects.models import CadenceTask, Prospect, StageEvent
from tests.conftest import T0

OVERDUE = T0 + timedelta(days=21, seconds=1)


@pytest.fixture
def setup(session, factory):
    """A team with a lead and two managers, a supervisor, another team, and one
    overdue first-contact prospect with its open escalation."""
    lead = factory.user("team_lead", "Team A")
    owner = factory.user("manager", "Team A", email="owner@bank.test")
    other = factory.user("manager", "Team A", email="other@bank.test")
    supervisor = factory.user("supervisor")
    stranger_lead = factory.user("team_lead", "Team B")
    stranger = factory.user("manager", "Team B")
    p = factory.prospect(owner, name="Wang Fang")
    clock.set_now(OVERDUE)
    sweep_due(session, OVERDUE)
    esc = session.scalars(select(Escalation)).one()
    clock.set_now(OVERDUE + timedelta(hours=2))
    return locals()


def history(session, prospect_id) -> list[StageEvent]:
    return list(session.scalars(select(StageEvent).where(StageEvent.prospect_id == prospect_id)
                                .order_by(StageEvent.seq)))


def test_continue_gives_seven_days_from_the_decision(session, setup):
    s = setup
    now = clock.now()
    decide_escalation(session, s["esc"].id, actor=s["lead"], decision="continue",
                      note="customer travelling")
    p = session.get(Prospect, s["p"].id)
    assert p.due_at == now + timedelta(days=7) and p.clock_no == s["esc"].clock_no + 1
    esc = session.get(Escalation, s["esc"].id)
    assert (esc.status, esc.decision, esc.decided_by_id, esc.note) == (
        "resolved", "continue", s["lead"].id, "customer travelling")
    last = history(session, p.id)[-1]
    assert (last.event, last.actor_id, last.reason) == (
        "decision_continue", s["lead"].id, "customer travelling")
    assert last.data["escalation_id"] == esc.id
    audit = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "escalation_decision")).one()
    assert audit.target_id == esc.id and audit.actor_id == s["lead"].id
    # The new due date escalates again, once, when it passes.
    assert sweep_due(session, now + timedelta(days=7)).escalated == 0
    assert sweep_due(session, now + timedelta(days=7, seconds=1)).escalated == 1


def test_continue_with_other_days(session, setup):
    s = setup
    now = clock.now()
    decide_escalation(session, s["esc"].id, actor=s["supervisor"], decision="continue",
                      extend_days=3)
    assert session.get(Prospect, s["p"].id).due_at == now + timedelta(days=3)


def test_reassign_hands_over_and_restarts_the_clock(session, setup):
    s = setup
    now = clock.now()
    decide_escalation(session, s["esc"].id, actor=s["lead"], decision="reassign",
                      new_owner=s["other"].email, note="fresh eyes")
    p = session.get(Prospect, s["p"].id)
    assert p.owner_id == s["other"].id and p.team_id == s["other"].team_id
    assert p.stage == "first_contact" and p.clock_started_at == now
    assert p.due_at == now + timedelta(days=21)
    handover = session.scalars(select(Handover)).one()
    assert (handover.from_user_id, handover.to_user_id, handover.escalation_id,
            handover.actor_id) == (s["owner"].id, s["other"].id, s["esc"].id, s["lead"].id)
    last = history(session, p.id)[-1]
    assert last.event == "reassign" and last.owner_id == s["other"].id
    assert last.data["from_owner_id"] == s["owner"].id
    new_note = session.scalars(select(Notification).where(
        Notification.user_id == s["other"].id, Notification.kind == "handover")).one()
    # The seed's handover letter, in the new manager's language (zh_CN by default).
    assert "Wang Fang" in new_note.body and s["other"].name in new_note.body
    assert s["owner"].name in new_note.body
    assert session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == s["owner"].id, Notification.kind == "handover")) == 1
    mail = session.scalars(select(OutboxMessage).where(
        OutboxMessage.recipient == s["other"].email)).one()
    # The e-mail is written in the app's default language (the manager chose none); the
    # inbox row keeps the letter as messages and shows it in its reader's language.
    assert mail.body == shown(new_note, None).body and "Wang Fang" in mail.body
    assert "Dear Wang Fang," in shown(new_note, "en").body
    open_tasks = session.scalars(select(CadenceTask).where(
        CadenceTask.prospect_id == p.id, CadenceTask.done_at.is_(None),
        CadenceTask.assignee_kind == "owner")).all()
    assert open_tasks and {t.assignee_id for t in open_tasks} == {s["other"].id}
    assert session.get(Escalation, s["esc"].id).new_owner_id == s["other"].id


@pytest.mark.parametrize("who, error", [("stranger", Invalid), ("owner", Invalid),
                                        ("lead", Invalid), (None, Invalid)])
def test_reassign_only_to_another_manager_of_the_team(session, setup, who, error):
    s = setup
    target = s[who].email if who else None
    with pytest.raises(error) as info:
        decide_escalation(session, s["esc"].id, actor=s["lead"], decision="reassign",
                          new_owner=target)
    assert "new_owner" in info.value.details
    assert session.get(Escalation, s["esc"].id).status == "open"
    assert session.get(Prospect, s["p"].id).owner_id == s["owner"].id


def test_reassign_respects_the_cap(session, setup):
    s = setup
    other = s["other"]
    session.add_all([Prospect(name=f"p{i}", tier="gold", owner_id=other.id,
                              team_id=other.team_id, stage="learn", status="active",
                              stage_entered_at=T0, clock_started_at=T0) for i in range(250)])
    session.commit()
    with pytest.raises(Invalid) as info:
        decide_escalation(session, s["esc"].id, actor=s["lead"], decision="reassign",
                          new_owner=s["other"].id)
    assert info.value.code == "over_capacity"
    assert session.scalar(select(func.count()).select_from(Handover)) == 0


def test_abandon_loses_the_prospect_with_the_reason(session, setup):
    s = setup
    with pytest.raises(Invalid) as info:
        decide_escalation(session, s["esc"].id, actor=s["lead"], decision="abandon")
    assert "note" in info.value.details
    decide_escalation(session, s["esc"].id, actor=s["lead"], decision="abandon",
                      note="moved abroad")
    p = session.get(Prospect, s["p"].id)
    assert (p.status, p.lost_reason) == ("lost", "moved abroad")
    last = history(session, p.id)[-1]
    assert (last.event, last.to_status, last.reason) == ("lose", "lost", "moved abroad")


def test_who_may_decide(session, setup):
    s = setup
    with pytest.raises(Forbidden):  # sees it (their prospect) but may not decide
        decide_escalation(session, s["esc"].id, actor=s["owner"], decision="continue")
    for outsider in (s["stranger_lead"], s["stranger"], s["other"]):
        with pytest.raises(NotFound):
            decide_escalation(session, s["esc"].id, actor=outsider, decision="continue")
    with pytest.raises(NotFound):
        decide_escalation(session, 999999, actor=s["lead"], decision="continue")
    decide_escalation(session, s["esc"].id, actor=s["lead"], decision="continue")
    with pytest.raises(Conflict):
        decide_escalation(session, s["esc"].id, actor=s["supervisor"], decision="continue")


def test_level_2_is_decided_by_the_lead_or_the_supervisor(session, setup):
    s = setup
    sweep_due(session, OVERDUE + timedelta(days=2, seconds=1))
    esc = session.get(Escalation, s["esc"].id)
    assert esc.level == 2
    decide_escalation(session, esc.id, actor=s["supervisor"], decision="continue")
    assert session.get(Escalation, esc.id).status == "resolved"


def test_bad_input_changes_nothing(session, setup):
    s = setup
    version = session.get(Prospect, s["p"].id).version
    for kwargs in ({"decision": "maybe"}, {"decision": "continue", "extend_days": 0},
                   {"decision": "continue", "extend_days": "soon"}):
        with pytest.raises(Invalid):
            decide_escalation(session, s["esc"].id, actor=s["lead"], **kwargs)
    assert session.get(Prospect, s["p"].id).version == version
    assert session.get(Escalation, s["esc"].id).status == "open"


# ---------------------------------------------------------------- API

def post(client, token, escalation_id, body):
    return client.post(f"/api/v1/escalations/{escalation_id}/decision", json=body,
                       headers={"Authorization": f"Bearer {token}"})


def test_api_decision_200(client, factory, setup, session):
    s = setup
    token = factory.token(s["lead"])
    r = post(client, token, s["esc"].id, {"decision": "reassign",
                                          "new_owner": s["other"].email, "note": "help"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "resolved" and body["decision"] == "reassign"
    assert body["prospect"]["owner"] == s["other"].email
    listed = client.get("/api/v1/escalations?status=resolved",
                        headers={"Authorization": f"Bearer {token}"}).get_json()
    assert [e["id"] for e in listed["items"]] == [s["esc"].id]


def test_api_decision_errors(client, factory, setup, session):
    s = setup
    owner_token = factory.token(s["owner"])
    assert post(client, owner_token, s["esc"].id, {"decision": "continue"}).status_code == 403
    r = post(client, factory.token(s["stranger_lead"]), s["esc"].id, {"decision": "continue"})
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
    lead_token = factory.token(s["lead"])
    r = post(client, lead_token, s["esc"].id, {"decision": "later"})
    assert r.status_code == 422 and "decision" in r.get_json()["error"]["details"]
    r = post(client, lead_token, s["esc"].id, {"decision": "abandon"})
    assert r.status_code == 422 and "note" in r.get_json()["error"]["details"]
    r = post(client, lead_token, s["esc"].id, {"decision": "continue", "extend_days": 500})
    assert r.status_code == 422
    assert session.get(Escalation, s["esc"].id).status == "open"
    assert post(client, lead_token, s["esc"].id, {"decision": "continue"}).status_code == 200
    r = post(client, lead_token, s["esc"].id, {"decision": "continue"})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "already_decided"


def test_after_sale_customer_cannot_be_abandoned(session, factory):
    lead = factory.user("team_lead", "Team A")
    owner = factory.user("manager", "Team A")
    p = factory.prospect(owner, stage="after_sale", tier="diamond")
    sweep_due(session, clock.parse("2026-04-30T16:00:01Z"))  # April is judged
    esc = session.scalars(select(Escalation).where(Escalation.prospect_id == p.id)).one()
    assert esc.kind == "contact_overdue"
    with pytest.raises(Invalid):
        decide_escalation(session, esc.id, actor=lead, decision="abandon", note="gone")
    decide_escalation(session, esc.id, actor=lead, decision="continue", note="visit booked")
    p = session.get(Prospect, p.id)
    assert p.status == "won"
    assert history(session, p.id)[-1].event == "decision_continue"
