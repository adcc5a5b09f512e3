"""Users, passwords and API tokens."""
from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline import clock
from pipeline.auth.models import ROLES, ApiToken, Team, User
from pipeline.db import unit_of_work
from pipeline.errors import Invalid, NotFound

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

