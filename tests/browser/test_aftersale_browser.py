"""After-sale work in a real browser: a maturity from the day's event file on My day, done
with a note; the fourth call of the month refused on the prospect page with the count,
then logged with a reason the page shows."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from pipeline.aftersale import services
from pipeline.prospects.models import CadenceTask
from pipeline.prospects.services import log_contact

pytestmark = pytest.mark.browser


def test_my_day_maturity_and_the_call_cap(page, live_factory, login, live_session,
                                          live_server):
    manager = live_factory.user("manager", "Team A")
    number = "AS1" if live_server.backend == "sqlite" else "AS2"
    customer = live_factory.prospect(manager, "after_sale", name="Qian Hui",
                                     customer_no=number, assets=900000, tier=None)
    for _ in range(3):
        log_contact(live_session, customer.id, actor=manager, data={"kind": "call"})
    # After the calls (a contact closes the customer's tasks due that day).
    services.import_events(live_session, (
        "customer_no,kind,date,amount,product\n"
        f"{number},maturity,2026-03-02,500000,Fixed deposit 1Y\n").encode(), kind="csv",
        actor=None)

    login(page, manager.email)
    page.goto("/my-day")
    today = page.get_by_test_id("tasks-today")
    assert "Qian Hui" in today.inner_text()
    assert "Fixed deposit 1Y · 500,000.00 · 2026-03-02" in today.inner_text()
    today.get_by_placeholder("Note").fill("Rolled over for a year")
    today.get_by_role("button", name="Mark done").click()
    page.get_by_text("Task done.").wait_for(state="visible")
    assert "Qian Hui" not in page.get_by_test_id("tasks-today").inner_text()
    live_session.rollback()
    task = live_session.scalars(select(CadenceTask).where(
        CadenceTask.prospect_id == customer.id, CadenceTask.kind == "maturity")).one()
    assert task.done_note == "Rolled over for a year"

    page.goto(f"/prospects/{customer.id}")
    page.get_by_label("Kind").select_option("call")
    page.get_by_role("button", name="Log contact").click()
    page.get_by_text("The customer has had 3 calls this month").wait_for(state="visible")
    page.get_by_label("Reason to call over the monthly cap").fill("Asked about the rate")
    page.get_by_role("button", name="Log contact").click()
    page.get_by_text("Contact logged.").wait_for(state="visible")
    assert "Over the monthly call cap: Asked about the rate" in \
        page.get_by_test_id("override").first.inner_text()
