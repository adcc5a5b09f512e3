"""Several sweeps and mail senders at once, each on its own connection, against committed
data: every warning, escalation, raise and e-mail happens exactly once."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from pipeline import clock
from pipeline.auth.models import Team, User
from pipeline.escalations.models import Escalation, Notification, OutboxMessage
from pipeline.escalations.outbox import send_pending
from pipeline.escalations.services import sweep_due
from pipeline.prospects.models import Prospect
from tests.conftest import T0

WORKERS = 4
OVERDUE, WARN, RAISE, CALM = 2400, 800, 400, 600


def _bulk_branch(db) -> dict:
    """A branch written in bulk (not through the services, to keep the test fast):
    OVERDUE prospects past due, WARN at 85 % of their clock, RAISE with a level-1
    escalation opened three days ago, CALM nowhere near due."""
    now = T0
    with db.engine.begin() as conn:
        team_id = conn.execute(insert(Team).values(name="Load team").returning(Team.id)).scalar()
        lead_id = conn.execute(insert(User).values(
            email="load-lead@bank.test", name="Load lead", role="team_lead", team_id=team_id,
            active=True).returning(User.id)).scalar()
        conn.execute(Team.__table__.update().where(Team.id == team_id).values(lead_id=lead_id))
        conn.execute(insert(User).values(email="load-sup@bank.test", name="Load supervisor",
                                         role="supervisor", active=True))
        managers = [conn.execute(insert(User).values(
            email=f"load-m{i}@bank.test", name=f"Manager {i}", role="manager", team_id=team_id,
            active=True).returning(User.id)).scalar() for i in range(20)]
        rows = []

        def add(n: int, started_days_ago: float) -> None:
            for _ in range(n):
                start = now - timedelta(days=started_days_ago)
                i = len(rows)
                rows.append({
                    "name": f"Load {i}", "tier": "gold", "owner_id": managers[i % 20],
                    "team_id": team_id, "stage": "first_contact", "status": "active",
                    "stage_entered_at": start, "clock_started_at": start,
                    "due_at": start + timedelta(days=21),
                    "warn_at": start + timedelta(days=21 * 0.8), "clock_no": 1,
                    "warned_clock_no": 1 if started_days_ago > 21 else 0})

        add(OVERDUE, 25)
        add(WARN, 18)
        add(RAISE, 30)
        add(CALM, 2)
        conn.execute(insert(Prospect), rows)
        raise_ids = [r.id for r in conn.execute(
            select(Prospect.id).where(Prospect.team_id == team_id,
                                      Prospect.stage_entered_at == now - timedelta(days=30)))]
        conn.execute(insert(Escalation), [{
            "prospect_id": pid, "kind": "stage_overdue", "level": 1, "status": "open",
            "stage": "first_contact", "clock_no": 1, "dedupe_key": f"stage:{pid}:1",
            "team_id": team_id, "owner_id": managers[0], "opened_at": now - timedelta(days=3),
            "due_at": now - timedelta(days=9)} for pid in raise_ids])
    return {"team_id": team_id, "lead_id": lead_id}


def _at_once(fn, n: int = WORKERS) -> list:
    barrier = threading.Barrier(n)

    def run(_i: int):
        barrier.wait()
        return fn()

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


@pytest.mark.postgres_only  # concurrent writers with row locks (SQLite has one writer at a time)
def test_four_sweeps_at_once_on_postgresql_create_everything_exactly_once(app, committed):
    db = committed
    branch = _bulk_branch(db)
    now = T0 + timedelta(minutes=1)
    clock.set_now(now)

    def sweep():
        session = db.sessionmaker()
        try:
            return sweep_due(session, now, batch=200)
        finally:
            session.close()

    results = _at_once(sweep)
    assert sum(r.escalated for r in results) == OVERDUE
    assert sum(r.warned for r in results) == WARN
    assert sum(r.raised for r in results) == RAISE

    with db.engine.connect() as conn:
        keys = conn.execute(select(Escalation.prospect_id, func.count())
                            .group_by(Escalation.prospect_id)).all()
        assert len(keys) == OVERDUE + RAISE and {n for _pid, n in keys} == {1}
        assert conn.scalar(select(func.count()).select_from(Escalation)
                           .where(Escalation.level == 2)) == RAISE
        by_kind = dict(conn.execute(select(Notification.kind, func.count())
                                    .group_by(Notification.kind)).all())
        assert by_kind["warning"] == WARN
        assert by_kind["overdue"] == OVERDUE
        # One to the lead per new escalation, one to the supervisor per raise.
        assert by_kind["escalation"] == OVERDUE + RAISE
        lead_notes = conn.scalar(select(func.count()).select_from(Notification).where(
            Notification.user_id == branch["lead_id"], Notification.kind == "escalation"))
        assert lead_notes == OVERDUE
        pending = conn.scalar(select(func.count()).select_from(OutboxMessage))

    # Running again at the same time finds nothing new.
    again = _at_once(sweep, 2)
    assert sum(r.escalated + r.warned + r.raised for r in again) == 0

    # Four mail senders at once: every message goes out once.
    sent: list[int] = []
    lock = threading.Lock()

    def transport(mail) -> None:
        with lock:
            sent.append(mail.id)

    def send():
        session = db.sessionmaker()
        total = 0
        try:
            while True:
                result = send_pending(session, transport, now=now, limit=150)
                total += result["sent"]
                if not result["sent"] and not result["failed"]:
                    return total
        finally:
            session.close()

    counts = _at_once(send)
    assert sum(counts) == pending == len(sent) == len(set(sent))
    with db.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(OutboxMessage)
                           .where(OutboxMessage.sent_at.is_(None))) == 0
        assert conn.scalar(select(func.max(OutboxMessage.attempts))) == 1
