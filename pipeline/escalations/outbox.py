"""Delivers the e-mail outbox after commit: SMTP when configured, otherwise the log.

Two senders never send the same message: a sender first *claims* a batch in its own short
transaction — ``UPDATE outbox SET attempts = attempts + 1, next_attempt_at = <lease end>
WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) AND sent_at IS NULL AND next_attempt_at <=
now RETURNING …`` — so the rows it got are invisible to every other sender until the
lease ends, then sends, then records ``sent_at``. A message that failed is retried with
backoff (:func:`pipeline.escalations.rules.retry_delay`), at most :data:`MAX_ATTEMPTS`
times; one that was sent is never sent again. Only a sender that dies between the SMTP
server's acceptance and recording it leaves a message to be retried after the lease; it
then carries the same ``Message-ID``, so mail systems drop the duplicate.

The log names a message by its id and kind only, never its recipient, subject or body.
"""
from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pipeline import clock
from pipeline.db import get_db, unit_of_work
from pipeline.escalations import rules
from pipeline.logs import describe_exception
from pipeline.notifications.models import OutboxMessage
from pipeline.sql import picked

log = logging.getLogger("pipeline.outbox")

LEASE = timedelta(minutes=15)
MAX_ATTEMPTS = 8
ROUND, MAX_ROUNDS = 100, 50  # deliver_after_commit: up to 5,000 messages per call


@dataclass(frozen=True)
class Mail:
    id: int
    recipient: str
    subject: str
    body: str
    kind: str = "mail"  # what it tells (warn, esc, overdue, remind, decided): for the log


Transport = Callable[[Mail], None]


def kind_of(dedupe_key: str | None) -> str:
    """A message's kind, from its dedupe key (``esc:12:1:7:mail`` is an ``esc``)."""
    return (dedupe_key or "").partition(":")[0] or "mail"


def log_transport(mail: Mail) -> None:
    """Without an SMTP host: the message stays in the outbox and the inbox; the log says
    only that it would have gone out."""
    log.info("mail %s (%s) not sent: no SMTP host configured", mail.id, mail.kind)


def smtp_transport(config: Mapping) -> Transport:
    host, port = config["PIPELINE_SMTP_HOST"], int(config.get("PIPELINE_SMTP_PORT") or 25)
    sender = config.get("PIPELINE_MAIL_FROM") or "pipeline@localhost"

    def send(mail: Mail) -> None:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = sender, mail.recipient, mail.subject
        msg["Message-ID"] = f"<outbox-{mail.id}@{sender.rpartition('@')[2] or 'pipeline'}>"
        msg.set_content(mail.body)
        with smtplib.SMTP(host, port, timeout=30) as smtp:
            smtp.send_message(msg)

    return send


def transport_for(config: Mapping) -> Transport:
    return smtp_transport(config) if config.get("PIPELINE_SMTP_HOST") else log_transport


def claim(session: Session, now: datetime, limit: int) -> tuple[list[Mail], dict[int, int]]:
    """Take up to ``limit`` due messages for this sender (one transaction); returns them
    and each one's attempt number."""
    o = OutboxMessage.__table__
    pick = (select(o.c.id).where(o.c.sent_at.is_(None), o.c.next_attempt_at <= now,
                                 o.c.attempts < MAX_ATTEMPTS)
            .order_by(o.c.next_attempt_at, o.c.id).limit(limit)
            .with_for_update(skip_locked=True))
    with unit_of_work(session):
        rows = session.execute(
            update(o).where(o.c.id.in_(picked(pick)), o.c.sent_at.is_(None), o.c.next_attempt_at <= now)
            .values(attempts=o.c.attempts + 1, next_attempt_at=now + LEASE)
            .returning(o.c.id, o.c.recipient, o.c.subject, o.c.body, o.c.attempts,
                       o.c.dedupe_key)).all()
    return [Mail(r.id, r.recipient, r.subject, r.body, kind_of(r.dedupe_key)) for r in rows], \
        {r.id: r.attempts for r in rows}


def send_pending(session: Session, transport: Transport, *, now: datetime | None = None,
                 limit: int = 100) -> dict[str, int]:
    """Claim and send due messages; record each result in its own small transaction.

    Returns ``{"sent": n, "failed": m}``. Never raises for a failing message: the error is
    kept on the row and the message is retried later.
    """
    now = now or clock.now()
    mails, attempts = claim(session, now, limit)
    o = OutboxMessage.__table__
    sent = failed = 0
    for mail in mails:
        try:
            transport(mail)
        except Exception as exc:  # noqa: BLE001 - any transport failure means "retry later"
            failed += 1
            retry = now + rules.retry_delay(attempts[mail.id])
            with unit_of_work(session):
                session.execute(update(o).where(o.c.id == mail.id, o.c.sent_at.is_(None))
                                .values(next_attempt_at=retry, last_error=str(exc)[:2000]))
            # The error's text may quote the address: kept on the row, not logged.
            log.warning("mail %s (%s) failed (attempt %s): %s%s", mail.id, mail.kind,
                        attempts[mail.id], type(exc).__name__,
                        f" {exc.smtp_code}" if getattr(exc, "smtp_code", None) else "")
            continue
        sent += 1
        with unit_of_work(session):
            session.execute(update(o).where(o.c.id == mail.id)
                            .values(sent_at=clock.now(), last_error=None))
    return {"sent": sent, "failed": failed}


def deliver_after_commit(app, *, rounds: int = MAX_ROUNDS) -> dict[str, int]:
    """Send what is pending with a session of its own (never the request's), in up to
    ``rounds`` claims of :data:`ROUND` messages (a request asks for one: its own few
    messages go out at once, a backlog is left to the scheduler or the sweep command)."""

    session = get_db(app).sessionmaker()
    transport = transport_for(app.config)
    total = {"sent": 0, "failed": 0}
    try:
        for _round in range(rounds):
            result = send_pending(session, transport, limit=ROUND)
            total = {k: total[k] + result[k] for k in total}
            if result["sent"] + result["failed"] < ROUND:
                break
        return total
    except Exception as exc:  # noqa: BLE001 - never fails the caller: the next sweep retries
        log.error("outbox delivery failed; it is retried by the next sweep\n%s",
                  describe_exception(exc))
        return {"sent": 0, "failed": 0}
    finally:
        session.close()
