"""The JSON API (``/api/v1``): bearer tokens, role scoping, JSON errors.

Handlers parse and validate input with the schemas, call one service, and serialise;
they never commit. They raise :mod:`pipeline.errors` exceptions; ``errors.init_app``
answers them (and any other error under ``/api/``) with the JSON error envelope.
"""
from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from marshmallow import Schema
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline import clock, workflows
from pipeline.api import schemas
from pipeline.auth.models import Team, User
from pipeline.auth.services import user_for_token
from pipeline.db import get_session
from pipeline.errors import MAX_ID, BadRequest, Invalid, NotFound, Unauthorized
from pipeline.prospects import privacy, queries
from pipeline.prospects import services as prospect_services
from pipeline.prospects.models import Prospect
from pipeline.prospects.privacy import mask, sees_personal_data
from pipeline.prospects.schemas import FireEvent
from pipeline.validation import load

bp = Blueprint("api", __name__, url_prefix="/api/v1")


# ---------------------------------------------------------------- plumbing

@bp.before_request
def _authenticate() -> None:
    if request.endpoint == "api.openapi":
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send Authorization: Bearer <token>")
    user = user_for_token(get_session(), token.strip())
    if user is None:
        raise Unauthorized("the token is not valid")
    g.api_user = user


@bp.before_request
def _customers_only() -> None:
    """The prospect endpoints (``/prospects/<id>/...``) are a customer's: a case about a
    customer (a complaint) answers 404 there, as any case outside the caller's scope; it
    has its own endpoints."""
    pid = (request.view_args or {}).get("prospect_id")
    if pid is None or not str(pid).isdigit() or int(pid) > MAX_ID:
        return  # the endpoint's own id check answers
    about = get_session().scalar(select(Prospect.customer_id).where(Prospect.id == int(pid)))
    if about is not None:
        raise NotFound("no such prospect")


def api_user() -> User:
    return g.api_user


def json_body() -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw:
        raise BadRequest("the request needs a JSON body", code="malformed_json")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", code="malformed_json") from None
    except RecursionError:
        raise BadRequest("the body is nested too deeply", code="malformed_json") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code="malformed_json")
    return body


def query_args(schema: type[Schema]) -> dict[str, Any]:
    return load(schema, request.args.to_dict())


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"id": last_id}).encode()).decode()


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))["id"]
        if isinstance(value, int) and 0 <= value < 2**31:  # within the id column
            return value
    except (ValueError, KeyError, TypeError):
        pass
    raise Invalid("the cursor is not valid", details={"cursor": ["Invalid cursor."]})


def page_limit(limit: int | None) -> int:
    return min(limit or current_app.config["API_PAGE_SIZE"], current_app.config["API_MAX_PAGE_SIZE"])


# ---------------------------------------------------------------- serialisation

def prospect_json(session: Session, prospect: Prospect, viewer: User, *,
                  records: dict[str, dict], owners: dict[int, str], teams: dict[int, str],
                  history: list | None = None, full: bool = False,
                  unmasked: bool = False) -> dict[str, Any]:
    engine = prospect_services.engine_of(prospect)
    state = prospect_services.state_of(prospect)
    missing = engine.missing(state, records)
    now = clock.now()
    show = full and (unmasked or sees_personal_data(viewer, prospect))
    out: dict[str, Any] = {
        "id": prospect.id,
        "name": prospect.name,
        "tier": prospect.tier,
        "tier_manual": prospect.tier_manual,
        "owner": owners.get(prospect.owner_id),
        "team": teams.get(prospect.team_id) if prospect.team_id else None,
        "workflow": prospect.workflow_key,
        "stage": prospect.stage,
        "status": prospect.status,
        "stage_entered_at": iso(prospect.stage_entered_at),
        "due_at": iso(prospect.due_at),
        "overdue": bool(prospect.status == "active" and prospect.due_at and prospect.due_at < now),
        "paused_at": iso(prospect.paused_at),
        "lost_reason": prospect.lost_reason,
        "customer_no": prospect.customer_no,
        "id_number": prospect.id_number if show else mask(prospect.id_number),
        "phone": prospect.phone if show else mask(prospect.phone),
        "birthday": prospect.birthday.isoformat() if prospect.birthday else None,
        "assets": prospect.assets,
        "potential": prospect.potential,
        "version": prospect.version,
        "missing_records": sorted({p.record for p in missing if p.record}),
        "missing": [p.as_dict() for p in missing],
        "available_events": engine.available_events(state, records),
    }
    if full:
        out["records"] = {
            key: shown_record(engine.workflow, prospect_services.record_status(
                engine, key, data).as_dict(), show=show)
            for key, data in records.items()
        }
    if history is not None:
        out["history"] = [{
            "seq": h.seq, "event": h.event, "from_stage": h.from_stage, "to_stage": h.to_stage,
            "from_status": h.from_status, "to_status": h.to_status,
            "actor": owners.get(h.actor_id) if h.actor_id else None,
            "at": iso(h.at), "reason": h.reason, "data": h.data,
        } for h in history]
    return out


def shown_record(workflow: Any, status: dict[str, Any], *, show: bool) -> dict[str, Any]:
    """A record's status as its viewer may see it: personal fields masked unless
    ``show`` (:mod:`pipeline.prospects.privacy`)."""
    return {**status, "data": privacy.record_data(workflow, status["record"], status["data"],
                                                  show=show)}


def names(session: Session, user_ids: set[int], team_ids: set[int]) -> tuple[dict, dict]:
    owners = dict(session.execute(select(User.id, User.email).where(User.id.in_(user_ids)))
                  .all()) if user_ids else {}
    teams = dict(session.execute(select(Team.id, Team.name).where(Team.id.in_(team_ids)))
                 .all()) if team_ids else {}
    return owners, teams


def one_prospect_json(session: Session, prospect: Prospect, viewer: User, *,
                      unmasked: bool = False) -> dict[str, Any]:
    history = queries.history_of(session, prospect.id)
    owners, teams = names(session, {prospect.owner_id} | {h.actor_id for h in history
                                                          if h.actor_id},
                          {prospect.team_id} if prospect.team_id else set())
    return prospect_json(session, prospect, viewer,
                         records=queries.records_of(session, [prospect.id])[prospect.id],
                         owners=owners, teams=teams, history=history, full=True,
                         unmasked=unmasked)


# ---------------------------------------------------------------- endpoints

@bp.get("/openapi.json")
def openapi():  # noqa: ANN201
    return jsonify(schemas.build_openapi(workflows.all_engines()))


@bp.get("/workflows/<key>")
def get_workflow(key: str):  # noqa: ANN201
    wf = workflows.workflow(key)
    return jsonify({
        "key": wf.key,
        "name": wf.name.as_dict(),
        "calendar": wf.calendar,
        "stages": [{
            "key": s.key,
            "name": s.name.as_dict(),
            "limit_days": wf.limit_days(s.key),
            "budget": s.budget,
            "records": [{
                "key": r.key,
                "name": r.name.as_dict(),
                "fields": [{
                    "key": f.key, "type": f.type, "label": f.label.as_dict(),
                    **({"choices": list(f.choices)} if f.choices else {}),
                    **({"suggestions": list(f.suggestions)} if f.suggestions else {}),
                } for f in r.fields],
            } for r in s.records],
            **({"cadence": [{"key": c.key, "name": c.name.as_dict(), "after": c.after,
                             "offset_hours": c.offset_hours, "assignee": c.assignee}
                            for c in s.cadence]} if s.cadence else {}),
            **({"contact_frequency": {tier: {"period": f.period, "require": dict(f.require)}
                                      for tier, f in s.contact_frequency.items()}}
               if s.contact_frequency else {}),
        } for s in wf.stages],
        **({"tiering": {
            "thresholds": dict(wf.tiering.thresholds),
            "high_assets": wf.tiering.high_assets,
            "upkeep": {level: {potential: {"name": cell.name.as_dict(),
                                           "period": cell.frequency.period,
                                           "require": dict(cell.frequency.require)}
                               for potential, cell in row.items()}
                       for level, row in wf.tiering.upkeep.items()},
        }} if wf.tiering else {}),
        **({"case_limit": {
            "days": wf.case_limit.days,
            "extensions": [{"to_days": x.to_days, "by": list(x.by)}
                           for x in wf.case_limit.extensions],
        }} if wf.case_limit else {}),
        "transitions": [{"event": t.event, "from": t.source, "to": t.dest,
                         "guards": list(t.guards)} for t in wf.transitions],
        "escalation": {
            "warn_at": wf.escalation.warn_at,
            "level2_after_days": wf.escalation.level2_after_days,
            "continue_days": wf.escalation.continue_days,
            "overdue_kind": wf.escalation.overdue_kind,
        },
    })


@bp.get("/prospects")
def list_prospects():  # noqa: ANN201
    args = query_args(schemas.ProspectListQuery)
    session = get_session()
    viewer = api_user()
    stmt = queries.filtered(viewer, stage=args["stage"], owner=args["owner"], team=args["team"],
                            status=args["status"], tier=args["tier"], overdue=args["overdue"],
                            q=args["q"], workflow=workflows.engine(
                                args["workflow"] or workflows.DEFAULT_KEY).workflow.key)
    after = decode_cursor(args["cursor"])
    if after is not None:
        stmt = stmt.where(Prospect.id > after)
    limit = page_limit(args["limit"])
    rows = list(session.scalars(stmt.order_by(Prospect.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    records = queries.records_of(session, [p.id for p in rows])
    owners, teams = names(session, {p.owner_id for p in rows},
                          {p.team_id for p in rows if p.team_id})
    return jsonify({
        "items": [prospect_json(session, p, viewer, records=records[p.id], owners=owners,
                                teams=teams) for p in rows],
        "next": encode_cursor(rows[-1].id) if more else None,
    })


@bp.post("/prospects")
def create_prospect():  # noqa: ANN201
    session = get_session()
    # The service loads the body with the command's schema (CreateProspect).
    prospect = prospect_services.create_prospect(session, actor=api_user(), data=json_body())
    return jsonify(one_prospect_json(session, prospect, api_user())), 201


@bp.get("/prospects/<prospect_id>")
def get_prospect(prospect_id: str):  # noqa: ANN201
    session = get_session()
    prospect = queries.get_visible(session, api_user(), prospect_id)
    # A supervisor or administrator who needs the personal data in full states why; the
    # view's audit entry keeps the reason (pipeline.audit.views).
    reason = privacy.unmask_reason(api_user(), prospect, request.args.get("reason"))
    return jsonify(one_prospect_json(session, prospect, api_user(), unmasked=bool(reason)))


@bp.patch("/prospects/<prospect_id>")
def update_customer(prospect_id: str):  # noqa: ANN201
    session = get_session()
    # The service loads the body with the command's schema (UpdateCustomer).
    prospect = prospect_services.update_customer(session, prospect_id, actor=api_user(),
                                                 data=json_body())
    return jsonify(one_prospect_json(session, prospect, api_user()))


@bp.put("/prospects/<prospect_id>/records/<record_key>")
def save_record(prospect_id: str, record_key: str):  # noqa: ANN201
    body = json_body()
    version = body.pop("version", None)  # the prospect's version; no record has such a field
    session = get_session()
    result = prospect_services.save_record(session, prospect_id, record_key, actor=api_user(),
                                           data=body, version=version)
    prospect = queries.get_visible(session, api_user(), prospect_id)
    return jsonify(shown_record(prospect_services.engine_of(prospect).workflow, result.as_dict(),
                                show=sees_personal_data(api_user(), prospect)))



@bp.post("/prospects/<prospect_id>/events")
def fire_event(prospect_id: str):  # noqa: ANN201
    data = load(FireEvent, json_body())
    session = get_session()
    prospect = prospect_services.advance_prospect(
        session, prospect_id, data["event"], actor=api_user(), reason=data["reason"],
        version=data["version"], new_owner=data["new_owner"],
        reason_category=data["reason_category"])
    return jsonify(one_prospect_json(session, prospect, api_user()))


# Registers the escalation and funnel routes on bp.
from pipeline.api import complaints, escalations, funnel, imports  # noqa: E402, F401, I001
from pipeline.api import tokens  # noqa: E402, F401, I001
from pipeline.api import allocation  # noqa: E402, F401, I001
from pipeline.api import contacts, tasks  # noqa: E402, F401, I001
