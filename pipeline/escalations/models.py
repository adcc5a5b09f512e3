"""Escalations and handovers."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pipeline.auth.models import User
from pipeline.db import Base, UTCDateTime
from pipeline.engine.definition import DECISIONS  # noqa: F401  (the services import it here)

KINDS = ("stage_overdue", "no_meeting", "contact_overdue", "complaint_overdue",
         "retention_overdue")


class Escalation(Base):
    __tablename__ = "escalations"
    __table_args__ = (
        CheckConstraint("level IN (1, 2)", name="level"),
        CheckConstraint("status IN ('open', 'resolved')", name="status"),
        CheckConstraint(
            "(status = 'resolved') = (decision IS NOT NULL)", name="resolved_has_decision"),
        CheckConstraint(
            "decision IS NULL OR decision IN ('continue', 'reassign', 'abandon')",
            name="decision"),
        # One open escalation per prospect and stage visit (contact_overdue is per period).
        Index("uq_escalations_open_visit", "prospect_id", "clock_no", unique=True,
              sqlite_where=text("status = 'open' AND kind <> 'contact_overdue'"),
              postgresql_where=text("status = 'open' AND kind <> 'contact_overdue'")),
        Index("ix_escalations_queue", "status", "team_id", "level"),
        Index("ix_escalations_open_level_opened", "status", "level", "opened_at"),
        # A queue's page by age (oldest or newest first) over every level.
        Index("ix_escalations_status_opened", "status", "opened_at", "id"),
        # The after-sale report's contact-frequency escalations opened in a period.
        Index("ix_escalations_kind_opened", "kind", "opened_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    prospect_id: Mapped[int] = mapped_column(ForeignKey("prospects.id", ondelete="CASCADE"),
                                             index=True)
    kind: Mapped[str] = mapped_column(String(32))
    level: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(10), default="open")
    stage: Mapped[str] = mapped_column(String(64))
    clock_no: Mapped[int] = mapped_column()
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    raised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(Text)
    decision: Mapped[str | None] = mapped_column(String(16))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(Text)
    extend_days: Mapped[int | None] = mapped_column()
    new_owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])


class Handover(Base):
    __tablename__ = "handovers"

    id: Mapped[int] = mapped_column(primary_key=True)
    prospect_id: Mapped[int] = mapped_column(ForeignKey("prospects.id", ondelete="CASCADE"),
                                             index=True)
    from_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    to_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalations.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(Text)


# The inbox and the e-mail outbox belong to notifications; named here for older imports.
from pipeline.notifications.models import Notification, OutboxMessage  # noqa: E402,F401
