"""The allocation page in a real browser: filter the unallocated book by area, tick two
customers, allocate them to a manager chosen by their count out of the cap."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from pipeline.customers import allocation, services
from pipeline.engine.identity import make_id_number
from pipeline.prospects.models import Prospect

pytestmark = pytest.mark.browser


def test_filter_tick_and_allocate(page, live_factory, login, live_session, live_server):
    boss = live_factory.user("supervisor")
    manager = live_factory.user("manager", "Team A")
    seed = 900 if live_server.backend == "sqlite" else 950
    area = f"Area {seed}"
    lines = [",".join([*services.COLUMNS, "area"])]
    for n in range(seed + 1, seed + 4):
        born = date(1982, 1, 1) + timedelta(days=n)
        lines.append(f"A{n:06d},Allocated {n},{make_id_number('110101', born, n % 1000)},"
                     f"136{n:08d},{born.isoformat()},{650000 + n},high,,,{area}")
    services.import_customers(live_session, ("\n".join(lines) + "\n").encode(), kind="csv",
                              actor=None)

    login(page, boss.email)
    page.goto("/board")
    page.get_by_role("link", name="Allocation").click()
    page.get_by_label("Branch area").select_option(area)
    page.get_by_label("Allocate to the managers of").select_option(label="Team A")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(lambda u: "area=" in u)
    rows = page.get_by_test_id("book-row")
    assert rows.count() == 3
    assert f"136{seed + 1:08d}" not in page.content()  # numbers masked
    page.get_by_label(f"Allocated {seed + 3}").check()
    page.get_by_label(f"Allocated {seed + 2}").check()
    choice = f"{manager.name} (0/{allocation.cap()})"
    page.get_by_label("Allocate to", exact=True).select_option(label=choice)
    page.get_by_role("button", name="Allocate", exact=True).click()
    page.get_by_text("2 customers allocated.").wait_for(state="visible")
    assert page.get_by_test_id("book-row").count() == 1  # the same filter, one left
    live_session.rollback()
    names = sorted(live_session.scalars(select(Prospect.name).where(
        Prospect.owner_id == manager.id)).all())
    assert names == [f"Allocated {seed + 2}", f"Allocated {seed + 3}"]
