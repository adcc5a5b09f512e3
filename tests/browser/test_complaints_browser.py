"""A complaint in a real browser: filed from the customer's page and taken through the
seven steps, each step's record filled in its form, to settled; the customer's page and
card show it meanwhile."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

# Each step's record as a person types it (local times before the fixed clock's 09:00).
STEPS = [
    ("receipt", {"received_via": ("select", "counter"), "taken_at": ("fill", "2026-03-02T08:05"),
                 "isolated": ("check", None)}),
    ("customer_account", {"statement": ("fill", "The redemption was paid a week late."),
                          "demand": ("fill", "Pay now and explain why.")}),
    ("apology", {"apologised_at": ("fill", "2026-03-02T08:20"),
                 "words": ("fill", "We are sorry for the trouble.")}),
    ("investigation", {"who": ("fill", "the teller"), "what": ("fill", "order not sent"),
                       "when": ("fill", "last Friday"), "where": ("fill", "the hall"),
                       "why": ("fill", "a system change"),
                       "cause_category": ("select", "system")}),
    ("solution", {"proposal": ("fill", "Pay at once with the interest lost.")}),
    ("customer_told", {"told_at": ("fill", "2026-03-02T08:40"),
                       "answer": ("select", "accepted")}),
    ("follow_up_contact", {"contacted_at": ("fill", "2026-03-02T08:55"),
                           "satisfaction": ("select", "satisfied")}),
]


def test_file_a_complaint_from_the_customers_page_and_settle_it(page, live_factory, login):
    manager = live_factory.user("manager", "Team A")
    customer = live_factory.prospect(manager, name="Wang Complaint")
    login(page, manager.email)
    page.goto(f"/prospects/{customer.id}")
    page.get_by_test_id("new-customer-complaint").click()
    assert page.get_by_test_id("complaint-customer").inner_text().endswith("Wang Complaint")
    page.fill("#summary", "Redemption paid a week late")
    page.fill("#category", "wealth")
    page.get_by_test_id("file-complaint").click()
    page.wait_for_url("**/complaints/*")
    assert "Complaint recorded" in page.locator(".flash").inner_text()
    assert page.get_by_test_id("handler").inner_text() == manager.name
    complaint_url = page.url

    for i, (record, fields) in enumerate(STEPS):
        form = page.locator(f'form[data-record="{record}"]')
        assert form.is_visible(), record  # the current step's record is open
        for key, (how, value) in fields.items():
            target = form.locator(f'[name="{record}-{key}"]')
            if how == "select":
                target.select_option(value)
            elif how == "check":
                target.check()
            else:
                target.fill(value)
        form.get_by_test_id("save-record").click()
        page.wait_for_load_state()
        assert "it is complete" in page.locator(".flash").inner_text(), record
        event = "win" if i == len(STEPS) - 1 else "advance"
        page.get_by_test_id(f"event-{event}").click()
        page.wait_for_load_state()
        assert "Done:" in page.locator(".flash").inner_text(), record

    assert page.get_by_test_id("settled").is_visible()
    assert page.get_by_test_id("status").inner_text() == "Settled"
    history = page.get_by_test_id("history")
    assert history.locator("li.ev-advance").count() == 6
    assert history.locator("li.ev-win").count() == 1

    # The customer's page lists it; the board card shows no open complaint any more.
    page.goto(f"/prospects/{customer.id}")
    listed = page.get_by_test_id("customer-complaints")
    assert "Redemption paid a week late" in listed.inner_text()
    listed.get_by_role("link").first.click()
    page.wait_for_url(complaint_url)
    page.goto("/board")
    assert page.locator(f"#card-{customer.id}").get_by_test_id("card-mark").count() == 0


def test_an_open_complaint_marks_the_customers_card(page, live_factory, login):
    manager = live_factory.user("manager", "Team A")
    customer = live_factory.prospect(manager, name="Card Mark")
    login(page, manager.email)
    page.goto(f"/complaints/new?customer={customer.id}")
    page.fill("#summary", "Queue too long")
    page.get_by_test_id("file-complaint").click()
    page.wait_for_url("**/complaints/*")
    page.goto("/board")
    mark = page.locator(f"#card-{customer.id}").get_by_test_id("card-mark")
    assert mark.inner_text() == "1 open complaint"
    page.goto("/board?workflow=complaint")
    assert page.locator('.column[data-stage="receive"] .kcard').count() >= 1
