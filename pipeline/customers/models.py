"""The branch's unallocated book: customers imported without a manager.

A customer with a manager is a prospect (:class:`pipeline.prospects.models.Prospect`); a
customer the branch has but nobody maintains yet is a row here, until allocation creates
their prospect (in the workflow's first stage, through the one event path) and removes the
row. A customer number is held once across both: by a prospect that is not lost, or by a
row here (the importer checks both, under one lock per import).
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Index, String, false
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
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)

    def __repr__(self) -> str:
        return f"<BookCustomer {self.id}>"
