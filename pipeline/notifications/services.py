"""Tell people things: an inbox row and an outbox e-mail, written in the caller's
transaction so they exist exactly when the change does."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from babel.support import NullTranslations, Translations
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from pipeline import clock
from pipeline.auth.models import Team, User
from pipeline.db import unit_of_work
from pipeline.engine.definition import Text
from pipeline.notifications.models import Notification, OutboxMessage
from pipeline.sql import insert_ignoring_duplicates
from pipeline.web import translation_dirs

DEFAULT_LOCALE = "zh_CN"


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


# ---------------------------------------------------------------- many at once

def N_(msgid: str) -> str:
    """Marks a message for the catalogue; it is translated per recipient when sent."""
    return msgid


@lru_cache(maxsize=8)
def _catalogue(locale: str) -> Translations | NullTranslations:

    merged: Translations | None = None
    for directory in translation_dirs():
        loaded = Translations.load(directory, [locale])
        if not isinstance(loaded, Translations):
            continue
        if merged is None:
            merged = loaded
        else:
            merged.merge(loaded)
    return merged or NullTranslations()


def translate(locale: str | None, msgid: str, **params: Any) -> str:
    """``msgid`` in ``locale`` (the recipient's, not the request's: the sweep has no
    request), with ``%(name)s`` parameters filled in. A parameter with a ``get(locale)``
    (a workflow's ``Text``, e.g. a stage name) is given in that language."""
    # Babel may spell the locale "zh_Hans_CN"; the catalogues are zh_CN and en.
    locale = "zh_CN" if (locale or DEFAULT_LOCALE).startswith("zh") else "en"
    text = _catalogue(locale).gettext(msgid)
    if not params:
        return text
    return text % {k: v.get(locale) if isinstance(v, Text) else v for k, v in params.items()}


@dataclass(frozen=True)
class Recipient:
    id: int
    email: str | None
    locale: str | None

    @classmethod
    def of(cls, user: User) -> Recipient:
        return cls(user.id, user.email, user.locale)


@dataclass(frozen=True)
class Message:
    """One inbox entry (and e-mail) for one person; texts are msgids plus parameters."""

    to: Recipient
    kind: str
    title: str
    params: Mapping[str, Any] = field(default_factory=dict)
    body: str | None = None  # a msgid like the title
    text: str | None = None  # a body already written out (e.g. a letter), used as is
    prospect_id: int | None = None
    dedupe_key: str | None = None
    email: bool = True


def notify_many(session: Session, messages: list[Message]) -> int:
    """Write many notifications (and their e-mails) with a few statements, each in the
    recipient's language. Rows whose dedupe key exists are skipped. Part of the caller's
    transaction; returns how many inbox rows were new."""
    if not messages:
        return 0
    now = clock.now()
    notes, mails = [], []
    for m in messages:
        title = translate(m.to.locale, m.title, **m.params)
        body = m.text if m.text is not None else (
            translate(m.to.locale, m.body, **m.params) if m.body else None)
        key = f"{m.dedupe_key}:{m.to.id}" if m.dedupe_key else None
        notes.append({"user_id": m.to.id, "kind": m.kind, "title": title[:300], "body": body,
                      "prospect_id": m.prospect_id, "dedupe_key": key, "created_at": now,
                      "read_at": None})
        if m.email and m.to.email:
            mails.append({"recipient": m.to.email, "subject": title[:300],
                          "body": body or title, "created_at": now, "next_attempt_at": now,
                          "attempts": 0, "sent_at": None, "last_error": None,
                          "dedupe_key": f"{key}:mail" if key else None})
    # executemany: SQLAlchemy batches the rows into multi-row INSERTs ("insertmanyvalues")
    # with one cached compiled statement.
    table = Notification.__table__
    created = len(session.execute(
        insert_ignoring_duplicates(session, table).returning(table.c.id), notes).all())
    if mails:  # RETURNING keeps this on the batched path too (not a statement per row)
        outbox = OutboxMessage.__table__
        session.execute(insert_ignoring_duplicates(session, outbox).returning(outbox.c.id),
                        mails).all()
    return created


def leads_of(session: Session, team_ids: set[int]) -> dict[int, Recipient]:
    """Each team's lead (active), in one query."""
    if not team_ids:
        return {}
    rows = session.execute(select(Team.id, User.id, User.email, User.locale)
                           .join(User, Team.lead_id == User.id)
                           .where(Team.id.in_(team_ids), User.active.is_(True)))
    return {tid: Recipient(uid, email, locale) for tid, uid, email, locale in rows}


def recipients(session: Session, user_ids: set[int]) -> dict[int, Recipient]:
    if not user_ids:
        return {}
    rows = session.execute(select(User.id, User.email, User.locale)
                           .where(User.id.in_(user_ids)))
    return {uid: Recipient(uid, email, locale) for uid, email, locale in rows}


def supervisor_recipients(session: Session) -> list[Recipient]:
    return [Recipient.of(u) for u in supervisors(session)]


def unread_count(session: Session, user_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def mark_read(session: Session, user: User, ids: list[int] | None = None) -> int:
    """Mark the user's notifications read (``ids``, or all when None). One transaction;
    returns how many changed. Other people's notifications are never touched."""

    with unit_of_work(session):
        stmt = (update(Notification)
                .where(Notification.user_id == user.id, Notification.read_at.is_(None))
                .values(read_at=clock.now())
                .execution_options(synchronize_session=False))
        if ids is not None:
            stmt = stmt.where(Notification.id.in_(ids))
        changed = session.execute(stmt).rowcount or 0
    return changed
