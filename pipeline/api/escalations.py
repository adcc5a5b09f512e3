"""Escalation endpoints of the API."""
from __future__ import annotations

from typing import Any

from flask import jsonify
from sqlalchemy import Select, select

from pipeline.api import schemas
from pipeline.api.views import (
    api_user,
    bp,
    decode_cursor,
    encode_cursor,
    iso,
    page_limit,
    query_args,
)
from pipeline.auth.models import User
from pipeline.db import get_session
from pipeline.escalations.models import Escalation


def scope_escalations(stmt: Select, viewer: User) -> Select:
    """A manager sees escalations of their prospects, a lead the team's, a supervisor all."""
    if viewer.role in ("supervisor", "admin"):
        return stmt
    if viewer.role == "team_lead" and viewer.team_id is not None:
        return stmt.where(Escalation.team_id == viewer.team_id)
    return stmt.where(Escalation.owner_id == viewer.id)


def escalation_json(e: Escalation) -> dict[str, Any]:
    return {
        "id": e.id, "prospect_id": e.prospect_id, "kind": e.kind, "level": e.level,
        "status": e.status, "stage": e.stage, "opened_at": iso(e.opened_at),
        "raised_at": iso(e.raised_at), "due_at": iso(e.due_at), "reason": e.reason,
        "decision": e.decision, "decided_at": iso(e.decided_at), "note": e.note,
        "extend_days": e.extend_days,
    }


@bp.get("/escalations")
def list_escalations():  # noqa: ANN201
    args = query_args(schemas.EscalationListQuery)
    stmt = scope_escalations(select(Escalation), api_user())
    if args["status"]:
        stmt = stmt.where(Escalation.status == args["status"])
    if args["level"]:
        stmt = stmt.where(Escalation.level == args["level"])
    if args["prospect"]:
        stmt = stmt.where(Escalation.prospect_id == args["prospect"])
    if args["kind"]:
        stmt = stmt.where(Escalation.kind == args["kind"])
    after = decode_cursor(args["cursor"])
    if after is not None:
        stmt = stmt.where(Escalation.id > after)
    limit = page_limit(args["limit"])
    rows = list(get_session().scalars(stmt.order_by(Escalation.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return jsonify({"items": [escalation_json(e) for e in rows],
                    "next": encode_cursor(rows[-1].id) if more else None})
