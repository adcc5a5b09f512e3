"""Several SMS workers at once on PostgreSQL, each on its own connection, against committed
messages: every message goes to the gateway once."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, insert, select

from pipeline.auth.models import User
from pipeline.messages.models import SmsMessage
from pipeline.messages.outbox import send_pending
from pipeline.prospects.models import Prospect
from tests.conftest import T0

WORKERS, MESSAGES = 4, 600


@pytest.mark.postgres_only
def test_workers_at_once_send_each_message_once(committed):
    db = committed
    with db.engine.begin() as conn:
        owner = conn.execute(insert(User).values(
            email="sms-load@bank.test", name="Load manager", role="manager",
            active=True).returning(User.id)).scalar()
        pid = conn.execute(insert(Prospect).values(
            name="Load", tier="gold", owner_id=owner, stage="first_contact", status="active",
            stage_entered_at=T0, clock_started_at=T0, clock_no=1).returning(Prospect.id)).scalar()
        conn.execute(insert(SmsMessage), [{
            "prospect_id": pid, "owner_id": owner, "template": "t", "phone": f"1380000{i:04d}",
            "body": "x", "segments": 1, "status": "queued", "attempts": 0,
            "next_attempt_at": T0, "created_at": T0} for i in range(MESSAGES)])
    sent: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(WORKERS)

    class Gateway:
        name = "count"

        def send(self, sms):  # noqa: ANN001, ANN201
            with lock:
                sent.append(sms.id)
            return f"g{sms.id}"

    def work() -> int:
        session = db.sessionmaker()
        total = 0
        start.wait()
        try:
            while True:
                n = send_pending(session, Gateway(), now=T0, limit=50).sent
                total += n
                if not n:
                    return total
        finally:
            session.close()

    with ThreadPoolExecutor(WORKERS) as pool:
        counts = list(pool.map(lambda _i: work(), range(WORKERS)))
    assert sum(counts) == MESSAGES == len(sent) == len(set(sent))
    assert sum(1 for c in counts if c) > 1  # the workers shared the work
    with db.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(SmsMessage)
                           .where(SmsMessage.status != "sent")) == 0
        assert conn.scalar(select(func.max(SmsMessage.attempts))) == 1
