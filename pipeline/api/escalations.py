"""Escalation endpoints of the API."""
from __future__ import annotations

from typing import Any

from flask import current_app, jsonify
from sqlalchemy import select

from pipeline.api import schemas
from pipeline.api.views import (
    api_user,
    bp,
    decode_cursor,
    encode_cursor,
    iso,
    json_body,
    one_prospect_json,
    page_limit,
    query_args,
)
from pipeline.db import get_session
from pipeline.escalations.models import Escalation
from pipeline.escalations.outbox import deliver_after_commit
from pipeline.escalations.queries import scope_escalations
from pipeline.escalations.schemas import DecideEscalation
from pipeline.escalations.services import decide_escalation
from pipeline.prospects.models import Prospect
from pipeline.validation import load


def escalation_json(e: Escalation) -> dict[str, Any]:
    return {
        "id": e.id, "prospect_id": e.prospect_id, "kind": e.kind, "level": e.level,
        "status": e.status, "stage": e.stage, "opened_at": iso(e.opened_at),
        "raised_at": iso(e.raised_at), "due_at": iso(e.due_at), "reason": e.reason,
        "decision": e.decision, "decided_at": iso(e.decided_at), "note": e.note,
        "extend_days": e.extend_days, "clock_no": e.clock_no, "team_id": e.team_id,
        "owner_id": e.owner_id, "decided_by_id": e.decided_by_id,
        "new_owner_id": e.new_owner_id,
    }


@bp.get("/escalations")
def list_escalations():
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


@bp.post("/escalations/<escalation_id>/decision")
def decide(escalation_id: str):
    """Decide an open escalation: continue, reassign or abandon (see decide_escalation)."""
    data = load(DecideEscalation, json_body())
    session = get_session()
    escalation = decide_escalation(
        session, escalation_id, actor=api_user(), decision=data["decision"],
        extend_days=data["extend_days"], new_owner=data["new_owner"], note=data["note"])
    deliver_after_commit(current_app._get_current_object(), rounds=1)
    prospect = session.get(Prospect, escalation.prospect_id)
    out = escalation_json(escalation)
    out["prospect"] = one_prospect_json(session, prospect, api_user())
    return jsonify(out)
