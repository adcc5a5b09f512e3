"""Writes of the reporting pages: the team lead's weekly summary and the audit of exports."""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline import clock
from pipeline.auth.models import Team, User
from pipeline.auth.services import audit
from pipeline.db import unit_of_work
from pipeline.errors import Conflict, Forbidden, Invalid, NotFound
from pipeline.reports.models import WeeklyLog

SUMMARY_MAX = 10_000


def save_weekly_summary(session: Session, team_id: int, week_start: date, summary: str, *,
                        actor: User) -> WeeklyLog:
    """Write (or rewrite) the summary of a team's weekly work log (附件五).

    Only the team's lead (or an admin) writes it. Raises NotFound for an unknown team,
    Forbidden for anyone else, Invalid when ``week_start`` is not a Monday or the summary is
    too long, Conflict when another save of the same week won the race (nothing is lost:
    the caller can save again). One transaction, audited.
    """
    if not isinstance(summary, str):
        raise Invalid("the summary must be text", details={"summary": ["Must be text."]})
    summary = summary.strip()
    if len(summary) > SUMMARY_MAX:
        raise Invalid(f"the summary is longer than {SUMMARY_MAX} characters",
                      details={"summary": [f"At most {SUMMARY_MAX} characters."]})
    if not isinstance(week_start, date) or week_start.weekday() != 0:
        raise Invalid("a week starts on a Monday", details={"week_start": ["Not a Monday."]})
    try:
        with unit_of_work(session):
            team = session.get(Team, team_id)
            if team is None:
                raise NotFound("no such team")
            if not (actor.role == "admin"
                    or (actor.role == "team_lead" and actor.team_id == team.id)):
                raise Forbidden("only the team's lead writes its weekly summary")
            log = session.scalars(select(WeeklyLog).where(
                WeeklyLog.team_id == team.id, WeeklyLog.week_start == week_start)
                .with_for_update()).first()
            if log is None:
                log = WeeklyLog(team_id=team.id, week_start=week_start)
                session.add(log)
            log.summary = summary
            log.author_id = actor.id
            log.updated_at = clock.now()
            audit(session, "weekly_summary_saved", actor=actor, target_type="team",
                  target_id=team.id, detail={"week_start": week_start.isoformat()})
            session.flush()
    except IntegrityError:
        raise Conflict("the summary was saved by someone else at the same time; save again",
                       code="concurrent_save") from None
    return log


def record_export(session: Session, report: str, params: dict[str, Any], *,
                  actor: User, ip: str | None = None) -> None:
    """Audit that ``actor`` downloaded a report (the sheets name customers). One transaction."""
    with unit_of_work(session):
        audit(session, "report_exported", actor=actor, target_type="report", ip=ip,
              detail={"report": report, **{k: v for k, v in params.items() if v is not None}})
