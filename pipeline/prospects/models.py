"""Prospects, their immutable stage-event history, stage records, cadence tasks, contacts."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pipeline import clock
from pipeline.auth.models import Team, User
from pipeline.db import Base, JSONData, UTCDateTime
from pipeline.engine.definition import CONTACT_KINDS, POTENTIALS, STATUSES, TIERS


def one_of(column: str, values: tuple[str, ...]) -> str:
    """The CHECK clause that keeps ``column`` among the definition's ``values``."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


TO_WARN = "status = 'active' AND warned_clock_no < clock_no"
TO_ESCALATE = "status = 'active' AND escalated_clock_no < clock_no"
# The sweep's reminder work list: open first-contact steps not yet reminded. Only that
# kind: the after-sale tasks (a daily feed makes a million) would otherwise fill the
# index's range of the last month for the sweep to walk past every few minutes.
TO_REMIND = "done_at IS NULL AND reminded_at IS NULL AND kind = 'cadence'"
# The sweep's retention work list: open retention tasks not yet reported to the lead.
TO_REPORT = "done_at IS NULL AND escalated_at IS NULL AND kind = 'retention'"
CAMPAIGN_TASK = "kind = 'campaign'"  # a campaign's tasks, found by their key
CADENCE = "cadence"  # the kind of a first-contact step (or the lead's follow-up call)
AFTER_SALE_TASK = "kind <> 'cadence'"
SOURCED_TASK = "source IS NOT NULL"  # a task a customer event made
OVER_CAP = "override_reason IS NOT NULL"  # a call made over the monthly cap
# One customer, one manager: a customer number or a full ID number belongs to at most one
# prospect that is not lost (the unique indexes below decide, also between two concurrent
# inserts).
BOARD_OPEN = "status IN ('active', 'paused', 'won')"
HELD_CUSTOMER_NO = "status <> 'lost' AND customer_no IS NOT NULL"
HELD_ID_NUMBER = "status <> 'lost' AND id_number IS NOT NULL"


class Prospect(Base):
    __tablename__ = "prospects"
    __table_args__ = (
        CheckConstraint(one_of("status", STATUSES), name="status"),
        CheckConstraint(one_of("tier", TIERS), name="tier"),
        CheckConstraint(one_of("potential", POTENTIALS), name="potential"),
        CheckConstraint(
            "(status = 'lost') = (lost_reason IS NOT NULL AND lost_reason <> '')",
            name="lost_has_reason"),
        CheckConstraint("(status = 'paused') = (paused_at IS NOT NULL)", name="paused_since"),
        Index("ix_prospects_owner_board", "owner_id", "status", "stage"),
        Index("ix_prospects_team_board", "team_id", "status", "stage"),
        Index("ix_prospects_status_due", "status", "due_at"),
        # The won cases of a workflow by due time: the sweep's after-sale customers of the
        # workflows that keep contact frequencies, without the settled complaints.
        Index("ix_prospects_won_workflow_due", "workflow_key", "due_at",
              postgresql_where=text("status = 'won'"), sqlite_where=text("status = 'won'")),
        # The after-sale report's customers by tier, of a team's or a branch's managers.
        Index("ix_prospects_status_owner", "status", "owner_id", "tier"),
        # A whole-branch board: each column's open prospects in the board's order (due time,
        # none last, then id; status included for the overdue count), and the columns'
        # counts from the narrowest index of the open prospects.
        Index("ix_prospects_board_order", "workflow_key", "stage", "due_at", "id",
              postgresql_where=text(BOARD_OPEN), sqlite_where=text(BOARD_OPEN),
              postgresql_include=["status"]),
        Index("ix_prospects_open_stage", "workflow_key", "stage",
              postgresql_where=text(BOARD_OPEN), sqlite_where=text(BOARD_OPEN)),
        # The deadline sweep's work lists: only visits it has not yet warned or escalated are
        # in these indexes, so a sweep with nothing due reads (next to) nothing, however many
        # prospects there are. The WHERE clauses must match the sweep's queries.
        Index("ix_prospects_to_warn", "warn_at",
              postgresql_where=text(TO_WARN), sqlite_where=text(TO_WARN)),
        Index("ix_prospects_to_escalate", "due_at", "id",
              postgresql_where=text(TO_ESCALATE), sqlite_where=text(TO_ESCALATE)),
        Index("uq_prospects_customer_no", "customer_no", unique=True,
              postgresql_where=text(HELD_CUSTOMER_NO), sqlite_where=text(HELD_CUSTOMER_NO)),
        Index("uq_prospects_id_number", "id_number", unique=True,
              postgresql_where=text(HELD_ID_NUMBER), sqlite_where=text(HELD_ID_NUMBER)),
        # Search by a whole number, lost prospects included.
        Index("ix_prospects_customer_no", "customer_no"),
        Index("ix_prospects_id_number", "id_number"),
        Index("ix_prospects_phone", "phone"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow_key: Mapped[str] = mapped_column(String(64), default="seven_step")
    name: Mapped[str] = mapped_column(String(200), index=True)
    tier: Mapped[str] = mapped_column(String(20))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    stage: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), default="active")
    stage_entered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    clock_started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paused_seconds: Mapped[int] = mapped_column(default=0)
    clock_no: Mapped[int] = mapped_column(default=1)
    warned_clock_no: Mapped[int] = mapped_column(default=0)
    # The stage visit (clock) that has its stage escalation (stage_overdue or no_meeting);
    # kept by the sweep and open_no_meeting beside the escalation's unique key, which alone
    # decides exactly-once: this column only keeps escalated visits out of the sweep's index.
    escalated_clock_no: Mapped[int] = mapped_column(default=0)
    lost_reason: Mapped[str | None] = mapped_column(Text)
    id_number: Mapped[str | None] = mapped_column(String(40))
    phone: Mapped[str | None] = mapped_column(String(40))
    assets: Mapped[float | None] = mapped_column()  # CNY under management at the bank
    customer_no: Mapped[str | None] = mapped_column(String(32))  # the bank's customer number
    birthday: Mapped[date | None] = mapped_column()
    potential: Mapped[str | None] = mapped_column(String(8))
    # The customer asked not to be sent SMS (a reply such as 退订, or told the manager).
    sms_opt_out: Mapped[bool] = mapped_column(default=False, server_default=false())
    tier_manual: Mapped[bool] = mapped_column(default=False, server_default=false())
    # A case about a customer (a complaint): the customer's own prospect. NULL for the
    # customer's prospect itself; every customer view lists only the customer workflow.
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("prospects.id", ondelete="CASCADE"), index=True)
    area: Mapped[str | None] = mapped_column(String(64))  # the branch area (allocation)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    version: Mapped[int] = mapped_column(default=1)

    owner: Mapped[User] = relationship(foreign_keys=[owner_id])
    team: Mapped[Team | None] = relationship(foreign_keys=[team_id])

    __mapper_args__ = {"version_id_col": version}

    def __repr__(self) -> str:
        return f"<Prospect {self.id} {self.stage}/{self.status}>"


class StageEvent(Base):
    """One row per event fired on a prospect; never updated or deleted."""

    __tablename__ = "stage_events"
    __table_args__ = (
        UniqueConstraint("prospect_id", "seq", name="uq_stage_events_prospect_seq"),
        Index("ix_stage_events_to_stage_at", "to_stage", "at"),
        Index("ix_stage_events_at", "at"),
        # The losses (the funnel's lost reasons) among every history row of a branch.
        Index("ix_stage_events_lost", "to_stage", "at",
              postgresql_where=text("to_status = 'lost'"),
              sqlite_where=text("to_status = 'lost'")),
        # The after-sale report's customers who left in a period.
        Index("ix_stage_events_leave", "at", postgresql_where=text("event = 'leave'"),
              sqlite_where=text("event = 'leave'")),
        # A manager's (or a team's managers') rows of a day: the daily sheet and its totals.
        Index("ix_stage_events_owner_at", "owner_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    prospect_id: Mapped[int] = mapped_column(ForeignKey("prospects.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column()
    event: Mapped[str] = mapped_column(String(32))
    from_stage: Mapped[str | None] = mapped_column(String(64))
    to_stage: Mapped[str] = mapped_column(String(64))
    from_status: Mapped[str | None] = mapped_column(String(10))
    to_status: Mapped[str] = mapped_column(String(10))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict | None] = mapped_column(JSONData())

    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])


@event.listens_for(StageEvent, "before_update")
@event.listens_for(StageEvent, "before_delete")
def _history_is_immutable(_mapper, _conn, target: StageEvent) -> None:
    raise ValueError(f"stage event {target.id} is immutable")


class StageVisit(Base):
    """One row per stage visit, written with the history row that starts, moves or ends it
    (:mod:`pipeline.reports.visits`), so the funnel reads visits instead of re-deriving them
    from the whole history on every request. What a visit is — and so what each column
    holds — is defined by :func:`pipeline.reports.queries.visits_subquery`: ``start_seq`` is
    the ``seq`` of the history row that entered the stage, ``end_at``/``seconds``/``exit``
    stay NULL while the prospect is in it, ``owner_id``/``team_id`` follow the visit's
    latest row (a reassignment moves the open visit), ``won`` says the prospect has a
    ``win`` row at or after ``start_seq``, ``stalled`` that an escalation opened during the
    visit.

    Tier is not copied here: a tier filter narrows through ``prospects`` (a tier can be
    corrected on the prospect, and no budgeted view filters by it)."""

    __tablename__ = "stage_visits"
    __table_args__ = (
        # The whole branch: each stage's visits by an index-only scan (PostgreSQL), every
        # column the funnel reads included; in order of time spent for the ended visits, so
        # the percentiles' sort finds most of its input already sorted.
        Index("ix_stage_visits_stage", "stage", "seconds", postgresql_include=[
            "start_at", "end_at", "exit", "won", "stalled", "prospect_id"]),
        Index("ix_stage_visits_team_stage", "team_id", "stage"),
        Index("ix_stage_visits_owner_stage", "owner_id", "stage"),
        Index("ix_stage_visits_start_at", "start_at"),  # entered in the period
        Index("ix_stage_visits_end_at", "end_at"),  # left in the period (days rule)
    )

    prospect_id: Mapped[int] = mapped_column(
        ForeignKey("prospects.id", ondelete="CASCADE"), primary_key=True)
    start_seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    stage: Mapped[str] = mapped_column(String(64))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Whole seconds from start_at to end_at, set when the visit ends (the time in stage the
    # percentiles sort, not recomputed for every closed visit on every request).
    seconds: Mapped[int | None] = mapped_column()
    exit: Mapped[str | None] = mapped_column(String(32))
    won: Mapped[bool] = mapped_column(default=False)
    stalled: Mapped[bool] = mapped_column(default=False)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))


class StageRecord(Base):
    __tablename__ = "stage_records"
    __table_args__ = (
        UniqueConstraint("prospect_id", "record_key", name="uq_stage_records_prospect_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    prospect_id: Mapped[int] = mapped_column(ForeignKey("prospects.id", ondelete="CASCADE"))
    record_key: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(JSONData(), default=dict)
    completeness: Mapped[float] = mapped_column(default=0.0)
    complete: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class CadenceTask(Base):
    """A task due at a time: a first-contact touch or the lead's follow-up call (kind
    ``cadence``, one per step and stage visit), or after-sale work (a callback, a birthday,
    a maturity, a repayment, a retention, a campaign: ``clock_no`` 0, not tied to a stage
    visit, and ``key`` says what made it, e.g. ``event:<id>``, so making it twice is one
    task). One list for My day, the task API and the sweep's reminders."""

    __tablename__ = "cadence_tasks"
    __table_args__ = (
        UniqueConstraint("prospect_id", "key", "clock_no", name="uq_cadence_tasks_step"),
        # The sweep's reminder work list: open steps nobody has been reminded of yet.
        Index("ix_cadence_tasks_to_remind", "due_at",
              postgresql_where=text(TO_REMIND), sqlite_where=text(TO_REMIND)),
        Index("ix_cadence_tasks_to_report", "due_at",
              postgresql_where=text(TO_REPORT), sqlite_where=text(TO_REPORT)),
        Index("ix_cadence_tasks_campaign", "key",
              postgresql_where=text(CAMPAIGN_TASK), sqlite_where=text(CAMPAIGN_TASK)),
        Index("ix_cadence_tasks_assignee", "assignee_id", "done_at"),
        # The after-sale report's retention tasks and maturities due in a period.
        Index("ix_cadence_tasks_after_sale_due", "kind", "due_at",
              postgresql_where=text(AFTER_SALE_TASK), sqlite_where=text(AFTER_SALE_TASK)),
        Index("ix_cadence_tasks_source_due", "source", "due_at",
              postgresql_where=text(SOURCED_TASK), sqlite_where=text(SOURCED_TASK)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    prospect_id: Mapped[int] = mapped_column(ForeignKey("prospects.id", ondelete="CASCADE"),
                                             index=True)
    key: Mapped[str] = mapped_column(String(64))
    assignee_kind: Mapped[str] = mapped_column(String(20))  # institution | owner | team_lead
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    clock_no: Mapped[int] = mapped_column()
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Set with done_at when the step was cancelled rather than done (the customer replied).
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    kind: Mapped[str] = mapped_column(String(20), default=CADENCE,
                                      server_default=text("'cadence'"))
    title: Mapped[str | None] = mapped_column(String(200))  # the one-line reason
    note: Mapped[str | None] = mapped_column(Text)
    done_note: Mapped[str | None] = mapped_column(Text)
    # What made an after-sale task: the customer event's kind (maturity, large_outflow…).
    source: Mapped[str | None] = mapped_column(String(20))
    # A retention's result: retained, partly retained, or the customer left (with a note).
    outcome: Mapped[str | None] = mapped_column(String(20))
    # The contact that closed it (or None: marked done, or open).
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"))
    # A retention task reported to the team lead (the sweep's escalation), once.
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Contact(Base):
    """A touch with the customer: call, SMS, visit, meeting… (feeds after-sale and activity)."""

    __tablename__ = "contacts"
    __table_args__ = (
        CheckConstraint(one_of("kind", CONTACT_KINDS), name="kind"),
        Index("ix_contacts_prospect_at", "prospect_id", "at"),
        Index("ix_contacts_user_at", "user_id", "at"),
        # The after-sale report's calls over the cap in a period.
        Index("ix_contacts_over_cap", "at", postgresql_where=text(OVER_CAP),
              sqlite_where=text(OVER_CAP)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    prospect_id: Mapped[int] = mapped_column(ForeignKey("prospects.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    # When to contact the customer next (a callback task for the owner).
    callback_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Why a call over the monthly cap was made (seed 000); the lead sees it.
    override_reason: Mapped[str | None] = mapped_column(Text)
