"""The inbox: each notification in its reader's language at the time it is read (the one
they chose, else their browser's, else the app's), grouped per prospect per day, filtered
by kind and unread, marked read in bulk; a manager's own call list shows phone numbers in
full."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from pipeline import clock
from pipeline.db import unit_of_work
from pipeline.escalations.models import Notification
from pipeline.escalations.services import sweep_due
from pipeline.notifications.models import OutboxMessage
from pipeline.notifications.services import N_, Message, Recipient, notify_many, shown
from pipeline.prospects.privacy import mask
from tests.conftest import T0

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en-GB,en;q=0.9"}
OVERDUE = T0 + timedelta(days=21, seconds=1)


def sign_in(client, user):
    """Signs in without choosing a language (the toggle is never clicked)."""
    r = client.post("/login", data={"email": user.email, "password": "secret-pass"})
    assert r.status_code == 302


def test_a_notification_is_read_in_the_readers_language(client, session, factory):
    lead = factory.user("team_lead", "Team A")
    owner = factory.user("manager", "Team A")
    factory.prospect(owner, name="Zhou Min")
    assert lead.locale is None
    clock.set_now(OVERDUE)
    sweep_due(session, OVERDUE)
    sign_in(client, lead)
    en = client.get("/inbox", headers=EN).get_data(as_text=True)
    assert "Escalation: Zhou Min is overdue in First contact" in en
    assert "Decide in your escalation queue" in en
    zh = client.get("/inbox", headers=ZH).get_data(as_text=True)
    assert "Zhou Min" in zh and "初次接触" in zh and "Escalation:" not in zh
    # Chosen once, the language holds whatever the browser says.
    client.post("/language", data={"locale": "en", "next": "/inbox"})
    assert "Escalation: Zhou Min" in client.get("/inbox", headers=ZH).get_data(as_text=True)
    # The e-mail has no browser: the app's default language for who chose none.
    mail = session.scalars(select(OutboxMessage).where(
        OutboxMessage.recipient == lead.email)).one()
    assert "Escalation:" not in mail.subject and "Zhou Min" in mail.subject


def test_the_email_follows_a_chosen_language(session, factory):
    user = factory.user("manager", "Team A")
    with unit_of_work(session):
        user.locale = "en"
        notify_many(session, [Message(Recipient.of(user), "reminder",
                                      N_("Reminder for %(name)s: %(step)s is overdue"),
                                      {"name": "Li Lei", "step": "call"}, prospect_id=None)])
    mail = session.scalars(select(OutboxMessage).where(
        OutboxMessage.recipient == user.email)).one()
    assert mail.subject == "Reminder for Li Lei: call is overdue"
    note = session.scalars(select(Notification).where(Notification.user_id == user.id)).one()
    assert shown(note, "zh_CN").title != mail.subject and "Li Lei" in shown(note, "zh_CN").title


def test_user_text_with_a_percent_sign_is_shown_as_written(session, factory):
    user = factory.user("manager", "Team A")
    with unit_of_work(session):
        notify_many(session, [Message(Recipient.of(user), "decision",
                                      N_("%(lead)s abandoned %(name)s"),
                                      {"lead": "Lead", "name": "Li Lei"},
                                      text="100% sure: moved to another bank")])
    note = session.scalars(select(Notification).where(Notification.user_id == user.id)).one()
    assert shown(note, "en").body == "100% sure: moved to another bank"


def notes_for(session, user, prospects, at_days):
    """One reminder per (prospect, day offset) for ``user``."""
    with unit_of_work(session):
        for p in prospects:
            for d in at_days:
                clock.set_now(T0 + timedelta(days=d, hours=1))
                notify_many(session, [Message(
                    Recipient.of(user), "reminder" if d else "warning",
                    N_("Reminder for %(name)s: %(step)s is overdue"),
                    {"name": p.name, "step": f"step {d}"}, prospect_id=p.id,
                    dedupe_key=f"t:{p.id}:{d}")])


def test_grouped_per_prospect_per_day_and_filtered(client, session, factory):
    owner = factory.user("manager", "Team A")
    a = factory.prospect(owner, name="Group A")
    b = factory.prospect(owner, name="Group B")
    with unit_of_work(session):
        owner.locale = "en"
    notes_for(session, owner, [a, b], [0, 0, 0])  # three on the first day each (one kept)
    with unit_of_work(session):
        for i in range(3):
            notify_many(session, [Message(Recipient.of(owner), "reminder",
                                          N_("Reminder for %(name)s: %(step)s is overdue"),
                                          {"name": a.name, "step": f"extra {i}"},
                                          prospect_id=a.id)])
    clock.set_now(T0 + timedelta(days=1))
    notes_for(session, owner, [a], [1])
    sign_in(client, owner)
    html = client.get("/inbox").get_data(as_text=True)
    counts = re.findall(r'data-testid="inbox-group" data-count="(\d+)"', html)
    # a: day 1 (1), a: day 0 (warning + 3 extra), b: day 0 (1); newest group first.
    assert counts == ["1", "4", "1"]
    assert html.count('data-testid="notification"') == 6
    assert "3 earlier that day" in html
    reminders = client.get("/inbox?kind=reminder").get_data(as_text=True)
    assert reminders.count('data-testid="notification"') == 4
    assert 'data-kind="warning"' not in reminders


def test_marked_read_in_bulk_by_group_and_by_kind(client, session, factory):
    owner = factory.user("manager", "Team A")
    other = factory.user("manager", "Team A")
    a = factory.prospect(owner, name="Bulk A")
    b = factory.prospect(owner, name="Bulk B")
    c = factory.prospect(owner, name="Bulk C")
    notes_for(session, owner, [a, b, c], [0, 1])
    notes_for(session, other, [a], [0])
    sign_in(client, owner)
    html = client.get("/inbox?unread=1").get_data(as_text=True)
    ticks = re.findall(r'name="ids" value="([\d,]+)"', html)
    assert len(ticks) == 6
    # Two groups ticked, and an id of someone else's notification slipped in.
    foreign = session.scalar(select(Notification.id).where(Notification.user_id == other.id))
    client.post("/inbox/read", data={"ids": [ticks[0], ticks[1], str(foreign)],
                                     "next": "/inbox?unread=1"})
    session.expire_all()
    unread = session.scalars(select(Notification).where(
        Notification.user_id == owner.id, Notification.read_at.is_(None))).all()
    assert len(unread) == 4
    assert session.get(Notification, foreign).read_at is None
    left = client.get("/inbox?unread=1").get_data(as_text=True)
    assert left.count('data-testid="notification"') == 4
    # "Mark ticked" with nothing ticked marks nothing.
    r = client.post("/inbox/read", data={"ticked": "1"}, follow_redirects=True)
    assert "请勾选要标为已读的通知。" in r.get_data(as_text=True)  # the app default: Chinese
    session.expire_all()
    assert len(session.scalars(select(Notification).where(
        Notification.user_id == owner.id, Notification.read_at.is_(None))).all()) == 4
    # All of one kind.
    client.post("/inbox/read", data={"all": "1", "kind": "warning"})
    session.expire_all()
    assert {n.kind for n in session.scalars(select(Notification).where(
        Notification.user_id == owner.id, Notification.read_at.is_(None)))} == {"reminder"}
    client.post("/inbox/read", data={"all": "1"})
    session.expire_all()
    assert session.scalars(select(Notification).where(
        Notification.user_id == owner.id, Notification.read_at.is_(None))).all() == []
    assert session.get(Notification, foreign).read_at is None


def test_my_day_shows_the_owners_phones_in_full(client, session, factory):
    owner = factory.user("manager", "Team A")
    factory.prospect(owner, name="Call Me", phone="13912345678")
    clock.set_now(OVERDUE)
    sign_in(client, owner)
    html = client.get("/my-day").get_data(as_text=True)
    assert "13912345678" in html and mask("13912345678") not in html
