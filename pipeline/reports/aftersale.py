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

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from pipeline import clock, labels
from pipeline.auth.models import Team, User
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
            for name in ("retention", "in_time", "escalated", "retained", "partly",
                         "left_outcome", "customers_left", "over_cap", "maturities",
                         "maturities_contacted"):
                setattr(self.total, name, getattr(self.total, name) + getattr(m, name))


def bounds(start: date, end: date, tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    return (datetime.combine(start, time(), tzinfo=zone).astimezone(clock.UTC),
            datetime.combine(end + timedelta(days=1), time(), tzinfo=zone).astimezone(clock.UTC))


def after_sale_report(session: Session, managers: list[User], start: date, end: date, *,
                      tz: str, retention_kind: str = "retention",
                      maturity_source: str = "maturity") -> AfterSaleReport:
    """The report for ``managers`` over ``start``..``end`` (days in ``tz``); a fixed
    number of queries."""
    lo, hi = bounds(start, end, tz)
    ids = [m.id for m in managers]
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
                .where(t.kind == retention_kind, t.assignee_id.in_(ids), t.due_at >= lo,
                       t.due_at < hi).group_by(t.assignee_id)):
            m = rows[r[0]]
            (m.retention, m.in_time, m.escalated, m.retained, m.partly,
             m.left_outcome) = (int(v or 0) for v in r[1:])
        # Contacted before the day ended: the task closed before the end of its due day
        # (a maturity is due at the start of its day in the bank's time zone).
        for r in session.execute(
                select(t.assignee_id, func.count(),
                       one(and_(t.done_at.is_not(None),
                                seconds_between(session, t.done_at, t.due_at) < DAY)))
                .where(t.source == maturity_source, t.assignee_id.in_(ids), t.due_at >= lo,
                       t.due_at < hi).group_by(t.assignee_id)):
            rows[r[0]].maturities, rows[r[0]].maturities_contacted = int(r[1]), int(r[2] or 0)
        for owner, n in session.execute(
                select(StageEvent.owner_id, func.count()).where(
                    StageEvent.event == "leave", StageEvent.owner_id.in_(ids),
                    StageEvent.at >= lo, StageEvent.at < hi).group_by(StageEvent.owner_id)):
            rows[owner].customers_left = n
        for user, n in session.execute(
                select(Contact.user_id, func.count()).where(
                    Contact.override_reason.is_not(None), Contact.user_id.in_(ids),
                    Contact.at >= lo, Contact.at < hi).group_by(Contact.user_id)):
            rows[user].over_cap = n
    tiers = _tier_compliance(session, ids, lo, hi)
    return AfterSaleReport(start, end, list(rows.values()), tiers)


def _tier_compliance(session: Session, ids: list[int], lo: datetime, hi: datetime
                     ) -> list[TierCompliance]:
    if not ids:
        return []
    customers = dict(session.execute(
        select(Prospect.tier, func.count()).where(Prospect.status == "won",
                                                  Prospect.owner_id.in_(ids))
        .group_by(Prospect.tier)).all())
    overdue = dict(session.execute(
        select(Prospect.tier, func.count(func.distinct(Escalation.prospect_id)))
        .join(Prospect, Prospect.id == Escalation.prospect_id)
        .where(Escalation.kind == "contact_overdue", Escalation.owner_id.in_(ids),
               Escalation.opened_at >= lo, Escalation.opened_at < hi)
        .group_by(Prospect.tier)).all())
    return [TierCompliance(tier, customers.get(tier, 0), overdue.get(tier, 0))
            for tier in labels.TIERS if customers.get(tier) or overdue.get(tier)]


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
