"""Tell people things: an inbox row and an outbox e-mail, written in the caller's
transaction so they exist exactly when the change does."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline import clock
from pipeline.auth.models import Team, User
from pipeline.escalations.models import Notification, OutboxMessage


def notify(session: Session, user: User, kind: str, title: str, *, body: str | None = None,
           prospect_id: int | None = None, dedupe_key: str | None = None,
           email: bool = True) -> Notification | None:
    """Add an inbox notification (and an e-mail to the outbox) for ``user``.

    With a ``dedupe_key`` the same notification is never written twice: a second call
    returns None. Does not commit.
    """
    if dedupe_key is not None:
        exists = session.scalar(select(Notification.id).where(
            Notification.dedupe_key == f"{dedupe_key}:{user.id}"))
        if exists:
            return None
    now = clock.now()
    note = Notification(user_id=user.id, kind=kind, title=title, body=body,
                        prospect_id=prospect_id, created_at=now,
                        dedupe_key=f"{dedupe_key}:{user.id}" if dedupe_key else None)
    session.add(note)
    if email and user.email:
        session.add(OutboxMessage(
            recipient=user.email, subject=title, body=body or title, created_at=now,
            next_attempt_at=now,
            dedupe_key=f"{dedupe_key}:{user.id}:mail" if dedupe_key else None))
    return note


def team_lead_of(session: Session, team_id: int | None) -> User | None:
    if team_id is None:
        return None
    return session.scalar(select(User).join(Team, Team.lead_id == User.id)
                          .where(Team.id == team_id))


def supervisors(session: Session) -> list[User]:
    return list(session.scalars(select(User).where(User.role == "supervisor",
                                                   User.active.is_(True))))
