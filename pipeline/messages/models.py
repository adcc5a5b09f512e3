"""The SMS outbox, the customers' replies, the templates supervisors edited, and the
phone number each manager signs messages with."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from pipeline import clock
from pipeline.db import Base, UTCDateTime

SMS_STATUSES = ("queued", "sent", "delivered", "failed")
TO_SEND = "status = 'queued'"


class SmsMessage(Base):
    """One SMS to a customer, written in the transaction of the change that causes it and
    delivered by the worker (:mod:`pipeline.messages.outbox`). ``step`` is the cadence
    step it does (None for another message), ``clock_no`` the stage visit; one message
    per step and visit (``dedupe_key``). ``last_error`` is a code (``http_500``,
    ``timeout``), never a text that could quote the number or the message."""

    __tablename__ = "sms_messages"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'sent', 'delivered', 'failed')", name="status"),
        # The worker's work list: only queued messages are in it.
        Index("ix_sms_messages_to_send", "next_attempt_at",
              postgresql_where=text(TO_SEND), sqlite_where=text(TO_SEND)),
        Index("ix_sms_messages_prospect", "prospect_id", "created_at"),
        Index("ix_sms_messages_owner_created", "owner_id", "created_at"),
        Index("ix_sms_messages_phone", "phone"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    prospect_id: Mapped[int] = mapped_column(ForeignKey("prospects.id", ondelete="CASCADE"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: the branch
    template: Mapped[str] = mapped_column(String(64))
    step: Mapped[str | None] = mapped_column(String(64))
    clock_no: Mapped[int | None] = mapped_column()
    phone: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    segments: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(64))
    gateway_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SmsReply(Base):
    """An SMS a customer sent back, received through the gateway's callback."""

    __tablename__ = "sms_replies"
    __table_args__ = (Index("ix_sms_replies_prospect", "prospect_id", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    prospect_id: Mapped[int | None] = mapped_column(
        ForeignKey("prospects.id", ondelete="CASCADE"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    gateway_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    body: Mapped[str] = mapped_column(Text)
    opt_out: Mapped[bool] = mapped_column(default=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class SmsTemplate(Base):
    """A supervisor's text of a workflow's template in one language; it overrides the
    workflow file's."""

    __tablename__ = "sms_templates"
    __table_args__ = (
        UniqueConstraint("workflow_key", "key", "locale", name="uq_sms_templates_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_key: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(Text)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class SmsSender(Base):
    """The phone number a manager gives customers in messages."""

    __tablename__ = "sms_senders"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    phone: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
