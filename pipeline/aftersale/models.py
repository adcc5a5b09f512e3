"""Customer events from the bank's daily file (maturities, large outflows, tier drops,
repayments): one row per event, whatever file brought it, so a row imported again is
recognised and ignored."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from pipeline import clock
from pipeline.db import Base, UTCDateTime
from pipeline.engine.definition import CUSTOMER_EVENT_KINDS
from pipeline.prospects.models import one_of

EVENT_KEY_MAX = 300


class CustomerEvent(Base):
    """A customer event as the core banking system reported it. ``event_key`` (customer
    number, kind, date, product, amount) is unique: the same event twice is one row.
    ``prospect_id`` is the customer's prospect when the file was imported (None for a
    customer of the unallocated book), ``task_id`` the task it opened."""

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
    task_id: Mapped[int | None] = mapped_column(
        ForeignKey("cadence_tasks.id", ondelete="SET NULL"))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
