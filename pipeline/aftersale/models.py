"""Customer events from the bank's daily file (maturities, large outflows, tier drops,
repayments): one row per event, whatever file brought it, so a row imported again is
recognised and ignored."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from pipeline import clock
from pipeline.db import Base, JSONData, UTCDateTime
from pipeline.engine.definition import CUSTOMER_EVENT_KINDS
from pipeline.prospects.models import one_of

EVENT_KEY_MAX = 300


class CustomerEvent(Base):
    """A customer event as the core banking system reported it. ``event_key`` (customer
    number, kind, date, product, amount) is unique: the same event twice is one row.
    ``prospect_id`` is the customer's prospect when the file was imported (None for a
    customer of the unallocated book); the task it opened has the key ``event:<id>``."""

    __tablename__ = "customer_events"
    __table_args__ = (
        CheckConstraint(one_of("kind", CUSTOMER_EVENT_KINDS), name="kind"),
        Index("ix_customer_events_prospect", "prospect_id", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_key: Mapped[str] = mapped_column(String(EVENT_KEY_MAX), unique=True)
    customer_no: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    day: Mapped[date] = mapped_column()
    amount: Mapped[float | None] = mapped_column()
    product: Mapped[str | None] = mapped_column(String(200))
    prospect_id: Mapped[int | None] = mapped_column(
        ForeignKey("prospects.id", ondelete="SET NULL"))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class Campaign(Base):
    """Event-driven marketing (事件驱动营销, seed 002): a market event, the customers it
    affects (chosen by tier, assets and product held, within the creator's scope) and the
    day they are to be contacted by. Each affected customer's owner gets a ``campaign`` task
    (key ``campaign:<id>``)."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(String(2000))
    due_on: Mapped[date] = mapped_column()
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    criteria: Mapped[dict] = mapped_column(JSONData(), default=dict)
    customers: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
