"""An event decided on the records another writer was changing: on PostgreSQL the records
come with the locking read, in a snapshot taken before the lock was granted, so the write
checks them under the lock and the event is decided again on the records now current."""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import sessionmaker

from pipeline.auth.models import User
from pipeline.auth.services import create_user
from pipeline.db import make_engine
from pipeline.errors import Invalid
from pipeline.prospects.models import Prospect, StageEvent, StageRecord
from pipeline.prospects.services import advance_prospect, create_prospect, save_record
from tests.factories import COMPLETE


def _waiting_for_a_lock(engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'")).scalar())


@pytest.mark.postgres_only
@pytest.mark.parametrize("emptied", [True, False])
def test_an_event_waiting_for_the_lock_is_decided_on_the_records_left_by_the_holder(
        committed, emptied):
    setup = committed.sessionmaker()
    owner = create_user(setup, "waiter@bank.test", role="manager", team="Race")
    p = create_prospect(setup, actor=owner, data={"name": "contested", "tier": "gold"})
    save_record(setup, p.id, "contact_log", actor=owner, data=COMPLETE["first_contact"][1])
    pid, owner_id = p.id, owner.id
    setup.close()
    engine = make_engine(committed.url, pool_size=4, max_overflow=0)
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    sr = StageRecord.__table__
    outcome: dict[str, str] = {}

    def fire() -> None:
        session = sessions()
        try:
            advance_prospect(session, pid, "advance", actor=session.get(User, owner_id))
            outcome["event"] = "advanced"
        except Invalid as exc:
            outcome["event"] = exc.code
        finally:
            session.close()

    # Another writer holds the prospect's lock and changes its record (emptied, or
    # rewritten with the same values) while the event waits for the lock.
    holder = engine.connect()
    held = holder.begin()
    holder.execute(select(Prospect.id).where(Prospect.id == pid).with_for_update())
    data = {} if emptied else dict(COMPLETE["first_contact"][1])
    holder.execute(update(sr).where(sr.c.prospect_id == pid, sr.c.record_key == "contact_log")
                   .values(data=data))
    waiter = threading.Thread(target=fire)
    waiter.start()
    deadline = time.monotonic() + 20
    while not _waiting_for_a_lock(engine) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _waiting_for_a_lock(engine)
    held.commit()
    holder.close()
    waiter.join(timeout=30)
    assert outcome == {"event": "transition_refused" if emptied else "advanced"}
    check = sessions()
    assert check.get(Prospect, pid).stage == ("first_contact" if emptied else "learn")
    assert [e for e in check.scalars(select(StageEvent.event).where(
        StageEvent.prospect_id == pid).order_by(StageEvent.seq))] == (
        ["create"] if emptied else ["create", "advance"])
    check.close()
    engine.dispose()
