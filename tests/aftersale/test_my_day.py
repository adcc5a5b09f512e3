"""My day: tasks grouped by kind with the customer, the tier and a one-line reason;
overdue ones say since when, today's say today and only they count as due today;
maturities show 7 days ahead; done with a note or an outcome from the page."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from pipeline import clock
from pipeline.aftersale import services
from pipeline.prospects.models import CadenceTask
from pipeline.prospects.queries import my_day

EVENTS = "customer_no,kind,date,amount,product\n"


def section(html: str, testid: str) -> str:
    return html.split(f'data-testid="{testid}"')[1].split("</section>")[0]


def test_my_day_groups_and_counts(client, session, factory):
    li = factory.user()
    li.locale = "en"
    session.commit()
    won = factory.prospect(li, "after_sale", name="Wang Fang", customer_no="C001",
                           assets=650000, tier=None)
    services.import_events(session, (
        EVENTS
        + "C001,maturity,2026-03-02,500000,Fixed deposit 3M\n"   # today (Shanghai)
        + "C001,maturity,2026-03-08,80000,Wealth plan B\n"      # in 6 days: upcoming
        + "C001,maturity,2026-03-12,1000,Far deposit\n"         # in 10 days: not shown
        + "C001,repayment_due,2026-02-27,4200,Mortgage\n"       # overdue
        + "C001,large_outflow,2026-03-01,300000,\n").encode(),  # due in 2 days
        kind="csv", actor=None)
    day = my_day(session, li, tz="Asia/Shanghai")
    assert [d.task.source for d in day.overdue_tasks] == ["repayment_due"]
    assert [d.task.source for d in day.today_tasks] == ["maturity"]
    assert [d.task.title for d in day.upcoming] == ["Wealth plan B · 80,000.00 · 2026-03-08"]
    client.post("/login", data={"email": li.email, "password": "secret-pass"})
    html = client.get("/my-day").get_data(as_text=True)
    today = section(html, "tasks-today")
    assert "Tasks due today" in today and "(1)" in today.split("</h2>")[0]
    assert "Wang Fang" in today and "Platinum" in today and "Today" in today
    assert "Maturity · Fixed deposit 3M · 500,000.00 · 2026-03-02" in today
    late = section(html, "tasks-overdue")
    assert "Overdue since 2026-02-27 00:00" in late and "Repayment reminder" in late
    upcoming = section(html, "tasks-upcoming")
    assert "Wealth plan B" in upcoming and "Far deposit" not in html
    assert "Large outflow" not in html  # due in two days, not yet on the day
    # Two days later the retention is due, then overdue, and grouped first.
    clock.set_now(clock.now() + timedelta(days=2, hours=1))
    day = my_day(session, li, tz="Asia/Shanghai")
    assert day.overdue_tasks[0].task.kind == "repayment"
    assert [d.task.kind for d in day.today_tasks] == ["retention"]
    html = client.get("/my-day").get_data(as_text=True)
    assert section(html, "tasks-today").index("Retention") >= 0
    retention = day.today_tasks[0].task
    r = client.post(f"/tasks/{retention.id}/done", data={
        "note": "Moved to a broker", "outcome": "left", "next": "/my-day"})
    assert r.status_code == 302
    session.expire_all()
    done = session.get(CadenceTask, retention.id)
    assert (done.outcome, done.done_note) == ("left", "Moved to a broker")
    assert won.id == done.prospect_id


def test_tasks_of_lost_customers_and_others_are_not_shown(session, factory):
    li = factory.user()
    other = factory.user()
    p = factory.prospect(li, customer_no="C001", tier="gold")
    q = factory.prospect(other, customer_no="C002", tier="gold")
    for prospect in (p, q):
        session.add(CadenceTask(prospect_id=prospect.id, key="callback:1", kind="callback",
                                assignee_kind="owner", assignee_id=prospect.owner_id,
                                clock_no=0, due_at=clock.now()))
    session.commit()
    day = my_day(session, li, tz="Asia/Shanghai")
    assert [(d.prospect_id, d.kind) for d in day.today_tasks] == [(p.id, "callback")]
    from pipeline.prospects.services import advance_prospect
    advance_prospect(session, p.id, "lose", actor=li, reason="Not interested")
    day = my_day(session, li, tz="Asia/Shanghai")
    assert [d.kind for d in day.today_tasks + day.overdue_tasks] == []
    assert session.scalar(select(CadenceTask.id).where(CadenceTask.prospect_id == p.id,
                                                       CadenceTask.kind == "callback"))


def test_a_callback_later_today_counts_as_today(session, factory):
    li = factory.user()
    p = factory.prospect(li, "after_sale", customer_no="C001", tier="gold")
    from pipeline.prospects.services import log_contact
    log_contact(session, p.id, actor=li, data={
        "kind": "call", "callback_at": datetime(2026, 3, 2, 8, 0, tzinfo=UTC)})
    day = my_day(session, li, tz="Asia/Shanghai")
    assert [d.kind for d in day.today_tasks] == ["callback"]
    clock.set_now(datetime(2026, 3, 3, 1, 0, tzinfo=UTC))
    day = my_day(session, li, tz="Asia/Shanghai")
    assert [d.kind for d in day.overdue_tasks] == ["callback"] and day.today_tasks == []


def test_the_prospect_page_lists_after_sale_tasks_apart(client, session, factory):
    li = factory.user()
    li.locale = "en"
    session.commit()
    p = factory.prospect(li, "after_sale", customer_no="C001", tier="gold")
    services.import_events(session, (EVENTS + "C001,maturity,2026-03-09,1000,Deposit\n")
                           .encode(), kind="csv", actor=None)
    client.post("/login", data={"email": li.email, "password": "secret-pass"})
    html = client.get(f"/prospects/{p.id}").get_data(as_text=True)
    care = html.split('<section class="card" id="care-tasks">')[1].split("</section>")[0]
    assert "Maturity" in care and "Deposit · 1,000.00 · 2026-03-09" in care
    assert "event:" not in html.split('id="tasks"')[1].split("</section>")[0]
    from pipeline.prospects.services import advance_prospect
    advance_prospect(session, p.id, "leave", actor=li, reason="Moved abroad")
    html = client.get(f"/prospects/{p.id}").get_data(as_text=True)
    assert "Customer left: Moved abroad" in html


def test_an_after_sale_card_shows_its_next_contact(client, session, factory):
    from pipeline.escalations.services import sweep_due

    li = factory.user()
    li.locale = "en"
    session.commit()
    factory.prospect(li, "after_sale", name="Sun Mei", customer_no="C001", tier="platinum")
    sweep_due(session, clock.now())  # sets the end of the contact period it judges next
    client.post("/login", data={"email": li.email, "password": "secret-pass"})
    html = client.get("/board").get_data(as_text=True)
    card = html.split("Sun Mei")[1].split("</article>")[0]
    assert 'data-testid="next-contact">Next contact by 2026-03-31<' in card
