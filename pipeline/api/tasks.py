"""The day's work in the API: ``GET /api/v1/tasks``, ``POST /api/v1/tasks/<id>/done`` and
``POST /api/v1/imports/customer-events`` (the daily file that makes the dated tasks)."""
from __future__ import annotations

import base64
import json
from typing import Any

from flask import jsonify, request
from marshmallow import fields

from pipeline import clock
from pipeline.aftersale import queries
from pipeline.aftersale import services as aftersale
from pipeline.aftersale.queries import TaskRow
from pipeline.api.imports import IMPORTERS, MAX_BYTES, TYPES, TooLarge, UnsupportedType
from pipeline.api.schemas import ListQuery
from pipeline.api.views import api_user, bp, iso, json_body, page_limit, query_args
from pipeline.customers import services as book
from pipeline.db import get_session
from pipeline.errors import Forbidden, Invalid
from pipeline.prospects import services as prospect_services
from pipeline.prospects.models import CadenceTask
from pipeline.validation import Moment


class TaskListQuery(ListQuery):
    owner = fields.String(load_default=None, metadata={
        "description": "a manager's e-mail (a team lead: of the team; a supervisor: any); "
                       "default: the caller"})
    due_before = Moment(load_default=None, metadata={
        "description": "only tasks due before this ISO date-time (a date is its start, "
                       "UTC)"})


def _cursor(row: CadenceTask) -> str:
    return base64.urlsafe_b64encode(json.dumps(
        {"due": row.due_at.isoformat(), "id": row.id}).encode()).decode()


def _after(cursor: str | None) -> tuple[Any, int] | None:
    if not cursor:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        due, task_id = clock.parse(value["due"]), value["id"]
        if isinstance(task_id, int) and 0 <= task_id < 2**31:
            return due, task_id
    except (ValueError, KeyError, TypeError):
        pass
    raise Invalid("the cursor is not valid", details={"cursor": ["Invalid cursor."]})


def task_json(row: TaskRow, now: Any) -> dict[str, Any]:
    t = row.task
    return {"id": t.id, "prospect_id": row.prospect_id, "kind": row.kind,
            "due_at": iso(t.due_at), "status": "done" if t.done_at else "open",
            "title": t.title, "customer": row.name, "tier": row.tier,
            "event": row.event_kind, "note": t.note,
            "overdue": t.done_at is None and t.due_at < now,
            "done_at": iso(t.done_at), "done_note": t.done_note, "outcome": t.outcome}


@bp.get("/tasks")
def list_tasks():  # noqa: ANN201
    """The caller's open tasks (or, for a lead or supervisor, ``owner``'s), by due time."""
    args = query_args(TaskListQuery)
    limit = page_limit(args["limit"])
    found, more = queries.open_tasks(get_session(), api_user(), owner=args["owner"],
                                     due_before=args["due_before"],
                                     after=_after(args["cursor"]), limit=limit)
    now = clock.now()
    return jsonify({"items": [task_json(r, now) for r in found],
                    "next": _cursor(found[-1].task) if more and found else None})


@bp.post("/tasks/<task_id>/done")
def task_done(task_id: str):  # noqa: ANN201
    """Close a task: ``{"note"?, "outcome"?}`` (a retention's: retained, partly_retained,
    left with a note)."""
    session = get_session()
    body = json_body() if request.get_data(cache=True) else {}
    task = prospect_services.complete_task(session, task_id, actor=api_user(), data=body)
    row = queries.rows(session, queries.tasks_statement(task.assignee_id or 0)
                       .where(CadenceTask.id == task.id))
    if row:
        return jsonify(task_json(row[0], clock.now()))
    return jsonify({"id": task.id, "prospect_id": task.prospect_id, "status": "done",
                    "done_at": iso(task.done_at), "done_note": task.done_note,
                    "outcome": task.outcome, "kind": task.key if task.kind == "cadence"
                    else task.kind, "due_at": iso(task.due_at), "title": task.title})


@bp.post("/imports/customer-events")
def import_customer_events():  # noqa: ANN201
    """The bank's daily customer-event file as the body (CSV or XLSX): 200 with
    ``{"created", "ignored", "errors"}``, or 422 with every error and nothing written.
    ``?dry_run=true`` checks only."""
    actor = api_user()
    if actor.role not in IMPORTERS:
        raise Forbidden("only a supervisor or an administrator imports customer events")
    if request.mimetype not in TYPES:
        raise UnsupportedType(f"send the file as {book.CSV_TYPE} or {book.XLSX_TYPE}",
                              details={"content_type": list(TYPES)})
    if (request.content_length or 0) > MAX_BYTES:
        raise TooLarge(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    data = request.get_data(cache=False)
    if len(data) > MAX_BYTES:
        raise TooLarge(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    unknown = set(request.args) - {"dry_run"}
    if unknown:
        raise Invalid("unknown query parameter",
                      details={name: ["Unknown field."] for name in unknown})
    dry_run = request.args.get("dry_run", "").strip().lower() in ("1", "true", "yes", "on")
    summary = aftersale.import_events(
        get_session(), data, kind="xlsx" if request.mimetype == book.XLSX_TYPE else "csv",
        actor=actor, dry_run=dry_run, channel="api")
    return jsonify(summary.as_dict())
