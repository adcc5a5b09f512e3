"""Tell people things: an inbox row and an outbox e-mail, written in the caller's
transaction so they exist exactly when the change does."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from babel.support import NullTranslations, Translations
from flask import current_app, has_app_context
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
    request; none: the app's default), with ``%(name)s`` parameters filled in. A parameter
    with a ``get(locale)`` (a workflow's ``Text``, e.g. a stage name) or stored as one
    (``{"en": ..., "zh_CN": ...}``) is given in that language."""
    # Babel may spell the locale "zh_Hans_CN"; the catalogues are zh_CN and en.
    locale = "zh_CN" if (locale or default_locale()).startswith("zh") else "en"
    text = _catalogue(locale).gettext(msgid)
    if not params:
        return text
    try:
        return text % {k: _param(v, locale) for k, v in params.items()}
    except (KeyError, ValueError, TypeError):  # a catalogue entry that lost a parameter
        return text


def _param(value: Any, locale: str) -> Any:
    if isinstance(value, Text):
        return value.get(locale)
    if isinstance(value, dict) and set(value) == {"en", "zh_CN"}:
        return value["zh_CN"] if locale == "zh_CN" else value["en"]
    return value


def default_locale() -> str:
    """The app's default language (``BABEL_DEFAULT_LOCALE``), for a reader who has chosen
    none and sent no browser language (e-mail, the command line)."""
    if has_app_context():
        return current_app.config.get("BABEL_DEFAULT_LOCALE") or DEFAULT_LOCALE
    return DEFAULT_LOCALE


# ---------------------------------------------------------------- read-time language
# An inbox row keeps what it says as message ids and parameters (the body column holds a
# small JSON document, ENVELOPE), so each reader sees it in the language they read in at
# the time: the one they chose, else their browser's, else the app's default. Rows
# written before kept their text and are shown as written.

ENVELOPE = "i18n"


def envelope(title: str, params: Mapping[str, Any], *, body: str | None = None,
             lines: tuple[str, ...] = (), text: str | None = None) -> str:
    """The stored form of a message: msgids, parameters (a ``Text`` as both languages)."""
    return json.dumps({ENVELOPE: 1, "title": title, "body": body, "lines": list(lines),
                       "text": text,
                       "params": {k: v.as_dict() if isinstance(v, Text) else v
                                  for k, v in params.items()}},
                      ensure_ascii=False, default=str)


@dataclass(frozen=True)
class Shown:
    title: str
    body: str | None


def render(title: str, stored_body: str | None, locale: str | None) -> Shown:
    """What an inbox row says in ``locale``: its envelope rendered, or its text as stored."""
    doc = _read_envelope(stored_body)
    if doc is None:
        return Shown(title, stored_body)
    params = doc.get("params") or {}
    shown_title = translate(locale, doc["title"], **params)
    parts = [translate(locale, line, **params) for line in doc.get("lines") or ()]
    if doc.get("body"):
        parts.append(translate(locale, doc["body"], **params))
    if doc.get("text"):
        parts.append(doc["text"])
    return Shown(shown_title, "\n\n".join(parts) or None)


def shown(note: Notification, locale: str | None) -> Shown:
    return render(note.title, note.body, locale)


def _read_envelope(body: str | None) -> dict | None:
    if not body or not body.startswith('{"' + ENVELOPE + '"'):
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and doc.get(ENVELOPE) == 1 and "title" in doc \
        else None


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
    text: str | None = None  # written out already (e.g. a date), used as is, after the rest
    lines: tuple[str, ...] = ()  # msgids of paragraphs (e.g. a letter), before the body
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
        # The e-mail is written now, in the language the recipient chose (else the app's);
        # the inbox row keeps the message itself and is shown in the reader's language.
        stored = envelope(m.title, m.params, body=m.body, lines=m.lines, text=m.text)
        mail = render(m.title, stored, m.to.locale)
        key = f"{m.dedupe_key}:{m.to.id}" if m.dedupe_key else None
        notes.append({"user_id": m.to.id, "kind": m.kind, "title": mail.title[:300],
                      "body": stored, "prospect_id": m.prospect_id, "dedupe_key": key,
                      "created_at": now, "read_at": None})
        if m.email and m.to.email:
            mails.append({"recipient": m.to.email, "subject": mail.title[:300],
                          "body": mail.body or mail.title, "created_at": now,
                          "next_attempt_at": now, "attempts": 0, "sent_at": None,
                          "last_error": None, "dedupe_key": f"{key}:mail" if key else None})
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


def mark_read(session: Session, user: User, ids: list[int] | None = None, *,
              kind: str | None = None) -> int:
    """Mark the user's notifications read (``ids``, or all when None; only those of
    ``kind`` when given). One transaction; returns how many changed. Other people's
    notifications are never touched."""

    with unit_of_work(session):
        stmt = (update(Notification)
                .where(Notification.user_id == user.id, Notification.read_at.is_(None))
                .values(read_at=clock.now())
                .execution_options(synchronize_session=False))
        if ids is not None:
            stmt = stmt.where(Notification.id.in_(ids))
        if kind is not None:
            stmt = stmt.where(Notification.kind == kind)
        changed = session.execute(stmt).rowcount or 0
    return changed
