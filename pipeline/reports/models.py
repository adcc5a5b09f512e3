"""The team lead's weekly work log (附件五) and the funnel's rollups."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from pipeline import clock
from pipeline.db import Base, UTCDateTime


class WeeklyLog(Base):
    __tablename__ = "weekly_logs"
    __table_args__ = (UniqueConstraint("team_id", "week_start", name="uq_weekly_logs_team_week"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    week_start: Mapped[date] = mapped_column()
    summary: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


# ---------------------------------------------------------------- the funnel's rollups
#
# Built by a job (:mod:`pipeline.reports.rollups`) for the branch-wide, unfiltered funnel
# page; one set of rows per workflow, replaced whole by each build. Days are whole days in
# the build's time zone, counted from 1970-01-01 (an integer, the same on both databases).

class RollupBuild(Base):
    """When the rollup of a workflow was last built, and in which time zone its days are."""

    __tablename__ = "rollup_builds"

    workflow_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64))
    built_at: Mapped[datetime] = mapped_column(UTCDateTime())
    visits: Mapped[int] = mapped_column(default=0)  # visits the build read
    build_ms: Mapped[int] = mapped_column(default=0)  # how long the build took


# Visits by stage and start day: every visit, and those that are the prospect's first
# into the stage (``entered``), first with that exit kind, first won, first stalled.
OUTCOMES = ("advanced", "lost", "back", "won", "stalled")
rollup_visits = Table(
    "rollup_visits", Base.metadata,
    Column("workflow_key", String(64), nullable=False),
    Column("stage", String(64), nullable=False),
    Column("day", Integer, nullable=False),
    Column("visits", Integer, nullable=False),
    Column("entered", Integer, nullable=False),
    *[Column(name, Integer, nullable=False) for name in OUTCOMES],
    Index("ix_rollup_visits_workflow_day", "workflow_key", "day"),
)

# The other visits (a previous visit of the same prospect into the stage), by stage, start
# day and outcome, with the day of that previous visit and of the previous one with the
# same exit kind, won, stalled (NULL when none): what a period starting later needs.
rollup_reentries = Table(
    "rollup_reentries", Base.metadata,
    Column("workflow_key", String(64), nullable=False),
    Column("stage", String(64), nullable=False),
    Column("day", Integer, nullable=False),
    Column("exit_kind", String(16), nullable=True),  # advanced | lost | back | NULL
    Column("won", Boolean, nullable=False),
    Column("stalled", Boolean, nullable=False),
    Column("prev_day", Integer, nullable=True),
    Column("prev_exit_day", Integer, nullable=True),
    Column("prev_won_day", Integer, nullable=True),
    Column("prev_stalled_day", Integer, nullable=True),
    Column("n", Integer, nullable=False),
    Index("ix_rollup_reentries_workflow_day", "workflow_key", "day"),
)

# Time in stage: visits by stage, end day and whole days in the stage, and the same visits
# by the hour of that day they reached (h00 to h23: whole hours modulo 24), read for the
# few days a percentile falls in. ``span``: "day" (ended on ``end_day``), "month" (ended in
# the month beginning on ``end_day``), "open" (open at the build) or "all" (every ended
# visit, for a period with no bounds: ``end_day`` NULL).
HOUR_COLUMNS = tuple(f"h{i:02d}" for i in range(24))
rollup_durations = Table(
    "rollup_durations", Base.metadata,
    Column("workflow_key", String(64), nullable=False),
    Column("stage", String(64), nullable=False),
    Column("span", String(8), nullable=False),
    Column("end_day", Integer, nullable=True),
    Column("days", Integer, nullable=False),
    Column("n", Integer, nullable=False),
    *[Column(name, Integer, nullable=False) for name in HOUR_COLUMNS],
    Index("ix_rollup_durations_workflow_span", "workflow_key", "span", "end_day"),
)

# Cohorts: prospects by the day of their first entry, the furthest stage (its index in the
# workflow) and whether they are lost now.
rollup_cohorts = Table(
    "rollup_cohorts", Base.metadata,
    Column("workflow_key", String(64), nullable=False),
    Column("first_day", Integer, nullable=False),
    Column("furthest", Integer, nullable=False),
    Column("lost_now", Boolean, nullable=False),
    Column("n", Integer, nullable=False),
    Index("ix_rollup_cohorts_workflow_day", "workflow_key", "first_day"),
)
