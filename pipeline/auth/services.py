"""Users, passwords and API tokens."""
from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline import clock
from pipeline.auth.models import ROLES, ApiToken, AuditEntry, Team, User
from pipeline.db import unit_of_work
from pipeline.errors import Forbidden, Invalid, NotFound, Unauthorized

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(user: User, password: str) -> bool:
    if not user.password_hash:
        return False
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def find_user(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(func.lower(User.email) == email.strip().lower())
                           ).first()


def get_or_create_team(session: Session, name: str) -> Team:
    team = session.scalars(select(Team).where(Team.name == name)).first()
    if team is None:
        team = Team(name=name)
        session.add(team)
        session.flush()
    return team


def create_user(session: Session, email: str, *, role: str, team: str | None = None,
                password: str | None = None, name: str | None = None,
                locale: str | None = None) -> User:
    """Add a user; the team is created on first mention and a team lead leads it.

    Raises Invalid for an unknown role, a taken e-mail or a manager without a team.
    One transaction.
    """
    with unit_of_work(session):
        email = (email or "").strip()
        if "@" not in email or len(email) > 254:
            raise Invalid(f"{email!r} is not an e-mail address", details={"email": ["Invalid."]})
        if role not in ROLES:
            raise Invalid(f"unknown role {role!r} (known: {', '.join(ROLES)})",
                          details={"role": ["Unknown role."]})
        if find_user(session, email):
            raise Invalid(f"{email} already exists", details={"email": ["Already exists."]})
        if role in ("manager", "team_lead") and not team:
            raise Invalid(f"a {role} needs a team (--team)", details={"team": ["Required."]})
        team_row = get_or_create_team(session, team) if team else None
        user = User(email=email, name=name or email.split("@")[0], role=role,
                    team_id=team_row.id if team_row else None,
                    password_hash=hash_password(password) if password else None,
                    locale=locale)
        session.add(user)
        session.flush()
        if role == "team_lead" and team_row is not None:
            team_row.lead_id = user.id
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, email: str) -> str:
    """A new API token for the user; only its hash is stored. One transaction."""
    with unit_of_work(session):
        user = find_user(session, email)
        if user is None:
            raise NotFound(f"no user {email}")
        token = secrets.token_urlsafe(32)
        session.add(ApiToken(user_id=user.id, token_hash=_digest(token)))
    return token


def user_for_token(session: Session, token: str) -> User | None:
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == _digest(token),
                                                 ApiToken.revoked_at.is_(None))).first()
    if row is None or not row.user.active:
        return None
    return row.user


def set_password(session: Session, user: User, password: str) -> None:
    with unit_of_work(session):
        user.password_hash = hash_password(password)



# ---------------------------------------------------------------- sign-in

FAILURE_WINDOW_MINUTES = 15
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20


def audit(session: Session, action: str, *, actor: User | None = None,
          target_type: str | None = None, target_id: int | None = None, ip: str | None = None,
          detail: dict | None = None, note: str | None = None) -> None:
    """Append an audit entry in the caller's transaction."""

    session.add(AuditEntry(at=clock.now(), actor_id=actor.id if actor else None, action=action,
                           target_type=target_type, target_id=target_id, ip=ip, detail=detail,
                           note=note))


def _recent_failures(session: Session, *, email: str | None = None, ip: str | None = None) -> int:
    from datetime import timedelta


    since = clock.now() - timedelta(minutes=FAILURE_WINDOW_MINUTES)
    stmt = select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "login_failed", AuditEntry.at >= since)
    if email is not None:
        stmt = stmt.where(AuditEntry.target_type == "email", AuditEntry.note == email)
    if ip is not None:
        stmt = stmt.where(AuditEntry.ip == ip)
    return session.scalar(stmt) or 0


def sign_in(session: Session, email: str, password: str, *, ip: str | None = None) -> User:
    """Check a password sign-in, slowing down repeated failures.

    Returns the user; raises Forbidden with code ``throttled`` after too many recent failures
    for the account or the address, Unauthorized for a wrong e-mail or password. Every
    attempt is written to the audit log (its own transaction).
    """

    email = (email or "").strip().lower()
    with unit_of_work(session):
        if (_recent_failures(session, email=email) >= MAX_FAILURES_PER_ACCOUNT
                or (ip and _recent_failures(session, ip=ip) >= MAX_FAILURES_PER_ADDRESS)):
            audit(session, "login_throttled", ip=ip, target_type="email", note=email)
            failed = Forbidden(
                f"Too many failed sign-ins; try again in {FAILURE_WINDOW_MINUTES} minutes.",
                code="throttled")
        else:
            user = find_user(session, email)
            if user is not None and user.active and check_password(user, password):
                audit(session, "login", actor=user, ip=ip, target_type="user",
                      target_id=user.id)
                return user
            audit(session, "login_failed", ip=ip, target_type="email", note=email)
            failed = Unauthorized("wrong e-mail or password", code="bad_credentials")
    raise failed


def set_locale(session: Session, user: User, locale: str) -> None:
    with unit_of_work(session):
        user.locale = locale
