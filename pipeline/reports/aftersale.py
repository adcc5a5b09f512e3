"""The after-sale report: retention, contact frequency, calls over the cap, maturities.

Per manager the viewer may see (:func:`pipeline.reports.queries.visible_managers`), over a
period of days in the viewer's time zone (both included), each figure in one grouped query:

* retention tasks due in the period: how many, done by their due time, escalated to the
  lead, and their outcomes (retained, partly retained, the customer left); the retention
  rate is retained and partly retained over the tasks with an outcome;
* after-sale customers who left the bank in the period (the ``leave`` event,
  counted apart from prospects lost before they closed);
* calls over the monthly cap made with a reason;
* maturities due in the period, and those contacted (their task closed) before the day
  ended.

and, per tier, the after-sale customers and the contact-frequency escalations opened in
the period (compliance is the share of customers without one).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from markupsafe import Markup, escape
from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.orm import Session

from pipeline import clock, labels
from pipeline.auth.models import Team
from pipeline.escalations.models import Escalation
from pipeline.prospects.models import CadenceTask, Contact, Prospect, StageEvent
from pipeline.reports.exports import Section
from pipeline.sql import seconds_between

DAY = 86400


@dataclass
class ManagerAfterSale:
    id: int
    name: str
    team: str | None
    retention: int = 0
    in_time: int = 0
    escalated: int = 0
    retained: int = 0
    partly: int = 0
    left_outcome: int = 0
    customers_left: int = 0
    over_cap: int = 0
    maturities: int = 0
    maturities_contacted: int = 0

    @property
    def retention_rate(self) -> float | None:
        judged = self.retained + self.partly + self.left_outcome
        return (self.retained + self.partly) / judged if judged else None

    @property
    def in_time_rate(self) -> float | None:
        return self.in_time / self.retention if self.retention else None

    @property
    def maturity_rate(self) -> float | None:
        return self.maturities_contacted / self.maturities if self.maturities else None


@dataclass
class TierCompliance:
    tier: str
    customers: int
    overdue: int

    @property
    def rate(self) -> float | None:
        return 1 - min(self.overdue, self.customers) / self.customers if self.customers \
            else None


@dataclass
class AfterSaleReport:
    start: date
    end: date
    managers: list[ManagerAfterSale]
    tiers: list[TierCompliance]
    total: ManagerAfterSale = field(init=False)

    def __post_init__(self) -> None:
        self.total = ManagerAfterSale(0, "", None)
        for m in self.managers:
            for name in _SUMMED:
                setattr(self.total, name, getattr(self.total, name) + getattr(m, name))


_SUMMED = ("retention", "in_time", "escalated", "retained", "partly", "left_outcome",
           "customers_left", "over_cap", "maturities", "maturities_contacted")


def bounds(start: date, end: date, tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    return (datetime.combine(start, time(), tzinfo=zone).astimezone(clock.UTC),
            datetime.combine(end + timedelta(days=1), time(), tzinfo=zone).astimezone(clock.UTC))


def after_sale_report(session: Session, managers: list[Any], start: date, end: date, *,
                      tz: str, retention_kind: str = "retention",
                      maturity_source: str = "maturity", among: Select | None = None
                      ) -> AfterSaleReport:
    """The report for ``managers`` (users, or rows with their ``id``, ``name`` and
    ``team_id``) over ``start``..``end`` (days in ``tz``); a fixed number of queries.

    ``among``: the same managers' ids as a statement (a branch's thousand managers are
    then one subquery in each statement instead of a thousand bound ids)."""
    lo, hi = bounds(start, end, tz)
    ids = [m.id for m in managers]

    def _of(col: Any) -> Any:
        return col.in_(ids if among is None else among)

    teams = dict(session.execute(select(Team.id, Team.name)).all())
    rows = {m.id: ManagerAfterSale(m.id, m.name, teams.get(m.team_id)) for m in managers}
    if ids:
        t = CadenceTask
        one = lambda cond: func.sum(case((cond, 1), else_=0))  # noqa: E731
        for r in session.execute(
                select(t.assignee_id, func.count(),
                       one(and_(t.done_at.is_not(None), t.done_at <= t.due_at)),
                       one(t.escalated_at.is_not(None)), one(t.outcome == "retained"),
                       one(t.outcome == "partly_retained"), one(t.outcome == "left"))
                .where(t.kind == retention_kind, _of(t.assignee_id), t.due_at >= lo,
                       t.due_at < hi).group_by(t.assignee_id)):
            if (m := rows.get(r[0])) is not None:
                (m.retention, m.in_time, m.escalated, m.retained, m.partly,
                 m.left_outcome) = (int(v or 0) for v in r[1:])
        # Contacted before the day ended: the task closed before the end of its due day
        # (a maturity is due at the start of its day in the bank's time zone).
        for r in session.execute(
                select(t.assignee_id, func.count(),
                       one(and_(t.done_at.is_not(None),
                                seconds_between(session, t.done_at, t.due_at) < DAY)))
                .where(t.source == maturity_source, _of(t.assignee_id), t.due_at >= lo,
                       t.due_at < hi).group_by(t.assignee_id)):
            if (m := rows.get(r[0])) is not None:
                m.maturities, m.maturities_contacted = int(r[1]), int(r[2] or 0)
        for owner, n in session.execute(
                select(StageEvent.owner_id, func.count()).where(
                    StageEvent.event == "leave", _of(StageEvent.owner_id),
                    StageEvent.at >= lo, StageEvent.at < hi).group_by(StageEvent.owner_id)):
            if (m := rows.get(owner)) is not None:
                m.customers_left = n
        for user, n in session.execute(
                select(Contact.user_id, func.count()).where(
                    Contact.override_reason.is_not(None), _of(Contact.user_id),
                    Contact.at >= lo, Contact.at < hi).group_by(Contact.user_id)):
            if (m := rows.get(user)) is not None:
                m.over_cap = n
    if ids and session.get_bind().dialect.name == "postgresql":
        # The tiers' lookups are costed above PostgreSQL's JIT threshold, and compiling
        # them takes longer than running them; the setting ends with the transaction.
        session.execute(select(func.set_config("jit", "off", True)))
    tiers = _tier_compliance(session, _of, lo, hi) if ids else []
    return AfterSaleReport(start, end, list(rows.values()), tiers)


def _tier_compliance(session: Session, of: Callable[[Any], Any], lo: datetime,
                     hi: datetime) -> list[TierCompliance]:
    customers = dict(session.execute(
        select(Prospect.tier, func.count()).where(Prospect.status == "won",
                                                  of(Prospect.owner_id))
        .group_by(Prospect.tier)).all())
    # Each escalated customer's tier by its key (a few thousand lookups in a month of a
    # branch), not a join that would read every prospect to find them.
    tier = select(Prospect.tier).where(Prospect.id == Escalation.prospect_id) \
        .scalar_subquery()
    overdue = dict(session.execute(
        select(tier, func.count(func.distinct(Escalation.prospect_id)))
        .where(Escalation.kind == "contact_overdue", of(Escalation.owner_id),
               Escalation.opened_at >= lo, Escalation.opened_at < hi)
        .group_by(tier)).all())
    return [TierCompliance(tier, customers.get(tier, 0), overdue.get(tier, 0))
            for tier in labels.TIERS if customers.get(tier) or overdue.get(tier)]


# One manager's row of the page's table, as the template wrote it (a branch's table has a
# thousand rows: written here with one escape per name instead of a template's per cell).
_ROW = """
    <tr%s data-testid="aftersale-row">
      <th scope="row">%s</th><td>%s</td>
      <td class="num">%d</td><td class="num">%d</td>
      <td class="num">%d</td><td class="num">%d</td>
      <td class="num">%d</td><td class="num">%d</td>
      <td class="num">%s</td><td class="num">%d</td>
      <td class="num">%d / %d</td>
      <td class="num">%d</td>
    </tr>
  """


def _shown_pct(value: float | None) -> str:
    return "–" if value is None else "%.1f%%" % (value * 100)


def team_totals(report: AfterSaleReport) -> list[ManagerAfterSale]:
    """Each team's total over its managers in the report, in the managers' order of
    teams (a team's row is named "Team total", its team beside it)."""
    out: dict[str | None, ManagerAfterSale] = {}
    name = _("Team total")
    for m in report.managers:
        row = out.get(m.team)
        if row is None:
            row = out[m.team] = ManagerAfterSale(-1, name, m.team or "–")
        for f in _SUMMED:
            setattr(row, f, getattr(row, f) + getattr(m, f))
    return sorted(out.values(), key=lambda r: r.team or "")


def table_rows(report: AfterSaleReport, *, teams_only: bool = False) -> Markup:
    """The page's rows: one per manager (or per team, ``teams_only``), then the total."""
    total = _("Total")
    shown = team_totals(report) if teams_only else report.managers
    return Markup("".join(_ROW % (
        "" if m.id else ' class="total"', escape(m.name or total), escape(m.team or ""),
        m.retention, m.in_time, m.escalated, m.retained, m.partly, m.left_outcome,
        _shown_pct(m.retention_rate), m.over_cap, m.maturities_contacted, m.maturities,
        m.customers_left) for m in [*shown, report.total]))


def _pct(value: float | None) -> Any:
    return None if value is None else round(value * 100, 1)


def sections(report: AfterSaleReport) -> list[Section]:
    """The report as download sections, headers in the reader's language."""
    managers = Section(_("After-sale work by manager"), [
        _("Manager"), _("Team"), _("Retention tasks"), _("Done in time"),
        _("Escalated"), _("Retained"), _("Partly retained"), _("Not retained"),
        _("Retention rate (%)"), _("Calls over the cap"), _("Maturities"),
        _("Contacted before the day"), _("Customers left")])
    for m in [*report.managers, report.total]:
        managers.rows.append([
            m.name or _("Total"), m.team or "", m.retention, m.in_time, m.escalated,
            m.retained, m.partly, m.left_outcome, _pct(m.retention_rate), m.over_cap,
            m.maturities, m.maturities_contacted, m.customers_left])
    tiers = Section(_("Contact frequency by tier"), [
        _("Tier"), _("After-sale customers"), _("Frequency not met"), _("Compliance (%)")])
    for t in report.tiers:
        tiers.rows.append([labels.label(labels.TIERS, t.tier), t.customers, t.overdue,
                           _pct(t.rate)])
    return [managers, tiers]
