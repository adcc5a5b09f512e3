"""Writes on escalations."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.auth.models import User
from pipeline.engine.machine import Engine
from pipeline.escalations.models import Escalation
from pipeline.notifications import notify, supervisors, team_lead_of
from pipeline.prospects.models import CadenceTask, Prospect


def stage_dedupe_key(prospect: Prospect) -> str:
    """One stage escalation per prospect and stage visit (clock)."""
    return f"stage:{prospect.id}:{prospect.clock_no}"


def open_no_meeting(session: Session, prospect: Prospect, engine: Engine, *, now: datetime,
                    actor: User | None, reason: str | None) -> Escalation | None:
    """First contact ended without a meeting: a level-1 escalation to the team lead at once,
    and a task for the lead to phone the customer a few days later. Part of the caller's
    transaction; returns None when this stage visit already has its escalation."""
    key = stage_dedupe_key(prospect)
    if session.scalar(select(Escalation.id).where(Escalation.dedupe_key == key)):
        return None
    escalation = Escalation(
        prospect_id=prospect.id, kind="no_meeting", level=1, status="open",
        stage=prospect.stage, clock_no=prospect.clock_no, dedupe_key=key,
        team_id=prospect.team_id, owner_id=prospect.owner_id, due_at=prospect.due_at,
        opened_at=now, reason=reason or "first contact ended without a meeting")
    session.add(escalation)
    lead = team_lead_of(session, prospect.team_id)
    days = engine.workflow.escalation.lead_call_after_days
    session.add(CadenceTask(
        prospect_id=prospect.id, key="lead_call", assignee_kind="team_lead",
        assignee_id=lead.id if lead else None, clock_no=prospect.clock_no,
        due_at=now + timedelta(days=days)))
    for person in [lead] if lead else supervisors(session):
        notify(session, person, "escalation",
               f"No meeting booked with {prospect.name}: please decide and call the customer",
               prospect_id=prospect.id, dedupe_key=f"esc:{key}:1")
    session.flush()
    return escalation
