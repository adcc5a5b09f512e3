"""The SMS worker: delivers the queued SMS through the configured gateway, with retries.

It works as the e-mail outbox's sender does (:mod:`pipeline.escalations.outbox`): a worker
first *claims* a batch in a short transaction of its own — ``UPDATE sms_messages SET
attempts = attempts + 1, next_attempt_at = <lease end> WHERE id IN (SELECT … FOR UPDATE
SKIP LOCKED) AND status = 'queued' AND next_attempt_at <= now RETURNING …`` — so the rows
it got are invisible to every other worker (another ``flask pipeline send``, the in-process
scheduler, another host) until the lease ends; then it hands each to the gateway and
records the result in a transaction per message. A message the gateway refused is tried
again after an exponential backoff (:func:`pipeline.escalations.rules.retry_delay`), and
marked ``failed`` after :data:`MAX_ATTEMPTS` tries or a refusal that no retry can help
(a 4xx). The step a sent message does is marked done in the transaction that records it
as sent.

The log names a message by its id and the error's code only, never the number or text.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from pipeline import clock
from pipeline.db import get_db, unit_of_work
from pipeline.escalations import rules
from pipeline.logs import describe_exception
from pipeline.messages.gateways import Gateway, GatewayError, Sms, gateway_for
from pipeline.messages.models import TO_SEND, SmsMessage
from pipeline.messages.services import mark_sent, resume_due
from pipeline.prospects.models import Prospect
from pipeline.sql import picked

log = logging.getLogger("pipeline.sms")

LEASE = timedelta(minutes=10)
MAX_ATTEMPTS = 6
ROUND, MAX_ROUNDS = 100, 50


@dataclass
class SendSummary:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    resumed: int = 0  # prospects whose pause for annoyance ended (by deliver)

    def as_dict(self) -> dict[str, int]:
        out = {"sent": self.sent, "retried": self.retried, "failed": self.failed}
        if self.resumed:
            out["resumed"] = self.resumed
        return out


def claim(session: Session, now: datetime, limit: int) -> list[tuple[Sms, int]]:
    """Take up to ``limit`` due queued messages for this worker (one transaction): each
    with its attempt number."""
    m = SmsMessage.__table__
    # TO_SEND verbatim, so both databases use the partial index of queued messages.
    pick = (select(m.c.id).where(text(TO_SEND), m.c.next_attempt_at <= now)
            .order_by(m.c.next_attempt_at, m.c.id).limit(limit)
            .with_for_update(skip_locked=True))
    with unit_of_work(session):
        rows = session.execute(
            update(m).where(m.c.id.in_(picked(pick)), m.c.status == "queued",
                            m.c.next_attempt_at <= now)
            .values(attempts=m.c.attempts + 1, next_attempt_at=now + LEASE)
            .returning(m.c.id, m.c.phone, m.c.body, m.c.attempts, m.c.prospect_id)).all()
        # A customer who opted out since the message was queued gets nothing.
        opted = set(session.scalars(select(Prospect.id).where(
            Prospect.id.in_({r.prospect_id for r in rows}),
            Prospect.sms_opt_out.is_(True)))) if rows else set()
        dropped = [r.id for r in rows if r.prospect_id in opted]
        if dropped:
            session.execute(update(m).where(m.c.id.in_(dropped)).values(
                status="failed", failed_at=now, last_error="opted_out"))
    return [(Sms(r.id, r.phone, r.body), r.attempts) for r in rows
            if r.prospect_id not in opted]


def send_pending(session: Session, gateway: Gateway, *, now: datetime | None = None,
                 limit: int = ROUND) -> SendSummary:
    """Claim and send due messages; record each result in its own transaction. Never
    raises for a message the gateway refuses: the code is kept on the row."""
    now = now or clock.now()
    summary = SendSummary()
    for sms, attempt in claim(session, now, limit):
        try:
            gateway_id = gateway.send(sms)
        except GatewayError as exc:
            final = exc.permanent or attempt >= MAX_ATTEMPTS
            values = {"last_error": exc.code[:64]}
            if final:
                values.update(status="failed", failed_at=now)
                summary.failed += 1
            else:
                values["next_attempt_at"] = now + rules.retry_delay(attempt)
                summary.retried += 1
            with unit_of_work(session):
                session.execute(update(SmsMessage).where(SmsMessage.id == sms.id,
                                                         SmsMessage.status == "queued")
                                .values(**values).execution_options(synchronize_session=False))
            log.warning("sms %s not sent (attempt %s): %s%s", sms.id, attempt, exc.code,
                        "; given up" if final else "")
            continue
        with unit_of_work(session):
            mark_sent(session, sms.id, gateway_id, clock.now())
        session.expire_all()
        summary.sent += 1
    return summary


def deliver(app: Flask, *, rounds: int = MAX_ROUNDS, now: datetime | None = None
            ) -> dict[str, int]:
    """The messages' run, with a session of its own: resume the pauses for annoyance
    that have ended, then send what is due in up to ``rounds`` claims of :data:`ROUND`
    messages. Never raises: a failure is logged and the next run retries."""
    session = get_db(app).sessionmaker()
    total = SendSummary()
    try:
        total.resumed = resume_due(session, now)
        gateway = gateway_for(app.config)
        for _round in range(rounds):
            result = send_pending(session, gateway, now=now, limit=ROUND)
            total.sent += result.sent
            total.retried += result.retried
            total.failed += result.failed
            if result.sent + result.retried + result.failed < ROUND:
                break
    except Exception as exc:  # noqa: BLE001 - the next run retries
        log.error("sms delivery failed; the next run retries\n%s", describe_exception(exc))
    finally:
        session.close()
    return total.as_dict()
