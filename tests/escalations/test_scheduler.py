"""The in-process scheduler: on only when configured, never in tests, once per process."""
from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from pipeline import clock
from pipeline.escalations import scheduler
from pipeline.escalations.models import Escalation, Handover
from pipeline.escalations.services import decide_escalation, sweep_due
from tests.conftest import T0


def bare_app(**config) -> Flask:
    app = Flask("t")
    app.config.update({"PIPELINE_SCHEDULER": False, "PIPELINE_SWEEP_MINUTES": 5, **config})
    return app


def test_off_by_default_and_in_tests(app, monkeypatch):
    assert app.testing and not scheduler.should_start(app)
    assert not scheduler.should_start(bare_app())
    assert not scheduler.should_start(bare_app(PIPELINE_SCHEDULER=True, TESTING=True))
    assert scheduler.should_start(bare_app(PIPELINE_SCHEDULER=True))


def test_only_the_reloader_child_sweeps(monkeypatch):
    debug_app = bare_app(PIPELINE_SCHEDULER=True, DEBUG=True)
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    assert not scheduler.should_start(debug_app)  # the watcher process
    monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true")
    assert scheduler.should_start(debug_app)


def test_started_once_per_process():
    app = bare_app(PIPELINE_SCHEDULER=True)
    try:
        first = scheduler.start(app)
        second = scheduler.start(app)
        assert first is not None and first is second
        job = first.get_job("sweep")
        assert job.trigger.interval == timedelta(minutes=5)
        assert job.max_instances == 1
    finally:
        scheduler.stop()
    assert scheduler.start(bare_app()) is None


def test_a_scheduled_run_sweeps_and_sends(app, session, factory, caplog):
    factory.user("team_lead", "Team A")
    owner = factory.user("manager", "Team A")
    factory.prospect(owner)
    clock.set_now(T0 + timedelta(days=21, seconds=1))
    summary = scheduler.run_once(app)
    assert summary["escalated"] == 1 and summary["mail"]["sent"] >= 2


def test_the_first_run_of_each_day_is_a_full_sweep(app, session, factory, monkeypatch):
    fulls = []
    real = sweep_due

    def spy(session, now=None, **kw):
        fulls.append(kw.get("full", False))
        return real(session, now, **kw)

    monkeypatch.setattr(scheduler, "sweep_due", spy)
    monkeypatch.setattr(scheduler, "_last_full", None)
    for moment in (T0, T0 + timedelta(minutes=5), T0 + timedelta(days=1),
                   T0 + timedelta(days=1, minutes=5)):
        clock.set_now(moment)
        scheduler.run_once(app)
    assert fulls == [True, False, True, False]


@pytest.mark.parametrize("viewer, status", [("new", 200), ("old", 200), ("lead", 200),
                                            ("stranger", 404)])
def test_handover_letter_page(client, session, factory, viewer, status):
    people = {"lead": factory.user("team_lead", "Team A"),
              "old": factory.user("manager", "Team A"),
              "new": factory.user("manager", "Team A"),
              "stranger": factory.user("manager", "Team B")}
    p = factory.prospect(people["old"], name="Zhou Xun")
    sweep_due(session, T0 + timedelta(days=21, seconds=1))
    esc = session.scalars(select(Escalation)).one()
    decide_escalation(session, esc.id, actor=people["lead"], decision="reassign",
                      new_owner=people["new"].id)
    handover = session.scalars(select(Handover).where(Handover.prospect_id == p.id)).one()
    client.post("/login", data={"email": people[viewer].email, "password": "secret-pass"})
    client.post("/language", data={"locale": "zh_CN", "next": "/"})
    r = client.get(f"/handovers/{handover.id}")
    assert r.status_code == status
    if status == 200:
        html = r.get_data(as_text=True)
        assert "尊敬的Zhou Xun" in html and people["new"].name in html
        assert "客户关系移交函" in html


def test_the_handover_page_shows_the_leads_note_beside_the_letter(client, session, factory):
    lead = factory.user("team_lead", "Team A")
    old, new = factory.user("manager", "Team A"), factory.user("manager", "Team A")
    p = factory.prospect(old, name="Zhou Xun")
    sweep_due(session, T0 + timedelta(days=21, seconds=1))
    esc = session.scalars(select(Escalation)).one()
    decide_escalation(session, esc.id, actor=lead, decision="reassign", new_owner=new.id,
                      note="Prefers calls after 18:00")
    handover = session.scalars(select(Handover).where(Handover.prospect_id == p.id)).one()
    client.post("/login", data={"email": new.email, "password": "secret-pass"})
    client.post("/language", data={"locale": "en", "next": "/"})
    html = client.get(f"/handovers/{handover.id}").get_data(as_text=True)
    assert f"Note from {lead.name}" in html
    assert "Prefers calls after 18:00" in html
    # The letter to the customer is signed once, by the old manager's name.
    assert html.count(f"{old.name}, customer manager") == 1


def test_a_reassignment_names_both_managers_in_the_history(client, session, factory):
    from pipeline.prospects.models import StageEvent

    lead = factory.user("team_lead", "Team A")
    old, new = factory.user("manager", "Team A"), factory.user("manager", "Team A")
    p = factory.prospect(old, name="Zhou Xun")
    sweep_due(session, T0 + timedelta(days=21, seconds=1))
    esc = session.scalars(select(Escalation)).one()
    decide_escalation(session, esc.id, actor=lead, decision="reassign", new_owner=new.id)
    row = session.scalars(select(StageEvent).where(
        StageEvent.prospect_id == p.id, StageEvent.event == "reassign")).one()
    assert row.data["from_owner"] == old.id and row.data["to_owner"] == new.id
    client.post("/login", data={"email": lead.email, "password": "secret-pass"})
    client.post("/language", data={"locale": "en", "next": "/"})
    html = client.get(f"/prospects/{p.id}").get_data(as_text=True)
    assert f"Reassigned: from {old.name} to {new.name}" in html
