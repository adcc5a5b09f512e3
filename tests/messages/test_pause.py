"""Annoyance: contact pauses until a day, then resumes by itself."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from pipeline import clock
from pipeline.errors import Invalid
from pipeline.messages import services
from pipeline.messages.outbox import deliver
from pipeline.prospects.models import CadenceTask, Prospect, StageEvent
from pipeline.prospects.services import advance_prospect
from tests.api.conftest import Api
from tests.conftest import T0


def test_a_pause_with_an_until_date_resumes_on_that_day(app, session, customer, manager):
    until = T0 + timedelta(days=10)
    services.pause_contact(session, customer.id, actor=manager, until=until.isoformat(),
                           reason="客户表示最近很忙，不希望被打扰")
    session.expire_all()
    p = session.get(Prospect, customer.id)
    assert p.status == "paused"
    row = session.scalars(select(StageEvent).where(StageEvent.prospect_id == p.id,
                                                   StageEvent.event == "pause")).one()
    assert row.data == {"until": until.isoformat()} and row.reason.startswith("客户")
    task = session.scalars(select(CadenceTask).where(
        CadenceTask.key == services.RESUME_CONTACT)).one()
    assert (task.due_at, task.assignee_id, task.done_at) == (until, manager.id, None)
    due_before = p.due_at
    assert services.resume_due(session, until - timedelta(seconds=1)) == 0
    clock.set_now(until)
    assert services.resume_due(session, until) == 1
    session.expire_all()
    p = session.get(Prospect, customer.id)
    assert p.status == "active" and p.due_at == due_before + timedelta(days=10)
    assert session.get(CadenceTask, task.id).done_at == until
    assert services.resume_due(session, until + timedelta(days=1)) == 0


def test_resuming_by_hand_closes_the_pause_task(session, customer, manager):
    services.pause_contact(session, customer.id, actor=manager, until="2026-03-20",
                           reason="厌烦")
    clock.set_now(T0 + timedelta(days=2))
    advance_prospect(session, customer.id, "resume", actor=manager)
    task = session.scalars(select(CadenceTask).where(
        CadenceTask.key == services.RESUME_CONTACT)).one()
    session.refresh(task)
    assert task.done_at == T0 + timedelta(days=2)


@pytest.mark.parametrize(("until", "reason", "field"), [
    (None, "x", "until"), ("soon", "x", "until"), ("2026-03-01", "x", "until"),
    ("2028-03-01", "x", "until"), ("2026-03-10", "  ", "reason"),
])
def test_bad_input_names_the_field(session, customer, manager, until, reason, field):
    with pytest.raises(Invalid) as exc:
        services.pause_contact(session, customer.id, actor=manager, until=until,
                               reason=reason)
    assert field in exc.value.details
    session.expire_all()
    assert session.get(Prospect, customer.id).status == "active"


def test_the_api_and_the_worker_run(app, client, session, factory, customer, manager):
    api = Api(client, factory.token(manager))
    r = api.post(f"/api/v1/prospects/{customer.id}/pause-contact",
                 {"until": "2026-03-05T01:00:00Z", "reason": "客户反感"})
    assert r.status_code == 200 and r.get_json()["status"] == "paused"
    r = api.post(f"/api/v1/prospects/{customer.id}/pause-contact",
                 {"until": "2026-03-06T01:00:00Z", "reason": "again"})
    assert r.status_code == 422  # already paused
    session.commit()
    summary = deliver(app, now=T0 + timedelta(days=3, hours=1))
    assert summary.get("resumed") == 1
    session.expire_all()
    assert session.get(Prospect, customer.id).status == "active"
