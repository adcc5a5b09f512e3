"""The customer-book import page in a real browser: upload a CSV, read the preview, import."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from pipeline.engine.identity import make_id_number
from pipeline.prospects.models import Prospect

pytestmark = pytest.mark.browser

HEADER = "customer_no,name,id_number,phone,birthday,assets,potential,tier,manager"


def test_upload_preview_and_import(page, live_factory, login, live_session, live_server,
                                   tmp_path):
    boss = live_factory.user("supervisor")
    manager = live_factory.user("manager", "Team A")
    seed = 700 if live_server.backend == "sqlite" else 800
    rows = []
    for n in (seed + 1, seed + 2):
        born = date(1981, 1, 1) + timedelta(days=n)
        rows.append(f"B{n:06d},Browser {n},{make_id_number('110101', born, n % 1000)},"
                    f"137{n:08d},{born.isoformat()},650000,high,,{manager.email}")
    book = tmp_path / "book.csv"
    book.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")

    login(page, boss.email)
    page.goto("/board")
    page.get_by_role("link", name="Import customers").click()
    page.get_by_label("Customer book file (CSV or XLSX)").set_input_files(str(book))
    page.get_by_role("button", name="Preview").click()
    preview = page.get_by_test_id("import-preview")
    preview.wait_for(state="visible")
    assert page.get_by_test_id("would-create").inner_text() == "2"
    assert page.get_by_test_id("would-allocate").inner_text() == "2"
    assert page.get_by_test_id("import-error").count() == 0
    live_session.rollback()
    assert live_session.scalars(select(Prospect).where(
        Prospect.owner_id == manager.id)).all() == []  # the preview wrote nothing

    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_text("Imported: 2 created, 0 updated, 2 allocated, 0 left unallocated.") \
        .wait_for(state="visible")
    live_session.rollback()
    names = sorted(live_session.scalars(select(Prospect.name).where(
        Prospect.owner_id == manager.id)).all())
    assert names == [f"Browser {seed + 1}", f"Browser {seed + 2}"]
