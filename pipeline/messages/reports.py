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

from sqlalchemy import and_, case, func, literal, select, union_all
from sqlalchemy.orm import Session

from pipeline import workflows
from pipeline.auth.models import Team, User
from pipeline.messages.models import SmsMessage, SmsReply
from pipeline.prospects.models import CadenceTask, Prospect, StageRecord
from pipeline.sql import dialect_name


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


def _owners(viewer: User, team_id: int | None) -> tuple[Any, bool]:
    """The managers in the viewer's scope, as a subquery of their ids, and whether that is
    the whole branch (a supervisor without ``team_id``)."""
    if viewer.role == "manager":
        return select(User.id).where(User.id == viewer.id), False
    scope_team = viewer.team_id if viewer.role == "team_lead" else team_id
    owners = select(User.id).where(User.role == "manager")
    if scope_team is None:
        return owners, True
    return owners.where(User.team_id == scope_team), False


AFTER_CALL, AFTER_SMS, CALLS = "after_call", "after_sms", "calls"


def _touches_by_prospect(owners: Any, start: datetime | None, end: datetime | None,
                         calls: set[str], records: set[str]) -> Any:
    """Calls and meetings per owner, read from the owners' prospects: each prospect's call
    steps and cadence records are found by its own index entries, so a team's figures
    cost its prospects, not the branch's touches. Per prospect, one look-up of its calls
    made (how many in the period, and whether any) and one of its records; rows (owner,
    whether the prospect was called, calls made, meetings)."""
    t, r, p = CadenceTask, StageRecord, Prospect
    in_period = _in(t.done_at, start, end)
    per = (select(p.id.label("id"), p.owner_id.label("owner_id"),
                  func.count(case((and_(*in_period), t.id)) if in_period else t.id)
                  .label("calls"), (func.count(t.id) > 0).label("called"))
           .select_from(p)
           .outerjoin(t, and_(t.prospect_id == p.id, t.key.in_(calls), t.done_at.is_not(None),
                              t.cancelled_at.is_(None)))
           .where(p.owner_id.in_(owners)).group_by(p.id, p.owner_id).subquery("per_prospect"))
    met = select(func.count()).select_from(r).where(
        r.prospect_id == per.c.id, r.record_key.in_(records), r.complete.is_(True),
        *_in(r.updated_at, start, end)).scalar_subquery()
    kind = case((per.c.called, literal(AFTER_CALL)), else_=literal(AFTER_SMS))
    return select(per.c.owner_id, kind, func.sum(per.c.calls), func.sum(met),
                  literal(0)).group_by(per.c.owner_id, kind)


def _touches_in_branch(owners: Any, start: datetime | None, end: datetime | None,
                       calls: set[str], records: set[str]) -> Any:
    """Calls and meetings per owner for the whole branch, read from the touches: the calls
    made and the records completed in the period, each joined once to its prospect's
    owner (a hash join; looking up every prospect's own entries would cost more). Rows
    (owner, calls or the meetings' kind, calls made, meetings)."""
    t, r = CadenceTask, StageRecord
    called = select(t.id).where(t.prospect_id == r.prospect_id, t.key.in_(calls),
                                t.done_at.is_not(None), t.cancelled_at.is_(None)).exists()
    made = select(t.prospect_id.label("prospect_id"), literal(CALLS).label("kind")).where(
        t.key.in_(calls), t.done_at.is_not(None), t.cancelled_at.is_(None),
        *_in(t.done_at, start, end))
    met = select(r.prospect_id, case((called, literal(AFTER_CALL)), else_=literal(AFTER_SMS))
                 ).where(r.record_key.in_(records), r.complete.is_(True),
                         *_in(r.updated_at, start, end))
    touches = union_all(made, met).subquery("touches")
    is_call = touches.c.kind == CALLS
    return (select(Prospect.owner_id, touches.c.kind,
                   func.sum(case((is_call, 1), else_=0)), func.sum(case((is_call, 0), else_=1)),
                   literal(0))
            .join(Prospect, Prospect.id == touches.c.prospect_id)
            .where(Prospect.owner_id.in_(owners)).group_by(Prospect.owner_id, touches.c.kind))


def touch_report(session: Session, viewer: User, *, start: datetime | None = None,
                 end: datetime | None = None, team_id: int | None = None
                 ) -> dict[str, Any]:
    """Rows per manager and per team in the viewer's scope (a manager: their own; a lead:
    the team; a supervisor: everyone, or ``team_id``) for the period [start, end).

    Two statements (and on PostgreSQL the JIT setting): the managers in scope, then every
    figure at once (a UNION ALL of the SMS, the replies, and the calls and meetings, each
    grouped by owner)."""
    owners, branch = _owners(viewer, team_id)
    people = session.execute(select(User.id, User.name, Team.name).outerjoin(
        Team, Team.id == User.team_id).where(User.id.in_(owners))
        .order_by(Team.name, User.name)).all()
    rows = {uid: Row(uid, name, team) for uid, name, team in people}
    if not rows:
        return {"managers": [], "teams": []}
    m, zero = SmsMessage, literal(0)
    parts = [
        select(m.owner_id, literal("sms").label("kind"), func.count(m.sent_at),
               func.count(m.delivered_at), func.count(m.failed_at))
        .where(m.owner_id.in_(owners), *_in(m.created_at, start, end))
        .group_by(m.owner_id),
        select(SmsReply.owner_id, literal("replies"), func.count(), zero, zero)
        .where(SmsReply.owner_id.in_(owners), *_in(SmsReply.received_at, start, end))
        .group_by(SmsReply.owner_id),
    ]
    calls, records = _steps()
    if calls or records:
        touches = _touches_in_branch if branch else _touches_by_prospect
        parts.append(touches(owners, start, end, calls, records))
    if dialect_name(session) == "postgresql":
        # Compiling the plan costs more than running it (0.3 s of a branch's 1.4 s); the
        # setting ends with the transaction.
        session.execute(select(func.set_config("jit", "off", True)))
    for owner, kind, a, b, c in session.execute(union_all(*parts)):
        row = rows.get(owner)
        if row is None:
            continue
        a, b, c = int(a or 0), int(b or 0), int(c or 0)
        if kind == "sms":
            row.sms_sent, row.sms_delivered, row.sms_failed = a, b, c
        elif kind == "replies":
            row.replies = a
        else:  # calls made, and the meetings after the call or after the SMS
            row.calls_after_no_reply += a
            if kind == AFTER_CALL:
                row.meetings_after_call += b
            elif kind == AFTER_SMS:
                row.meetings_after_sms += b
    teams: dict[str, Row] = {}
    for row in rows.values():
        key = row.team or ""
        teams.setdefault(key, Row(None, key, row.team)).add(row)
    return {"managers": [r.as_dict() for r in rows.values()],
            "teams": [r.as_dict() for r in teams.values()]}
