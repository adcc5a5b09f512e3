"""flask pipeline send, and the scheduler's run delivering the SMS outbox."""
from __future__ import annotations

import json

from sqlalchemy import select

from pipeline.escalations import scheduler
from pipeline.messages.models import SmsMessage


def test_the_send_command_delivers_the_outbox(runner, session, customer):
    result = runner.invoke(args=["pipeline", "send"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"sent": 1, "retried": 0, "failed": 0}
    session.expire_all()
    assert session.scalars(select(SmsMessage.status)).all() == ["sent"]
    again = runner.invoke(args=["pipeline", "send"])
    assert json.loads(again.output)["sent"] == 0
    bad = runner.invoke(args=["pipeline", "send", "--now", "tomorrow"])
    assert bad.exit_code == 2 and "ISO-8601" in bad.output


def test_the_scheduler_run_sends_too(app, session, customer):
    summary = scheduler.run_once(app)
    assert summary["sms"]["sent"] == 1
    session.expire_all()
    assert session.scalars(select(SmsMessage.status)).all() == ["sent"]
