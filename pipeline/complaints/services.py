"""Writes on complaints. Each public function is one unit of work: it commits what it did,
or rolls everything back and raises a :class:`pipeline.errors.ServiceError`.

A complaint's state changes go through the one event path like a prospect's: the engine
of the complaint workflow answers with an outcome, :func:`pipeline.prospects.events.apply`
writes it. Records and events are the prospect services' own, once the case is known to
be a complaint the actor may see.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline import clock, workflows
from pipeline.auth.models import Team, User
from pipeline.auth.services import audit
from pipeline.complaints.models import CauseAction, Complaint
from pipeline.complaints.schemas import (
    AssignComplaint,
    CauseActionInput,
    ComplaintEvent,
    FileComplaint,
)
from pipeline.db import unit_of_work
from pipeline.errors import Forbidden, Invalid, NotFound, parse_id
from pipeline.prospects import queries
from pipeline.prospects import services as prospect_services
from pipeline.prospects.events import apply, apply_state, state_of
from pipeline.prospects.models import Prospect
from pipeline.validation import Message, load

# The complaint workflow's key (API.md, "Complaints"); its steps are the workflow file's.
WORKFLOW_KEY = "complaint"
LEADS = ("team_lead", "supervisor", "admin")
NOT_A_CUSTOMER = "Not a customer of the branch."
UNKNOWN_USER = "Unknown user."
RECUSED = "The complaint names this employee: they cannot handle it."
NOT_HANDLER = "Must be an active employee of the team."


def engine():  # noqa: ANN201 - the complaint workflow's Engine
    return workflows.engine(WORKFLOW_KEY)


def _user_by_email(session: Session, email: str, field: str) -> User:
    user = session.scalars(select(User).where(func.lower(User.email) == email.lower())).first()
    if user is None or not user.active:
        raise Invalid(f"no active user {email}", details={field: [Message(UNKNOWN_USER)]})
    return user


def _recusal_handler(session: Session, named: User) -> User | None:
    """Who takes a complaint its receiver may not handle (回避): the named employee's team
    lead, or with none (or the lead named) an active supervisor."""
    if named.team_id is not None:
        lead = session.scalar(select(User).join(Team, Team.lead_id == User.id).where(
            Team.id == named.team_id, User.active.is_(True)))
        if lead is not None and lead.id != named.id:
            return lead
    return session.scalars(select(User).where(User.role == "supervisor", User.active.is_(True),
                                              User.id != named.id).order_by(User.id)).first()


def file_complaint(session: Session, *, actor: User, data: Any) -> Prospect:
    """Record a complaint received by ``actor`` about a customer (``customer_id``: the
    customer's prospect), as a case of the complaint workflow entering its first step at
    ``received_at`` (default now), due by the workflow's case limit from then.

    The receiver is the handler (首问负责制). When the complaint names an employee
    (``named_employee``) and that employee received it, it goes to their team lead (or a
    supervisor) to assign (回避): the history's creation row says so.

    Raises Invalid naming each bad field (an unknown customer, a user that does not
    exist, a time in the future). One transaction.
    """
    command = load(FileComplaint, data)
    with unit_of_work(session):
        customer = session.get(Prospect, command["customer_id"])
        if customer is None or customer.workflow_key != workflows.DEFAULT_KEY:
            raise Invalid("no such customer", details={"customer_id": [Message(NOT_A_CUSTOMER)]})
        named = _user_by_email(session, command["named_employee"], "named_employee") \
            if command["named_employee"] else None
        handler, recused = actor, False
        if named is not None and named.id == actor.id:
            handler, recused = _recusal_handler(session, named), True
            if handler is None:
                raise Invalid("nobody but the named employee could handle the complaint",
                              details={"named_employee": [Message(RECUSED)]})
        now = clock.now()
        received_at = command["received_at"] or now
        eng = engine()
        outcome = eng.create(received_at)
        if recused:
            outcome = replace(outcome, data={"recused": True, "received_by_id": actor.id})
        case = Prospect(workflow_key=eng.workflow.key, name=customer.name, tier=customer.tier,
                        owner_id=handler.id, team_id=handler.team_id, customer_id=customer.id,
                        created_at=now, updated_at=now)
        apply_state(case, outcome.state)
        session.add(case)
        session.flush()
        session.add(Complaint(prospect_id=case.id, summary=command["summary"],
                              category=command["category"], received_at=received_at,
                              received_by_id=actor.id,
                              named_user_id=named.id if named else None))
        apply(session, case, outcome, actor=actor, now=received_at, inserted=True)
        audit(session, "complaint_filed", actor=actor, target_type="prospect",
              target_id=case.id, detail={"customer_id": customer.id, "handler_id": handler.id,
                                         "recused": recused})
    return case


def get_complaint(session: Session, viewer: User, complaint_id: Any, *,
                  for_update: bool = False) -> Prospect:
    """The complaint case if the viewer may see it (its handler, their team lead, a
    supervisor); NotFound otherwise, also for a case of another workflow."""
    case = queries.get_visible(session, viewer, parse_id(complaint_id, "complaint"),
                               for_update=for_update)
    if case.workflow_key != WORKFLOW_KEY:
        raise NotFound("no such complaint")
    return case


def save_complaint_record(session: Session, complaint_id: Any, record_key: str, *,
                          actor: User, data: Any, version: Any = None
                          ) -> prospect_services.RecordResult:
    """Save a step's record (:func:`pipeline.prospects.services.save_record`)."""
    get_complaint(session, actor, complaint_id)  # read in the save's own transaction
    return prospect_services.save_record(session, complaint_id, record_key, actor=actor,
                                         data=data, version=version)


def fire_complaint_event(session: Session, complaint_id: Any, *, actor: User,
                         data: Any) -> Prospect:
    """Fire an event of the complaint workflow (:func:`pipeline.prospects.services.
    advance_prospect`): ``extend`` with a reason takes the next extension of the case's
    limit, if the workflow gives it to the actor's role (Forbidden ``not_permitted``
    otherwise; Invalid ``no_extension_left`` when none is left)."""
    command = load(ComplaintEvent, data)
    get_complaint(session, actor, complaint_id)
    return prospect_services.advance_prospect(
        session, complaint_id, command["event"], actor=actor, reason=command["reason"],
        version=command["version"])


def assign_complaint(session: Session, complaint_id: Any, *, actor: User, data: Any) -> Prospect:
    """A team lead or supervisor gives the complaint to another handler (history event
    ``assign``); the case's clock runs on. The employee the complaint names is refused
    (回避), as is anyone outside a team lead's own team. One transaction."""
    command = load(AssignComplaint, data)
    if actor.role not in LEADS:
        raise Forbidden("only a team lead or a supervisor assigns a complaint")
    with unit_of_work(session):
        case = get_complaint(session, actor, complaint_id, for_update=True)
        prospect_services.check_version(case, command["version"])
        target = _user_by_email(session, command["handler"], "handler")
        complaint = session.get(Complaint, case.id)
        if complaint is not None and complaint.named_user_id == target.id:
            raise Invalid("the complaint names this employee", code="recused",
                          details={"handler": [Message(RECUSED)]})
        if actor.role == "team_lead" and target.team_id != actor.team_id:
            raise Invalid("a team lead assigns within the team",
                          details={"handler": [Message(NOT_HANDLER)]})
        if target.id == case.owner_id:
            return case
        outcome = engine().hand_over(state_of(case), target.id, reason=command["reason"])
        outcome = replace(outcome, data={"from_owner_id": case.owner_id, "to_owner_id": target.id})
        apply(session, case, outcome, actor=actor, now=clock.now())
        audit(session, "complaint_assigned", actor=actor, target_type="prospect",
              target_id=case.id, detail={"to_owner_id": target.id})
    return case


def add_cause_action(session: Session, *, actor: User, data: Any) -> CauseAction:
    """A corrective action with its owner on a cause of complaints (溯源整改); a team lead
    or a supervisor. The cause must be one of the workflow's cause choices. One
    transaction."""
    if actor.role not in LEADS:  # before the body: a manager learns nothing from its checks
        raise Forbidden("only a team lead or a supervisor sets corrective actions")
    command = load(CauseActionInput, data)
    causes = cause_choices()
    if causes and command["cause"] not in causes:
        raise Invalid("unknown cause", details={"cause": [Message("Not one of the causes.")]})
    with unit_of_work(session):
        owner = _user_by_email(session, command["owner"], "owner")
        row = CauseAction(workflow_key=WORKFLOW_KEY, cause=command["cause"],
                          action=command["action"], owner_id=owner.id,
                          created_by_id=actor.id, created_at=clock.now())
        session.add(row)
        session.flush()
    return row


def cause_choices() -> tuple[str, ...]:
    """The causes the workflow's ``cause`` dimension allows (empty: free text)."""
    wf = engine().workflow
    where = wf.dimensions.get("cause")
    if where is None:
        return ()
    field = wf.record(where[0]).field(where[1])
    return tuple(field.choices or ())
