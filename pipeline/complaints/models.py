"""A complaint's own facts beside its case row, and the root-cause actions (溯源整改)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pipeline import clock
from pipeline.db import Base, UTCDateTime


class Complaint(Base):
    """What was received, when and by whom, and whom it names; the case itself (stage,
    status, handler as owner, limit, history, records) is its ``prospects`` row of the
    complaint workflow, with ``customer_id`` pointing at the customer's prospect."""

    __tablename__ = "complaints"

    prospect_id: Mapped[int] = mapped_column(
        ForeignKey("prospects.id", ondelete="CASCADE"), primary_key=True, autoincrement=False)
    summary: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(64), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    received_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # The employee the complaint is about: never its handler (回避).
    named_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)


class CauseAction(Base):
    """A corrective action on a recurring cause (溯源整改): what will be done about the
    cause, and who owns it."""

    __tablename__ = "complaint_actions"
    __table_args__ = (Index("ix_complaint_actions_cause", "workflow_key", "cause"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_key: Mapped[str] = mapped_column(String(64))
    cause: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
