"""The queues, the decision form, the inbox and the nav badges."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import event, select

from pipeline import clock
from pipeline.db import get_db
from pipeline.escalations.models import Escalation, Notification
from pipeline.escalations.services import sweep_due
from pipeline.prospects.models import Prospect
from tests.conftest import T0

OVERDUE = T0 + timedelta(days=21, seconds=1)


def login(client, user):
    r = client.post("/login", data={"email": user.email, "password": "secret-pass"})
    assert r.status_code == 302
    client.post("/language", data={"locale": "en", "next": "/"})


def branch(session, factory, n=2):
    lead = factory.user("team_lead", "Team A")
    owner = factory.user("manager", "Team A")
    other = factory.user("manager", "Team A")
    supervisor = factory.user("supervisor")
    prospects = [factory.prospect(owner, name=f"Customer {i}") for i in range(n)]
    clock.set_now(OVERDUE)
    sweep_due(session, OVERDUE)
    return lead, owner, other, supervisor, prospects


@contextmanager
def counting(app):
    seen: list[str] = []

    def count(*_args):
        seen.append(_args[2])

    engine = get_db(app).engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_lead_sees_the_team_queue_with_badge(client, session, factory):
    lead, owner, other, _sup, prospects = branch(session, factory)
    login(client, lead)
    page = client.get("/escalations")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for p in prospects:
        assert p.name in html
    assert owner.name in html and 'data-testid="decision-form"' in html
    assert 'data-testid="open_escalations">2<' in html
    assert other.name in html  # offered as the new manager


def test_managers_have_no_queue(client, session, factory):
    _lead, owner, *_ = branch(session, factory, 1)
    login(client, owner)
    assert client.get("/escalations").status_code == 403


def test_supervisor_sees_level_2(client, session, factory):
    _lead, _owner, _other, sup, prospects = branch(session, factory, 2)
    sweep_due(session, OVERDUE + timedelta(days=2, seconds=1))
    login(client, sup)
    html = client.get("/escalations?level=2").get_data(as_text=True)
    assert prospects[0].name in html and "Level 2" in html
    assert 'data-testid="open_escalations">2<' in html


def test_reassign_through_the_form(client, session, factory):
    lead, _owner, other, _sup, prospects = branch(session, factory, 1)
    esc = session.scalars(select(Escalation)).one()
    login(client, lead)
    r = client.post(f"/escalations/{esc.id}/decision", data={
        f"e{esc.id}-decision": "reassign", f"e{esc.id}-new_owner": str(other.id),
        f"e{esc.id}-note": "fresh start"}, follow_redirects=True)
    assert r.status_code == 200
    assert "reassigned" in r.get_data(as_text=True)
    session.expire_all()
    assert session.get(Prospect, prospects[0].id).owner_id == other.id
    assert session.get(Escalation, esc.id).status == "resolved"
    assert "No open escalations" in client.get("/escalations").get_data(as_text=True)


def test_a_refused_decision_is_explained_and_changes_nothing(client, session, factory):
    lead, *_ = branch(session, factory, 1)
    esc = session.scalars(select(Escalation)).one()
    login(client, lead)
    r = client.post(f"/escalations/{esc.id}/decision",
                    data={f"e{esc.id}-decision": "abandon"}, follow_redirects=True)
    assert "Give the reason" in r.get_data(as_text=True)
    session.expire_all()
    assert session.get(Escalation, esc.id).status == "open"


def test_others_get_404_or_403(client, session, factory):
    _lead, owner, *_ = branch(session, factory, 1)
    esc = session.scalars(select(Escalation)).one()
    stranger = factory.user("team_lead", "Team B")
    login(client, stranger)
    r = client.post(f"/escalations/{esc.id}/decision", data={f"e{esc.id}-decision": "continue"})
    assert r.status_code == 404
    client.post("/logout")
    login(client, owner)
    r = client.post(f"/escalations/{esc.id}/decision", data={f"e{esc.id}-decision": "continue"})
    assert r.status_code == 403


def test_queue_query_count_does_not_grow(app, client, session, factory):
    lead, owner, *_ = branch(session, factory, 2)
    login(client, lead)
    client.get("/escalations")
    with counting(app) as few:
        assert client.get("/escalations").status_code == 200
    for i in range(5):
        factory.prospect(owner, name=f"More {i}")
    clock.set_now(OVERDUE + timedelta(days=22))
    sweep_due(session, clock.now())
    assert len(session.scalars(select(Escalation).where(Escalation.status == "open")).all()) == 7
    with counting(app) as many:
        assert client.get("/escalations").status_code == 200
    assert len(many) == len(few)


def test_inbox_and_mark_read(client, session, factory):
    lead, *_ = branch(session, factory, 2)
    login(client, lead)
    html = client.get("/inbox").get_data(as_text=True)
    assert html.count('data-testid="notification"') == 2
    assert 'data-testid="unread_notifications">2<' in html
    first = session.scalars(select(Notification).where(Notification.user_id == lead.id)
                            .order_by(Notification.id)).first()
    client.post("/inbox/read", data={"ids": str(first.id)})
    html = client.get("/inbox").get_data(as_text=True)
    assert 'data-testid="unread_notifications">1<' in html
    client.post("/inbox/read", data={"ids": ""})
    html = client.get("/inbox").get_data(as_text=True)
    assert 'data-testid="unread_notifications"' not in html
    session.expire_all()
    assert all(n.read_at is not None for n in session.scalars(
        select(Notification).where(Notification.user_id == lead.id)))


def test_chinese_queue(client, session, factory):
    lead, *_ = branch(session, factory, 1)
    login(client, lead)
    client.post("/language", data={"locale": "zh_CN", "next": "/escalations"})
    html = client.get("/escalations").get_data(as_text=True)
    assert "初次接触" in html and "提交决定" in html and "新客户经理" in html


def test_continue_through_the_form_with_no_manager_chosen(client, session, factory):
    lead, owner, _other, _sup, prospects = branch(session, factory, 1)
    esc = session.scalars(select(Escalation)).one()
    login(client, lead)
    html = client.get("/escalations").get_data(as_text=True)
    assert 'value="0">—</option>' in html  # nobody is chosen unless the lead chooses
    r = client.post(f"/escalations/{esc.id}/decision", data={
        f"e{esc.id}-decision": "continue", f"e{esc.id}-new_owner": "0",
        f"e{esc.id}-extend_days": "10", f"e{esc.id}-note": ""}, follow_redirects=True)
    assert "Decision saved: continue." in r.get_data(as_text=True)
    session.expire_all()
    p = session.get(Prospect, prospects[0].id)
    assert p.due_at == OVERDUE + timedelta(days=10)
    assert p.owner_id == owner.id
