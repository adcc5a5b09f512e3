"""The outbox sender: after commit, retries with backoff, never twice."""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from pipeline import clock
from pipeline.escalations import rules
from pipeline.escalations.models import OutboxMessage
from pipeline.escalations.outbox import MAX_ATTEMPTS, send_pending, transport_for
from pipeline.notifications.services import notify
from tests.conftest import T0


def queue_mail(session, factory, n=1):
    user = factory.user("manager", "Team A")
    for i in range(n):
        notify(session, user, "test", f"Hello {i}", dedupe_key=f"test:{i}")
    session.commit()
    return user


def test_sends_each_message_once(session, factory):
    user = queue_mail(session, factory, 3)
    sent = []
    assert send_pending(session, sent.append) == {"sent": 3, "failed": 0}
    assert sorted(m.subject for m in sent) == ["Hello 0", "Hello 1", "Hello 2"]
    assert {m.recipient for m in sent} == {user.email}
    assert send_pending(session, sent.append) == {"sent": 0, "failed": 0}
    clock.set_now(T0 + timedelta(days=3))
    assert send_pending(session, sent.append) == {"sent": 0, "failed": 0}
    rows = session.scalars(select(OutboxMessage)).all()
    assert all(r.sent_at == T0 and r.attempts == 1 for r in rows)


def test_failure_is_retried_with_backoff(session, factory):
    queue_mail(session, factory)
    calls = []

    def broken(mail):
        calls.append(mail.id)
        raise OSError("connection refused")

    assert send_pending(session, broken) == {"sent": 0, "failed": 1}
    row = session.scalars(select(OutboxMessage)).one()
    session.refresh(row)
    assert row.sent_at is None and row.attempts == 1 and "refused" in row.last_error
    assert row.next_attempt_at == T0 + rules.retry_delay(1)
    # Not before the backoff has passed.
    assert send_pending(session, broken) == {"sent": 0, "failed": 0}
    clock.set_now(row.next_attempt_at)
    sent = []
    assert send_pending(session, sent.append) == {"sent": 1, "failed": 0}
    session.refresh(row)
    assert row.sent_at is not None and row.attempts == 2 and row.last_error is None
    assert len(calls) == 1 and len(sent) == 1


def test_gives_up_after_the_last_attempt(session, factory):
    queue_mail(session, factory)

    def broken(mail):
        raise OSError("down")

    for i in range(MAX_ATTEMPTS + 2):
        clock.set_now(T0 + timedelta(days=i))
        send_pending(session, broken)
    row = session.scalars(select(OutboxMessage)).one()
    session.refresh(row)
    assert row.attempts == MAX_ATTEMPTS and row.sent_at is None


def test_a_claimed_message_is_not_taken_by_another_sender(session, factory):
    from pipeline.escalations.outbox import claim

    queue_mail(session, factory, 2)
    first, _ = claim(session, T0, 10)
    second, _ = claim(session, T0, 10)
    assert len(first) == 2 and second == []


def test_backoff_grows_and_is_capped():
    delays = [rules.retry_delay(n) for n in range(1, 12)]
    assert delays == sorted(delays) and delays[0] == timedelta(minutes=1)
    assert delays[-1] == timedelta(hours=6)


def test_without_smtp_the_log_names_the_mail_not_its_content(session, factory, app, caplog):
    user = queue_mail(session, factory)
    with caplog.at_level(logging.INFO, logger="pipeline.outbox"):
        assert send_pending(session, transport_for({}))["sent"] == 1
    row = session.scalars(select(OutboxMessage)).one()
    assert f"mail {row.id} (test)" in caplog.text
    assert "Hello 0" not in caplog.text and user.email not in caplog.text


def test_smtp_when_configured(session, factory, monkeypatch):
    queue_mail(session, factory)
    delivered = []

    class FakeSMTP:
        def __init__(self, host, port, timeout):
            delivered.append((host, port))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def send_message(self, msg):
            delivered.append(msg)

    monkeypatch.setattr("smtplib.SMTP", FakeSMTP)
    transport = transport_for({"PIPELINE_SMTP_HOST": "mail.bank", "PIPELINE_SMTP_PORT": 2525,
                               "PIPELINE_MAIL_FROM": "pipeline@bank.test"})
    assert send_pending(session, transport)["sent"] == 1
    assert delivered[0] == ("mail.bank", 2525)
    msg = delivered[1]
    assert msg["Subject"] == "Hello 0" and msg["Message-ID"].endswith("@bank.test>")


def test_after_commit_delivery_in_rounds(app, session, factory):
    from pipeline.escalations.outbox import ROUND, deliver_after_commit

    queue_mail(session, factory, ROUND + 20)
    assert deliver_after_commit(app, rounds=1) == {"sent": ROUND, "failed": 0}
    assert deliver_after_commit(app) == {"sent": 20, "failed": 0}
    assert deliver_after_commit(app) == {"sent": 0, "failed": 0}
