"""The branch's unallocated book: customers imported without a manager.

A customer with a manager is a prospect (:class:`pipeline.prospects.models.Prospect`); a
customer the branch has but nobody maintains yet is a row here, until allocation creates
their prospect (in the workflow's first stage, through the one event path) and removes the
row. A customer number is held once across both: by a prospect that is not lost, or by a
row here (the importer checks both, under one lock per import).

A manager may claim (申领) a customer of the book they know: a :class:`CustomerClaim`
waits for the supervisor, who approves it (the customer is allocated to that manager) or
refuses it with a note.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column

from pipeline import clock
from pipeline.db import Base, UTCDateTime
from pipeline.engine.definition import POTENTIALS, TIERS
from pipeline.prospects.models import one_of


class BookCustomer(Base):
    """A customer of the branch's book that no manager maintains yet."""

    __tablename__ = "book_customers"
    __table_args__ = (
        CheckConstraint(one_of("tier", TIERS), name="tier"),
        CheckConstraint(one_of("potential", POTENTIALS), name="potential"),
        # The allocation page filters the book by tier and assets.
        Index("ix_book_customers_tier_assets", "tier", "assets"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_no: Mapped[str] = mapped_column(String(32), unique=True)
    workflow_key: Mapped[str] = mapped_column(String(64), default="seven_step")
    name: Mapped[str] = mapped_column(String(200))
    id_number: Mapped[str | None] = mapped_column(String(40), unique=True)
    phone: Mapped[str | None] = mapped_column(String(40), index=True)
    birthday: Mapped[date | None] = mapped_column()
    assets: Mapped[float | None] = mapped_column()  # CNY under management at the bank
    potential: Mapped[str | None] = mapped_column(String(8))
    tier: Mapped[str] = mapped_column(String(20))
    # The tier was given (in the file) rather than taken from the assets.
    tier_manual: Mapped[bool] = mapped_column(default=False, server_default=false())
    area: Mapped[str | None] = mapped_column(String(64), index=True)  # the branch area
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)

    def __repr__(self) -> str:
        return f"<BookCustomer {self.id}>"


CLAIM_STATUSES = ("pending", "approved", "refused", "closed")
PENDING = "status = 'pending'"


class CustomerClaim(Base):
    """A manager's claim (申领) on a customer of the unallocated book.

    ``pending`` until the supervisor decides: ``approved`` (the customer was allocated to
    the manager: ``prospect_id``), ``refused`` (with ``decision_note``), or ``closed`` (the
    customer was allocated otherwise). One pending claim per customer and manager (a
    partial unique index)."""

    __tablename__ = "customer_claims"
    __table_args__ = (
        CheckConstraint(one_of("status", CLAIM_STATUSES), name="status"),
        Index("uq_customer_claims_pending", "customer_no", "manager_id", unique=True,
              sqlite_where=text(PENDING), postgresql_where=text(PENDING)),
        Index("ix_customer_claims_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_no: Mapped[str] = mapped_column(String(32))
    manager_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    note: Mapped[str | None] = mapped_column(Text)  # the manager's: how they know the customer
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str | None] = mapped_column(Text)
    prospect_id: Mapped[int | None] = mapped_column(
        ForeignKey("prospects.id", ondelete="SET NULL"))

    def __repr__(self) -> str:
        return f"<CustomerClaim {self.id} {self.status}>"
