"""Users, passwords, sessions, API tokens and the sign-in throttle."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, joinedload

from pipeline import clock
from pipeline.auth.models import ROLES, ApiToken, AuditEntry, Team, User
from pipeline.db import unit_of_work
from pipeline.errors import Forbidden, Invalid, NotFound, Unauthorized

# Argon2id at the OWASP minimum: 19 MiB of memory, 2 passes, 1 lane. On the branch server's
# 2 cores one check takes about 65 ms (median; 110 ms at worst with both cores busy), where
# the library's defaults (64 MiB, 3 passes, 4 lanes) took about 570 ms and queued sign-ins
# behind each other for seconds. A hash made with other parameters still verifies and is
# replaced by one with these on the next successful sign-in.
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1
_hasher = PasswordHasher(time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB,
                         parallelism=ARGON2_PARALLELISM)
_dummy_hash: str | None = None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(user: User | None, password: str) -> bool:
    """Whether ``password`` is the user's. Without a user (an unknown e-mail) or a password
    hash, a dummy hash is checked instead, so the answer takes as long either way."""
    stored = user.password_hash if user is not None else None
    try:
        if not stored:
            _hasher.verify(_dummy(), password)  # a random secret: never matches
            return False
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _dummy() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash(secrets.token_urlsafe(32))
    return _dummy_hash


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


def set_password(session: Session, user: User, password: str) -> None:
    """A new password; every session and remember cookie of the user ends with it."""
    with unit_of_work(session):
        user.password_hash = hash_password(password)
        user.session_version = (user.session_version or 0) + 1


# ---------------------------------------------------------------- sessions

def session_user(session: Session, user_id: str) -> User | None:
    """The active user a session or remember cookie names (``<id>:<session version>``,
    :meth:`User.get_id`), or None when the version has moved on (signed out, password
    changed) or the id names nobody."""
    raw_id, _, version = (user_id or "").partition(":")
    if not (raw_id.isascii() and raw_id.isdigit() and version.isascii()
            and version.isdigit()) or len(raw_id) > 10 or len(version) > 10:
        return None
    user = session.get(User, int(raw_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


def sign_out(session: Session, user_id: int, *, ip: str | None = None) -> None:
    """End every session of the user, on every device, and every remember cookie: the
    session version moves on. One transaction, audited."""
    with unit_of_work(session):
        session.execute(update(User).where(User.id == user_id)
                        .values(session_version=User.session_version + 1)
                        .execution_options(synchronize_session=False))
        session.add(AuditEntry(at=clock.now(), actor_id=user_id, action="logout",
                               target_type="user", target_id=user_id, ip=ip))
    user = session.get(User, user_id)
    if user is not None:
        session.expire(user)


# ---------------------------------------------------------------- API tokens

TOKEN_DAYS = 90  # the default lifetime (PIPELINE_TOKEN_DAYS)
MAX_TOKEN_DAYS = 366
LAST_USE_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, email: str, *, name: str | None = None,
                days: int | None = None) -> str:
    """A new API token for the user, valid ``days`` days; only its hash is stored. One
    transaction, audited."""
    days = TOKEN_DAYS if days is None else days
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise Invalid(f"a token lives 1 to {MAX_TOKEN_DAYS} days",
                      details={"days": [f"Must be between 1 and {MAX_TOKEN_DAYS}."]})
    name = (name or "").strip() or None
    if name is not None and (len(name) > 80 or "\x00" in name):
        raise Invalid("the name is at most 80 characters",
                      details={"name": ["Longer than 80 characters."]})
    with unit_of_work(session):
        user = find_user(session, email)
        if user is None:
            raise NotFound(f"no user {email}")
        token = secrets.token_urlsafe(32)
        now = clock.now()
        row = ApiToken(user_id=user.id, token_hash=_digest(token), name=name, created_at=now,
                       expires_at=now + timedelta(days=days))
        session.add(row)
        session.flush()
        audit(session, "token_issued", actor=user, target_type="api_token", target_id=row.id,
              detail={"expires_at": row.expires_at.isoformat()})
    return token


def user_for_token(session: Session, token: str) -> User | None:
    """The active user of a valid token (not revoked, not expired), or None. Records the
    token's use, at most once a minute (a failed write of it does not fail the request).
    The token and its user are read in one statement: every API request starts here."""
    now = clock.now()
    row = session.scalars(select(ApiToken).options(joinedload(ApiToken.user))
                          .where(ApiToken.token_hash == _digest(token),
                                 ApiToken.revoked_at.is_(None),
                                 ApiToken.expires_at > now)).first()
    if row is None or not row.user.active:
        return None
    if row.last_used_at is None or row.last_used_at <= now - LAST_USE_EVERY:
        token_id = row.id
        try:
            with unit_of_work(session):
                session.execute(update(ApiToken).where(
                    ApiToken.id == token_id,
                    or_(ApiToken.last_used_at.is_(None),
                        ApiToken.last_used_at <= now - LAST_USE_EVERY))
                    .values(last_used_at=now).execution_options(synchronize_session=False))
        except OperationalError:  # a busy database: a later request records the use
            pass
        row = session.get(ApiToken, token_id)
    return row.user if row is not None else None


@dataclass(frozen=True)
class TokenInfo:
    """What the owner may know of a token (never the token: only its hash is kept)."""

    id: int
    name: str | None
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiToken) -> TokenInfo:
        return cls(row.id, row.name, row.created_at, row.expires_at, row.last_used_at,
                   row.revoked_at)

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= clock.now() else "active"

    def as_dict(self) -> dict:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None
        return {"id": self.id, "name": self.name, "status": self.status,
                "created_at": iso(self.created_at), "expires_at": iso(self.expires_at),
                "last_used_at": iso(self.last_used_at), "revoked_at": iso(self.revoked_at)}


def tokens_of(session: Session, user: User) -> list[TokenInfo]:
    """The user's tokens, newest first."""
    rows = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                           .order_by(ApiToken.id.desc()))
    return [TokenInfo.of(r) for r in rows]


def revoke_token(session: Session, token_id: int, *, actor: User | None = None,
                 ip: str | None = None) -> TokenInfo:
    """Revoke a token now. With ``actor``, only one of the actor's own tokens (NotFound for
    anybody else's); without, any (the command line). Revoking twice changes nothing.
    One transaction, audited."""
    with unit_of_work(session):
        stmt = select(ApiToken).where(ApiToken.id == token_id).with_for_update()
        if actor is not None:
            stmt = stmt.where(ApiToken.user_id == actor.id)
        row = session.scalars(stmt).first()
        if row is None:
            raise NotFound("no such token", code="unknown_token")
        if row.revoked_at is None:
            row.revoked_at = clock.now()
            audit(session, "token_revoked", actor=actor, target_type="api_token",
                  target_id=row.id, ip=ip, detail={"user_id": row.user_id})
        info = TokenInfo.of(row)
    return info


# ---------------------------------------------------------------- sign-in

# Failures count for FAILURE_WINDOW_MINUTES. After FREE_FAILURES_PER_PAIR failures for one
# account from one address, each further attempt from there waits a delay that doubles
# from PAIR_DELAY_SECONDS up to FAILURE_WINDOW_MINUTES; the same account from another
# address is not slowed (a stranger's guesses never lock the user out of their own
# address). After FREE_FAILURES_PER_ADDRESS failures from one address, whatever the
# accounts, attempts from there wait a delay doubling from 1 s up to
# MAX_ADDRESS_DELAY_SECONDS: a shared address is slowed, never locked. No delay is a
# lockout: once it has passed, the right password signs in.
FAILURE_WINDOW_MINUTES = 15
FREE_FAILURES_PER_PAIR = 5
PAIR_DELAY_SECONDS = 30
FREE_FAILURES_PER_ADDRESS = 20
MAX_ADDRESS_DELAY_SECONDS = 60


class Throttled(Forbidden):
    """Too many recent failures: try again after ``retry_after`` seconds (answered 429)."""

    status, code = 429, "throttled"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed sign-ins; try again in {retry_after} seconds.",
                         details={"retry_after": retry_after})
        self.retry_after = retry_after


def audit(session: Session, action: str, *, actor: User | None = None,
          target_type: str | None = None, target_id: int | None = None, ip: str | None = None,
          detail: dict | None = None, note: str | None = None) -> None:
    """Append an audit entry in the caller's transaction."""

    session.add(AuditEntry(at=clock.now(), actor_id=actor.id if actor else None, action=action,
                           target_type=target_type, target_id=target_id, ip=ip, detail=detail,
                           note=note))


def _wait(count: int, last: datetime | None, *, free: int, first: int, cap: int) -> int:
    """Whole seconds still to wait after ``count`` failures, the last at ``last``."""
    if count < free or last is None:
        return 0
    delay = min(first * 2 ** min(count - free, 20), cap)
    left = (clock.as_utc(last) + timedelta(seconds=delay) - clock.now()).total_seconds()
    return max(0, int(left + 0.999))


def _failures(session: Session, email: str, ip: str | None
              ) -> tuple[tuple[int, datetime | None], tuple[int, datetime | None]]:
    """Recent failed sign-ins, each as (how many, when the last was): for the e-mail (from
    the address, when there is one) and from the address (none without one). One
    statement, on the address's rows of the throttle's index."""
    since = clock.now() - timedelta(minutes=FAILURE_WINDOW_MINUTES)
    pair = and_(AuditEntry.target_type == "email", AuditEntry.note == email)
    stmt = select(
        func.count().filter(pair), func.max(AuditEntry.at).filter(pair),
        func.count(), func.max(AuditEntry.at),
    ).select_from(AuditEntry).where(AuditEntry.action == "login_failed",
                                    AuditEntry.at >= since)
    if ip:
        stmt = stmt.where(AuditEntry.ip == ip)
    row = session.execute(stmt).one()
    return (row[0] or 0, row[1]), ((row[2] or 0, row[3]) if ip else (0, None))


def retry_after(session: Session, email: str, ip: str | None) -> int:
    """Seconds before this e-mail may try again from this address (0: now)."""
    pair_failures, address_failures = _failures(session, email, ip)
    pair = _wait(*pair_failures, free=FREE_FAILURES_PER_PAIR, first=PAIR_DELAY_SECONDS,
                 cap=FAILURE_WINDOW_MINUTES * 60)
    address = _wait(*address_failures, free=FREE_FAILURES_PER_ADDRESS, first=1,
                    cap=MAX_ADDRESS_DELAY_SECONDS)
    return max(pair, address)


def sign_in(session: Session, email: str, password: str, *, ip: str | None = None) -> User:
    """Check a password sign-in, slowing down repeated failures.

    Returns the user; raises :class:`Throttled` (429, ``throttled``, with the seconds to
    wait) while a delay earned by recent failures runs, Unauthorized for a wrong e-mail or
    password. An unknown e-mail costs the same password check as a known one. A hash made
    with older parameters is replaced on success. Every attempt is written to the audit log
    (its own transaction).
    """

    email = (email or "").strip().lower()
    with unit_of_work(session):
        wait = retry_after(session, email, ip)
        if wait:
            audit(session, "login_throttled", ip=ip, target_type="email", note=email,
                  detail={"retry_after": wait})
            failed: Exception = Throttled(wait)
        else:
            user = find_user(session, email)
            if check_password(user, password) and user is not None and user.active:
                if _hasher.check_needs_rehash(user.password_hash or ""):
                    user.password_hash = hash_password(password)
                audit(session, "login", actor=user, ip=ip, target_type="user",
                      target_id=user.id)
                return user
            audit(session, "login_failed", ip=ip, target_type="email", note=email)
            failed = Unauthorized("wrong e-mail or password", code="bad_credentials")
    raise failed


def set_locale(session: Session, user: User, locale: str) -> None:
    with unit_of_work(session):
        user.locale = locale
