"""Lost updates are impossible: the version column and row locks let one writer win."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from pipeline.auth.services import create_user
from pipeline.db import make_engine
from pipeline.errors import Conflict
from pipeline.prospects.models import Prospect, StageEvent
from pipeline.prospects.services import advance_prospect, create_prospect, save_record
from tests.factories import COMPLETE


@pytest.mark.postgres_only
def test_twenty_threads_advance_with_the_same_version(committed):
    setup = committed.sessionmaker()
    owner = create_user(setup, "racer@bank.test", role="manager", team="Race")
    p = create_prospect(setup, actor=owner, data={"name": "contested", "tier": "gold"})
    save_record(setup, p.id, "contact_log", actor=owner, data=COMPLETE["first_contact"][1])
    pid, owner_id = p.id, owner.id
    setup.close()

    # Its own engine with a connection per thread: the app's pool holds fewer.
    engine = make_engine(committed.url, pool_size=20, max_overflow=0)
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    barrier = threading.Barrier(20, timeout=30)
    results: list[str] = []
    lock = threading.Lock()

    def fire() -> None:
        session = sessions()
        try:
            actor = session.get(type(owner), owner_id)
            barrier.wait()
            try:
                advance_prospect(session, pid, "advance", actor=actor, version=1)
                outcome = "ok"
            except Conflict:
                outcome = "conflict"
            with lock:
                results.append(outcome)
        finally:
            session.close()

    threads = [threading.Thread(target=fire) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == ["conflict"] * 19 + ["ok"]
    check = committed.sessionmaker()
    prospect = check.get(Prospect, pid)
    assert (prospect.stage, prospect.version) == ("learn", 2)
    advances = check.scalar(select(func.count()).select_from(StageEvent).where(
        StageEvent.prospect_id == pid, StageEvent.event == "advance"))
    assert advances == 1
    check.close()
    engine.dispose()
