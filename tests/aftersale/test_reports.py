"""The after-sale report: retention per manager (in time, escalated, outcomes, rate),
customers who left counted apart, calls over the cap, maturities contacted before the day,
contact-frequency compliance per tier; the page and its CSV and Excel downloads."""
from __future__ import annotations

import io
import zipfile
from datetime import date, timedelta

from openpyxl import load_workbook
from sqlalchemy import select

from pipeline import clock
from pipeline.aftersale import services
from pipeline.escalations.services import sweep_due
from pipeline.prospects.models import CadenceTask
from pipeline.prospects.services import advance_prospect, complete_task, log_contact
from pipeline.reports import aftersale


def test_the_figures_per_manager(session, factory, client):
    lead = factory.user("team_lead", "Team A")
    li = factory.user("manager", "Team A")
    wang = factory.user("manager", "Team A")
    a = factory.prospect(li, "after_sale", customer_no="C001", assets=900000, tier=None)
    b = factory.prospect(li, "after_sale", customer_no="C002", assets=300000, tier=None)
    c = factory.prospect(wang, "after_sale", customer_no="C003", assets=100000, tier=None)
    services.import_events(session, (
        b"customer_no,kind,date,amount,product\n"
        b"C001,large_outflow,2026-03-02,300000,\n"
        b"C002,tier_drop,2026-03-02,,\n"
        b"C003,large_outflow,2026-03-02,500000,\n"
        b"C001,maturity,2026-03-03,100000,Deposit\n"
        b"C003,maturity,2026-03-04,100000,Deposit\n"), kind="csv", actor=None)
    tasks = {(t.prospect_id, t.kind): t for t in session.scalars(select(CadenceTask).where(
        CadenceTask.kind != "cadence"))}
    complete_task(session, tasks[(a.id, "retention")].id, actor=li,
                  data={"outcome": "retained"})
    complete_task(session, tasks[(c.id, "retention")].id, actor=wang,
                  data={"outcome": "left", "note": "Bought a house abroad"})
    for _ in range(3):
        log_contact(session, b.id, actor=li, data={"kind": "call"})
    clock.set_now(clock.now() + timedelta(days=3))
    sweep_due(session, clock.now())  # b's retention is escalated
    log_contact(session, b.id, actor=li, data={"kind": "call", "override_reason": "Asked"})
    log_contact(session, a.id, actor=li, data={"kind": "sms"})  # after a's maturity day
    advance_prospect(session, c.id, "leave", actor=wang, reason="Moved abroad")
    report = aftersale.after_sale_report(session, [li, wang], date(2026, 3, 1),
                                         date(2026, 3, 31), tz="Asia/Shanghai")
    rows = {m.id: m for m in report.managers}
    assert (rows[li.id].retention, rows[li.id].in_time, rows[li.id].escalated,
            rows[li.id].retained, rows[li.id].retention_rate) == (2, 1, 1, 1, 1.0)
    assert (rows[wang.id].retention, rows[wang.id].left_outcome,
            rows[wang.id].retention_rate, rows[wang.id].customers_left) == (1, 1, 0.0, 1)
    assert rows[li.id].over_cap == 1 and rows[wang.id].over_cap == 0
    assert (rows[li.id].maturities, rows[li.id].maturities_contacted) == (1, 0)
    assert (report.total.retention, report.total.customers_left) == (3, 1)
    tiers = {t.tier: (t.customers, t.overdue) for t in report.tiers}
    assert sum(n for n, _ in tiers.values()) == 2  # c left the bank

    client.post("/login", data={"email": lead.email, "password": "secret-pass"})
    r = client.get("/reports/after-sale?from=2026-03-01&to=2026-03-31")
    assert r.status_code == 200
    assert r.get_data(as_text=True).count('data-testid="aftersale-row"') == 3
    r = client.get("/reports/after-sale.csv?from=2026-03-01&to=2026-03-31")
    assert r.status_code == 200 and r.mimetype == "application/zip"  # one CSV per table
    with zipfile.ZipFile(io.BytesIO(r.data)) as z:
        assert len(z.namelist()) == 2
        assert li.name in z.read(z.namelist()[0]).decode("utf-8-sig")
    r = client.get("/reports/after-sale.xlsx?from=2026-03-01&to=2026-03-31")
    book = load_workbook(io.BytesIO(r.data))
    assert len(book.worksheets) == 2
    assert client.get("/reports/after-sale?from=nonsense").status_code == 200
