"""The after-sale report read with the managers in view as a subquery (the page's way, a
branch's thousand managers in one statement) gives the figures of their ids, and the
managers out of view count nowhere."""
from __future__ import annotations

from dataclasses import astuple
from datetime import date

from sqlalchemy import select

from pipeline import clock
from pipeline.aftersale import services
from pipeline.auth.models import User
from pipeline.escalations.services import sweep_due
from pipeline.prospects.services import advance_prospect, log_contact
from pipeline.reports import aftersale, queries


def test_subquery_and_ids_give_the_same_report(session, factory, client):
    lead = factory.user("team_lead", "Team A")
    li = factory.user("manager", "Team A")
    other = factory.user("manager", "Team B")
    a = factory.prospect(li, "after_sale", customer_no="C001", assets=900000, tier=None)
    b = factory.prospect(other, "after_sale", customer_no="C002", assets=300000, tier=None)
    services.import_events(session, (
        b"customer_no,kind,date,amount,product\n"
        b"C001,large_outflow,2026-03-02,300000,\n"
        b"C002,large_outflow,2026-03-02,500000,\n"
        b"C001,maturity,2026-03-03,100000,Deposit\n"
        b"C002,maturity,2026-03-04,100000,Deposit\n"), kind="csv", actor=None)
    for p, who in ((a, li), (b, other)):
        for _ in range(3):  # the month's cap
            log_contact(session, p.id, actor=who, data={"kind": "call"})
        log_contact(session, p.id, actor=who, data={"kind": "call", "override_reason": "Asked"})
    for who in (li, other, li):  # diamond customers not visited in April
        factory.prospect(who, "after_sale", tier="diamond", name="Zhao Min")
    clock.set_now(clock.parse("2026-04-30T16:00:01Z"))  # 1 May in Shanghai
    assert sweep_due(session, clock.now()).contact_overdue >= 3
    advance_prospect(session, b.id, "leave", actor=other, reason="Moved abroad")

    def report(viewer: User, **kw):
        managers = queries.visible_managers(session, viewer)
        return aftersale.after_sale_report(session, managers, date(2026, 3, 1),
                                           date(2026, 5, 31), tz="Asia/Shanghai", **kw)

    def figures(r):
        return [astuple(m) for m in r.managers], [astuple(t) for t in r.tiers]

    by_ids = report(lead)
    by_query = report(lead, among=queries.managers_seen(select(User.id), lead))
    assert figures(by_query) == figures(by_ids)
    assert [m.id for m in by_query.managers] == [li.id]
    assert (by_query.total.retention, by_query.total.maturities, by_query.total.over_cap,
            by_query.total.customers_left) == (1, 1, 1, 0)  # Team B's counted nowhere
    supervisor = factory.user("supervisor")
    branch = report(supervisor, among=queries.managers_seen(select(User.id), supervisor))
    assert figures(branch) == figures(report(supervisor))
    assert (branch.total.retention, branch.total.over_cap, branch.total.customers_left) \
        == (2, 2, 1)
    assert sum(t.customers for t in branch.tiers) == 4  # b left the bank
    overdue = {t.tier: t.overdue for t in branch.tiers}
    assert overdue["diamond"] == 3 and {t.tier: t.overdue for t in by_query.tiers}["diamond"] == 2


def test_the_rows_escape_names_and_end_with_the_total(app):
    report = aftersale.AfterSaleReport(date(2026, 3, 1), date(2026, 3, 31), [
        aftersale.ManagerAfterSale(7, "Li <b>&", "Team <A>", retention=2, retained=1,
                                   left_outcome=1, maturities=3, maturities_contacted=2)], [])
    with app.test_request_context():
        html = str(aftersale.table_rows(report))
    assert "Li &lt;b&gt;&amp;" in html and "Team &lt;A&gt;" in html and "<b>" not in html
    assert html.count('data-testid="aftersale-row"') == 2
    assert '<tr class="total" data-testid="aftersale-row">' in html.split("</tr>")[1]
    assert "50.0%" in html and "2 / 3" in html
