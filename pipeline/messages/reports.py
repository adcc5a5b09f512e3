"""First-contact touches per manager and team: SMS sent, delivered and failed, replies,
calls made after no reply, and the meetings booked after each kind of touch.

A meeting counts once its prospect's cadence-stage record is complete (the stage's own
rule, e.g. a meeting booked); it was booked "after the SMS" when the step cancelled by a
reply (the call) was not made, "after the call" when it was. Per touch: meetings divided
by the touches made (SMS sent and calls made).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from pipeline import workflows
from pipeline.auth.models import Team, User
from pipeline.messages.models import SmsMessage, SmsReply
from pipeline.prospects.models import CadenceTask, Prospect, StageRecord


@dataclass
class Row:
    owner_id: int | None
    name: str
    team: str | None
    sms_sent: int = 0
    sms_delivered: int = 0
    sms_failed: int = 0
    replies: int = 0
    calls_after_no_reply: int = 0
    meetings_after_sms: int = 0
    meetings_after_call: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def touches(self) -> int:
        return self.sms_sent + self.calls_after_no_reply

    @property
    def meetings(self) -> int:
        return self.meetings_after_sms + self.meetings_after_call

    @property
    def meetings_per_touch(self) -> float | None:
        return round(self.meetings / self.touches, 3) if self.touches else None

    def add(self, other: Row) -> None:
        for name in ("sms_sent", "sms_delivered", "sms_failed", "replies",
                     "calls_after_no_reply", "meetings_after_sms", "meetings_after_call"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("extra")
        out.update(touches=self.touches, meetings=self.meetings,
                   meetings_per_touch=self.meetings_per_touch)
        return out


def _steps() -> tuple[set[str], set[str]]:
    """The cadence steps cancelled by a reply (calls) and the cadence stages' records."""
    calls, records = set(), set()
    for engine in workflows.all_engines().values():
        for stage in engine.workflow.stages:
            if not stage.cadence:
                continue
            calls |= {s.key for s in stage.cadence if s.cancelled_by}
            records |= {r.key for r in stage.records}
    return calls, records


def _in(column: Any, start: datetime | None, end: datetime | None) -> list:
    out = []
    if start is not None:
        out.append(column >= start)
    if end is not None:
        out.append(column < end)
    return out


def touch_report(session: Session, viewer: User, *, start: datetime | None = None,
                 end: datetime | None = None, team_id: int | None = None
                 ) -> dict[str, Any]:
    """Rows per manager and per team in the viewer's scope (a manager: their own; a lead:
    the team; a supervisor: everyone, or ``team_id``) for the period [start, end)."""
    if viewer.role == "manager":
        owners = select(User.id).where(User.id == viewer.id)
    else:
        scope_team = viewer.team_id if viewer.role == "team_lead" else team_id
        owners = select(User.id).where(User.role == "manager")
        if scope_team is not None:
            owners = owners.where(User.team_id == scope_team)
    people = session.execute(select(User.id, User.name, Team.name).outerjoin(
        Team, Team.id == User.team_id).where(User.id.in_(owners))
        .order_by(Team.name, User.name)).all()
    rows = {uid: Row(uid, name, team) for uid, name, team in people}
    ids = list(rows)
    if not ids:
        return {"managers": [], "teams": []}
    m = SmsMessage
    for owner, sent, delivered, failed in session.execute(
            select(m.owner_id,
                   func.count(m.sent_at),
                   func.count(m.delivered_at),
                   func.count(m.failed_at))
            .where(m.owner_id.in_(ids), *_in(m.created_at, start, end))
            .group_by(m.owner_id)):
        rows[owner].sms_sent, rows[owner].sms_delivered, rows[owner].sms_failed = \
            sent, delivered, failed
    for owner, n in session.execute(
            select(SmsReply.owner_id, func.count()).where(
                SmsReply.owner_id.in_(ids), *_in(SmsReply.received_at, start, end))
            .group_by(SmsReply.owner_id)):
        rows[owner].replies = n
    calls, records = _steps()
    t = CadenceTask
    if calls:
        for owner, n in session.execute(
                select(Prospect.owner_id, func.count()).select_from(t)
                .join(Prospect, Prospect.id == t.prospect_id)
                .where(Prospect.owner_id.in_(ids), t.key.in_(calls), t.done_at.is_not(None),
                       t.cancelled_at.is_(None), *_in(t.done_at, start, end))
                .group_by(Prospect.owner_id)):
            rows[owner].calls_after_no_reply = n
    if records:
        called = (select(t.id).where(t.prospect_id == StageRecord.prospect_id,
                                     t.key.in_(calls or {""}), t.done_at.is_not(None),
                                     t.cancelled_at.is_(None)).exists())
        for owner, after_call, n in session.execute(
                select(Prospect.owner_id, called, func.count()).select_from(StageRecord)
                .join(Prospect, Prospect.id == StageRecord.prospect_id)
                .where(Prospect.owner_id.in_(ids), StageRecord.record_key.in_(records),
                       and_(StageRecord.complete.is_(True)),
                       *_in(StageRecord.updated_at, start, end))
                .group_by(Prospect.owner_id, called)):
            if after_call:
                rows[owner].meetings_after_call = n
            else:
                rows[owner].meetings_after_sms = n
    teams: dict[str, Row] = {}
    for row in rows.values():
        key = row.team or ""
        teams.setdefault(key, Row(None, key, row.team)).add(row)
    return {"managers": [r.as_dict() for r in rows.values()],
            "teams": [r.as_dict() for r in teams.values()]}
