"""``/api/v1/complaints``: complaints as cases of the complaint workflow (API.md,
"Complaints"). Records and events behave as for prospects."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import current_app, jsonify
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy.orm import Session

from pipeline.api.schemas import ListQuery
from pipeline.api.views import (
    api_user,
    bp,
    decode_cursor,
    encode_cursor,
    iso,
    json_body,
    names,
    page_limit,
    prospect_json,
    query_args,
)
from pipeline.auth.models import User
from pipeline.complaints import queries as complaint_queries
from pipeline.complaints import reports, services
from pipeline.complaints.models import Complaint
from pipeline.db import get_session, reports_session
from pipeline.engine.definition import STATUSES
from pipeline.errors import Invalid
from pipeline.prospects import queries
from pipeline.prospects.events import state_of
from pipeline.prospects.models import Prospect
from pipeline.reports import queries as report_queries

# What a complaint does not carry of the case row it shares with customers.
CUSTOMER_FIELDS = ("customer_no", "id_number", "phone", "birthday", "assets", "potential",
                   "tier_manual")


class ComplaintListQuery(ListQuery):
    customer_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1))
    stage = fields.String(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    overdue = fields.Boolean(load_default=False)


def complaint_json(session: Session, case: Prospect, viewer: User, complaint: Complaint | None,
                   *, records: dict[str, dict], owners: dict[int, str], teams: dict[int, str],
                   history: list | None = None, full: bool = False) -> dict[str, Any]:
    out = prospect_json(session, case, viewer, records=records, owners=owners, teams=teams,
                        history=history, full=full)
    for key in CUSTOMER_FIELDS:
        out.pop(key, None)
    out["available_events"] = services.engine().available_events(state_of(case), records,
                                                                 role=viewer.role)
    out.update({
        "customer_id": case.customer_id,
        "handler": out["owner"],
        "summary": complaint.summary if complaint else None,
        "category": complaint.category if complaint else None,
        "received_at": iso(complaint.received_at) if complaint else None,
        "named_employee": owners.get(complaint.named_user_id)
        if complaint and complaint.named_user_id else None,
    })
    return out


def one_complaint_json(session: Session, case: Prospect, viewer: User) -> dict[str, Any]:
    history = queries.history_of(session, case.id)
    complaint = session.get(Complaint, case.id)
    people = {case.owner_id} | {h.actor_id for h in history if h.actor_id}
    if complaint is not None and complaint.named_user_id:
        people.add(complaint.named_user_id)
    owners, teams = names(session, people, {case.team_id} if case.team_id else set())
    return complaint_json(session, case, viewer, complaint,
                          records=queries.records_of(session, [case.id])[case.id],
                          owners=owners, teams=teams, history=history, full=True)


@bp.post("/complaints")
def file_complaint():
    session = get_session()
    case = services.file_complaint(session, actor=api_user(), data=json_body())
    return jsonify(one_complaint_json(session, case, api_user())), 201


@bp.get("/complaints")
def list_complaints():
    args = query_args(ComplaintListQuery)
    session = get_session()
    viewer = api_user()
    stmt = complaint_queries.listed(viewer, customer_id=args["customer_id"], stage=args["stage"],
                                    status=args["status"], overdue=args["overdue"])
    limit = page_limit(args["limit"])
    rows = list(session.scalars(complaint_queries.page_ids(stmt, decode_cursor(args["cursor"]),
                                                           limit)))
    more = len(rows) > limit
    rows = rows[:limit]
    records = queries.records_of(session, [p.id for p in rows])
    found = complaint_queries.details(session, [p.id for p in rows])
    owners, teams = names(session, {p.owner_id for p in rows}
                          | {c.named_user_id for c in found.values() if c.named_user_id},
                          {p.team_id for p in rows if p.team_id})
    return jsonify({
        "workflow": services.WORKFLOW_KEY,
        "items": [complaint_json(session, p, viewer, found.get(p.id), records=records[p.id],
                                 owners=owners, teams=teams) for p in rows],
        "next": encode_cursor(rows[-1].id) if more else None,
    })


@bp.get("/complaints/<complaint_id>")
def get_complaint(complaint_id: str):
    session = get_session()
    case = services.get_complaint(session, api_user(), complaint_id)
    return jsonify(one_complaint_json(session, case, api_user()))


@bp.put("/complaints/<complaint_id>/records/<record_key>")
def save_complaint_record(complaint_id: str, record_key: str):
    body = json_body()
    version = body.pop("version", None)  # the case's version; no record has such a field
    result = services.save_complaint_record(get_session(), complaint_id, record_key,
                                            actor=api_user(), data=body, version=version)
    return jsonify(result.as_dict())


@bp.post("/complaints/<complaint_id>/events")
def fire_complaint_event(complaint_id: str):
    session = get_session()
    case = services.fire_complaint_event(session, complaint_id, actor=api_user(),
                                         data=json_body())
    return jsonify(one_complaint_json(session, case, api_user()))


@bp.post("/complaints/<complaint_id>/assign")
def assign_complaint(complaint_id: str):
    session = get_session()
    case = services.assign_complaint(session, complaint_id, actor=api_user(), data=json_body())
    return jsonify(one_complaint_json(session, case, api_user()))



RECORD_DAYS = validate.Range(min=date(1900, 1, 1), max=date(2999, 12, 31))


class ReportQuery(Schema):
    class Meta:
        unknown = RAISE

    by = fields.String(load_default="category", validate=validate.OneOf(reports.GROUPS))
    # As the funnel's: a day beyond these has no midnight in every time zone.
    from_ = fields.Date(load_default=None, data_key="from", validate=RECORD_DAYS)
    to = fields.Date(load_default=None, validate=RECORD_DAYS)


def _period(args: dict[str, Any]) -> tuple[Any, Any]:
    tz = api_user().timezone or current_app.config["PIPELINE_TIMEZONE"]
    if args["from_"] and args["to"] and args["to"] < args["from_"]:
        raise Invalid("'to' is before 'from'", details={"to": ["Before 'from'."]})
    start = report_queries.local_midnight(args["from_"], tz) if args["from_"] else None
    end = report_queries.local_midnight(args["to"] + timedelta(days=1), tz) if args["to"] \
        else None
    return start, end


@bp.get("/complaints/report")
def complaint_report():
    """Received, settled within the limit (%), extended and median days to settle, by
    ``category``, ``cause``, ``channel`` or ``manager``; ``from``/``to`` (dates, both
    included) select the complaints received."""
    args = query_args(ReportQuery)
    start, end = _period(args)
    return jsonify(reports.report(reports_session(), api_user(), by=args["by"], start=start,
                                  end=end))


@bp.get("/complaints/causes")
def root_causes():
    """The root-cause list (溯源整改): causes that recur, with their actions and owners."""
    args = query_args(ReportQuery)
    start, end = _period(args)
    return jsonify({"items": reports.root_causes(get_session(), api_user(), start=start,
                                                 end=end)})


@bp.post("/complaints/causes")
def add_cause_action():
    row = services.add_cause_action(get_session(), actor=api_user(), data=json_body())
    return jsonify({"id": row.id, "cause": row.cause, "action": row.action}), 201
