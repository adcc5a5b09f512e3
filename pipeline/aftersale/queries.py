"""Reads of the day's work: a user's open tasks, in scope."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select, tuple_
from sqlalchemy.orm import Session

from pipeline.aftersale.models import Campaign
from pipeline.auth.models import User
from pipeline.errors import NotFound
from pipeline.prospects.models import CADENCE, CadenceTask, Contact, Prospect


@dataclass(frozen=True)
class TaskRow:
    """An open task with what a list shows of it: the customer, the tier, the event that
    made it (its kind), the stage of a first-contact step."""

    task: CadenceTask
    prospect_id: int
    name: str
    tier: str
    status: str
    stage: str
    event_kind: str | None

    @property
    def kind(self) -> str:
        """The task's kind as the API names it: a first-contact step by its key."""
        return self.task.key if self.task.kind == CADENCE else self.task.kind


def open_condition() -> Any:
    """An open task that is still work: a first-contact step of the prospect's current
    visit while it is active; any other task while the customer is not lost."""
    t, p = CadenceTask, Prospect
    return and_(t.done_at.is_(None), or_(
        and_(t.kind == CADENCE, t.clock_no == p.clock_no, p.status == "active"),
        and_(t.kind != CADENCE, p.status != "lost")))


def tasks_statement(assignee_id: int) -> Select:
    return (select(CadenceTask, Prospect.id, Prospect.name, Prospect.tier, Prospect.status,
                   Prospect.stage, CadenceTask.source)
            .join(Prospect, Prospect.id == CadenceTask.prospect_id)
            .where(CadenceTask.assignee_id == assignee_id, open_condition()))


def rows(session: Session, stmt: Select) -> list[TaskRow]:
    return [TaskRow(*r) for r in session.execute(stmt)]


def task_owner(session: Session, viewer: User, email: str | None) -> User:
    """Whose tasks ``viewer`` lists: their own, or (a lead, for their team's managers; a
    supervisor or admin, for anyone's) the user with ``email``. NotFound otherwise, as for
    anything out of scope."""
    if not email or email.strip().lower() == viewer.email.lower():
        return viewer
    if viewer.role not in ("team_lead", "supervisor", "admin"):
        raise NotFound("no such user")
    user = session.scalars(select(User).where(func.lower(User.email) == email.strip().lower())
                           ).first()
    if user is None or (viewer.role == "team_lead"
                        and (viewer.team_id is None or user.team_id != viewer.team_id)):
        raise NotFound("no such user")
    return user


def open_tasks(session: Session, viewer: User, *, owner: str | None = None,
               due_before: datetime | None = None, after: tuple[datetime, int] | None = None,
               limit: int = 50) -> tuple[list[TaskRow], bool]:
    """A page of the open tasks of ``owner`` (default: the viewer) by due time, after the
    cursor ``after`` (due time, id), and whether more follow. A lead sees their team's
    customers' tasks only."""
    user = task_owner(session, viewer, owner)
    stmt = tasks_statement(user.id)
    if viewer.role == "team_lead" and user.id != viewer.id:
        stmt = stmt.where(Prospect.team_id == viewer.team_id)
    if due_before is not None:
        stmt = stmt.where(CadenceTask.due_at < due_before)
    if after is not None:
        stmt = stmt.where(tuple_(CadenceTask.due_at, CadenceTask.id) > tuple_(*after))
    found = rows(session, stmt.order_by(CadenceTask.due_at, CadenceTask.id).limit(limit + 1))
    return found[:limit], len(found) > limit


def contacts_of(session: Session, prospect_id: int, *, before_id: int | None = None,
                limit: int = 50) -> tuple[list[Contact], bool]:
    """A page of a prospect's contacts, newest first (the caller checked the scope)."""
    stmt = select(Contact).where(Contact.prospect_id == prospect_id)
    if before_id is not None:
        stmt = stmt.where(Contact.id < before_id)
    found = list(session.scalars(stmt.order_by(Contact.id.desc()).limit(limit + 1)))
    return found[:limit], len(found) > limit


# ---------------------------------------------------------------- campaigns

@dataclass(frozen=True)
class CampaignProgress:
    """A manager's part of a campaign: customers contacted (their task done), not yet
    (open, not yet due) and overdue (open past the day)."""

    owner_id: int
    owner_name: str
    contacted: int
    not_yet: int
    overdue: int

    @property
    def total(self) -> int:
        return self.contacted + self.not_yet + self.overdue


def visible_campaigns(session: Session, viewer: User) -> Select:
    """The campaigns a lead (the team's and the branch's) or a supervisor (all) sees."""
    stmt = select(Campaign)
    if viewer.role == "team_lead":
        stmt = stmt.where(or_(Campaign.team_id.is_(None), Campaign.team_id == viewer.team_id))
    elif viewer.role not in ("supervisor", "admin"):
        stmt = stmt.where(Campaign.id.is_(None))
    return stmt


def campaigns(session: Session, viewer: User, limit: int = 100) -> list[Campaign]:
    return list(session.scalars(visible_campaigns(session, viewer)
                                .order_by(Campaign.due_on.desc(), Campaign.id.desc())
                                .limit(limit)))


def campaign(session: Session, viewer: User, campaign_id: int) -> Campaign:
    found = session.scalars(visible_campaigns(session, viewer)
                            .where(Campaign.id == campaign_id)).first()
    if found is None:
        raise NotFound("no such campaign")
    return found


def campaign_progress(session: Session, viewer: User, found: Campaign, now: datetime
                      ) -> list[CampaignProgress]:
    """Per manager (a lead: of the team), in one query."""
    t, p = CadenceTask, Prospect
    done = func.sum(case((t.done_at.is_not(None), 1), else_=0))
    late = func.sum(case((and_(t.done_at.is_(None), t.due_at < now), 1), else_=0))
    waiting = func.sum(case((and_(t.done_at.is_(None), t.due_at >= now), 1), else_=0))
    stmt = (select(User.id, User.name, done, waiting, late)
            .select_from(t).join(p, p.id == t.prospect_id).join(User, User.id == t.assignee_id)
            .where(t.kind == "campaign", t.key == f"campaign:{found.id}")
            .group_by(User.id, User.name).order_by(User.name))
    if viewer.role == "team_lead":
        stmt = stmt.where(p.team_id == viewer.team_id)
    return [CampaignProgress(*(int(v or 0) if i > 1 else v for i, v in enumerate(r)))
            for r in session.execute(stmt)]
