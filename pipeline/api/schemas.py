"""The API's query schemas, its answers' shapes, and the OpenAPI document built from them.

Commands (create a prospect, fire an event, decide an escalation) are validated by the
same schemas the forms and services use (:mod:`pipeline.prospects.schemas`,
:mod:`pipeline.escalations.schemas`); the document names them ``ProspectCreate``,
``CustomerUpdate``, ``EventRequest`` and ``DecisionRequest``."""
from __future__ import annotations

from datetime import date
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import RAISE, Schema, fields, validate

from pipeline.api.error_codes import ERROR_CODES
from pipeline.engine.definition import POTENTIALS, STATUSES, TIERS
from pipeline.engine.records import record_schema
from pipeline.escalations.schemas import DecideEscalation
from pipeline.prospects.schemas import CreateProspect, FireEvent, UpdateCustomer


class ListQuery(Schema):
    class Meta:
        unknown = RAISE

    cursor = fields.String(load_default=None)
    limit = fields.Integer(load_default=None, validate=validate.Range(min=1, max=500))


class ProspectListQuery(ListQuery):
    stage = fields.String(load_default=None)
    owner = fields.String(load_default=None)
    team = fields.String(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    tier = fields.String(load_default=None, validate=validate.OneOf(TIERS))
    overdue = fields.Boolean(load_default=False)
    q = fields.String(load_default=None, metadata={
        "description": "a part of the name, or the whole customer number, mobile number or "
                       "ID number"})
    workflow = fields.String(load_default=None, metadata={
        "description": "the workflow whose cases to list (default: the customer workflow)"})


class EscalationListQuery(ListQuery):
    status = fields.String(load_default=None, validate=validate.OneOf(("open", "resolved")))
    level = fields.Integer(load_default=None, validate=validate.OneOf((1, 2)))
    prospect = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1))
    kind = fields.String(load_default=None)


class FunnelQuery(Schema):
    class Meta:
        unknown = RAISE

    team = fields.String(load_default=None)
    owner = fields.String(load_default=None)
    tier = fields.String(load_default=None, validate=validate.OneOf(TIERS))
    workflow = fields.String(load_default=None, metadata={
        "description": "the workflow whose stages to count (default: the customer workflow)"})
    # Dates a bank's records can have (the day after 9999-12-31 does not exist).
    from_ = fields.Date(load_default=None, data_key="from",
                        validate=validate.Range(min=date(1900, 1, 1), max=date(2999, 12, 31)))
    to = fields.Date(load_default=None,
                     validate=validate.Range(min=date(1900, 1, 1), max=date(2999, 12, 31)))


# ---------------------------------------------------------------- responses (documentation)

class ErrorBody(Schema):
    code = fields.String(required=True, validate=validate.OneOf(list(ERROR_CODES)), metadata={
        "description": "what went wrong, for a program: "
                       + "; ".join(f"{k} ({v})" for k, v in ERROR_CODES.items())})
    message = fields.String(required=True)
    details = fields.Dict()


class Error(Schema):
    error = fields.Nested(ErrorBody, required=True)


class Problem(Schema):
    code = fields.String()
    message = fields.String()
    record = fields.String()
    field = fields.String()


class HistoryItem(Schema):
    seq = fields.Integer()
    event = fields.String()
    from_stage = fields.String(allow_none=True)
    to_stage = fields.String()
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    actor = fields.String(allow_none=True)
    at = fields.DateTime()
    reason = fields.String(allow_none=True)
    data = fields.Dict(allow_none=True)  # e.g. a tier_change's from, to and manual


class Prospect(Schema):
    id = fields.Integer()
    name = fields.String()
    tier = fields.String(validate=validate.OneOf(TIERS))
    tier_manual = fields.Boolean()  # set by hand; false: the tier follows the assets
    owner = fields.String()
    team = fields.String(allow_none=True)
    stage = fields.String()
    status = fields.String(validate=validate.OneOf(STATUSES))
    stage_entered_at = fields.DateTime()
    due_at = fields.DateTime(allow_none=True)
    overdue = fields.Boolean()
    version = fields.Integer()
    missing_records = fields.List(fields.String())
    missing = fields.List(fields.Nested(Problem))
    available_events = fields.List(fields.String())
    history = fields.List(fields.Nested(HistoryItem))
    workflow = fields.String()
    paused_at = fields.DateTime(allow_none=True)
    lost_reason = fields.String(allow_none=True)
    customer_no = fields.String(allow_none=True)
    id_number = fields.String(allow_none=True)  # masked unless the viewer may see it
    phone = fields.String(allow_none=True)  # masked unless the viewer may see it
    birthday = fields.Date(allow_none=True)
    assets = fields.Float(allow_none=True)
    potential = fields.String(allow_none=True, validate=validate.OneOf(POTENTIALS))
    records = fields.Dict()  # the detail only: each record's status


class ProspectPage(Schema):
    items = fields.List(fields.Nested(Prospect))
    next = fields.String(allow_none=True)


class RecordSaved(Schema):
    record = fields.String()
    complete = fields.Boolean()
    completeness = fields.Float()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    data = fields.Dict()


class Escalation(Schema):
    id = fields.Integer()
    prospect_id = fields.Integer()
    kind = fields.String()
    level = fields.Integer()
    status = fields.String()
    stage = fields.String()
    opened_at = fields.DateTime()
    raised_at = fields.DateTime(allow_none=True)
    decision = fields.String(allow_none=True)


class EscalationPage(Schema):
    items = fields.List(fields.Nested(Escalation))
    next = fields.String(allow_none=True)


class FunnelStage(Schema):
    key = fields.String()
    entered = fields.Integer(metadata={
        "description": "prospects who entered the stage in the period, each counted once"})
    reentered = fields.Integer(metadata={
        "description": "their further entries into the stage in the period (after going "
                       "back a stage, or reopened)"})
    current = fields.Integer()
    advanced = fields.Integer()
    lost = fields.Integer()
    conversion = fields.Float(allow_none=True)
    median_days = fields.Float(allow_none=True)
    p90_days = fields.Float(allow_none=True)
    # Beyond the contract's minimum, the answer also carries these figures.
    back = fields.Integer()
    won = fields.Integer()
    stalled = fields.Integer()
    stalled_share = fields.Float(allow_none=True)
    days_count = fields.Integer()
    won_conversion = fields.Float(allow_none=True)


class ImportError_(Schema):
    row = fields.Integer()  # the file's line number, the header row being 1
    field = fields.String()  # a column, or _file / _row
    message = fields.String()  # names the field, never its value


class ImportSummary(Schema):
    created = fields.Integer()
    updated = fields.Integer()
    allocated = fields.Integer()
    unallocated = fields.Integer()
    errors = fields.List(fields.Nested(ImportError_))


class Token(Schema):
    id = fields.Integer()
    name = fields.String(allow_none=True)
    status = fields.String(validate=validate.OneOf(("active", "expired", "revoked")))
    created_at = fields.DateTime()
    expires_at = fields.DateTime()
    last_used_at = fields.DateTime(allow_none=True)  # recorded at most once a minute
    revoked_at = fields.DateTime(allow_none=True)


class TokenPage(Schema):
    items = fields.List(fields.Nested(Token))


class Funnel(Schema):
    stages = fields.List(fields.Nested(FunnelStage))
    workflow = fields.String()
    from_ = fields.String(data_key="from", allow_none=True)
    to = fields.String(allow_none=True)
    as_of = fields.String(metadata={
        "description": "the moment the figures are of: now, or the build of the branch's "
                       "rollup they were read from"})
    rollup = fields.Boolean(metadata={
        "description": "read from the branch's rollup (kept by a job) instead of computed "
                       "live"})


# ---------------------------------------------------------------- the OpenAPI document

def _error_responses(*codes: int) -> dict[str, Any]:
    text = {400: "malformed request", 401: "no or bad token", 403: "not allowed",
            404: "not found or not visible",
            413: "the file is larger than 20 MB",
            415: "the body is neither text/csv nor an XLSX workbook",
            409: "stale version or conflicting state (duplicate_customer: a prospect that is "
                 "not lost has the customer number or ID number)",
            422: "invalid input or refused transition (details say what is missing; "
                 "over_capacity: the manager maintains the most customers allowed)"}
    return {str(c): {"description": text[c], "content": {"application/json": {"schema": "Error"}}}
            for c in codes}


def _json(schema: Any) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def build_openapi(workflow_engines: dict) -> dict[str, Any]:
    """The OpenAPI 3 document, generated from the schemas above and the workflows' records."""
    plugin = MarshmallowPlugin()
    spec = APISpec(title="Bank pipeline API", version="1.0.0", openapi_version="3.0.3",
                   plugins=[plugin])
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for name, schema in [("Error", Error), ("Prospect", Prospect), ("ProspectPage", ProspectPage),
                         ("ProspectCreate", CreateProspect),
                         ("CustomerUpdate", UpdateCustomer), ("EventRequest", FireEvent),
                         ("RecordSaved", RecordSaved), ("Escalation", Escalation),
                         ("EscalationPage", EscalationPage), ("DecisionRequest", DecideEscalation),
                         ("Funnel", Funnel), ("ImportError", ImportError_),
                         ("ImportSummary", ImportSummary), ("Token", Token),
                         ("TokenPage", TokenPage)]:
        spec.components.schema(name, schema=schema)
    record_refs = []
    record_keys: list[str] = []
    for engine in workflow_engines.values():
        for stage in engine.workflow.stages:
            for record in stage.records:
                schema_name = type(record_schema(record)).__name__
                spec.components.schema(schema_name, schema=record_schema(record))
                record_refs.append({"$ref": f"#/components/schemas/{schema_name}"})
                record_keys.append(record.key)
    pid = {"name": "prospect_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    spec.path("/api/v1/workflows/{key}", operations={"get": {
        "summary": "The workflow definition",
        "parameters": [{"name": "key", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "responses": {"200": {"description": "stages, limits and records"},
                      **_error_responses(401, 404)}}})
    spec.path("/api/v1/prospects", operations={
        "get": {"summary": "List the prospects the caller may see",
                "parameters": [{"in": "query", "schema": ProspectListQuery}],
                "responses": {"200": _json("ProspectPage") | {"description": "a page"},
                              **_error_responses(401, 422)}},
        "post": {"summary": "Create a prospect in the first stage",
                 "requestBody": _json("ProspectCreate") | {"required": True},
                 "responses": {"201": _json("Prospect") | {"description": "created"},
                               **_error_responses(400, 401, 403, 409, 422)}}})
    spec.path("/api/v1/prospects/{prospect_id}", operations={"get": {
        "summary": "One prospect with its history, missing records and available events",
        "parameters": [pid, {"name": "reason", "in": "query", "required": False,
                             "schema": {"type": "string", "minLength": 10, "maxLength": 200},
                             "description": "a supervisor's or administrator's reason to "
                                            "see the personal data in full (audited)"}],
        "responses": {"200": _json("Prospect") | {"description": "the prospect"},
                      **_error_responses(401, 403, 404, 422)}}, "patch": {
        "summary": "Change the customer's assets, potential or tier (a tier given is kept; "
                   "null: it follows the assets again); a change of tier is in the history",
        "parameters": [pid],
        "requestBody": _json("CustomerUpdate") | {"required": True},
        "responses": {"200": _json("Prospect") | {"description": "the prospect"},
                      **_error_responses(400, 401, 404, 409, 422)}}})
    spec.path("/api/v1/prospects/{prospect_id}/records/{record_key}", operations={"put": {
        "summary": "Save (merge) a stage record; null clears a field",
        "parameters": [pid, {"name": "record_key", "in": "path", "required": True,
                             "schema": {"type": "string", "enum": record_keys}}],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"oneOf": record_refs}}}},
        "responses": {"200": _json("RecordSaved") | {"description": "saved"},
                      **_error_responses(400, 401, 404, 409, 422)}}})
    spec.path("/api/v1/prospects/{prospect_id}/events", operations={"post": {
        "summary": "Fire an event (advance, win, lose, no_meeting, back, pause, resume, reopen)",
        "parameters": [pid],
        "requestBody": _json("EventRequest") | {"required": True},
        "responses": {"200": _json("Prospect") | {"description": "the prospect after the event"},
                      **_error_responses(400, 401, 404, 409, 422)}}})
    spec.path("/api/v1/escalations", operations={"get": {
        "summary": "Escalations the caller may see",
        "parameters": [{"in": "query", "schema": EscalationListQuery}],
        "responses": {"200": _json("EscalationPage") | {"description": "a page"},
                      **_error_responses(401, 422)}}})
    spec.path("/api/v1/escalations/{escalation_id}/decision", operations={"post": {
        "summary": "Decide an escalation: continue, reassign or abandon",
        "parameters": [{"name": "escalation_id", "in": "path", "required": True,
                        "schema": {"type": "integer"}}],
        "requestBody": _json("DecisionRequest") | {"required": True},
        "responses": {"200": _json("Escalation") | {"description": "decided"},
                      **_error_responses(400, 401, 403, 404, 409, 422)}}})
    spec.path("/api/v1/funnel", operations={"get": {
        "summary": "The stage funnel",
        "parameters": [{"in": "query", "schema": FunnelQuery}],
        "responses": {"200": _json("Funnel") | {"description": "per stage"},
                      **_error_responses(401, 422)}}})
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    spec.path("/api/v1/imports/customers", operations={"post": {
        "summary": "Import a customer book (supervisor or administrator): the whole file is "
                   "checked first; with any bad row nothing is written (422, the summary "
                   "with every error in the details)",
        "parameters": [{"name": "dry_run", "in": "query", "required": False,
                        "schema": {"type": "boolean"},
                        "description": "check the file, write nothing"}],
        "requestBody": {"required": True, "content": {
            "text/csv": {"schema": {"type": "string"}},
            xlsx: {"schema": {"type": "string", "format": "binary"}}},
            "description": "header row customer_no,name,id_number,phone,birthday,assets,"
                           "potential,tier,manager (tier and manager may be empty)"},
        "responses": {"200": _json("ImportSummary") | {"description": "imported"},
                      **_error_responses(401, 403, 409, 413, 415, 422)}}})
    spec.path("/api/v1/tokens", operations={"get": {
        "summary": "The caller's own API tokens (never the token itself)",
        "responses": {"200": _json("TokenPage") | {"description": "newest first"},
                      **_error_responses(401)}}})
    spec.path("/api/v1/tokens/{token_id}", operations={"delete": {
        "summary": "Revoke one of the caller's own tokens (it stops working at once)",
        "parameters": [{"name": "token_id", "in": "path", "required": True,
                        "schema": {"type": "integer"}}],
        "responses": {"200": _json("Token") | {"description": "revoked"},
                      **_error_responses(401, 404)}}})
    _complaint_paths(spec)
    from pipeline.api.allocation import openapi_paths as allocation_paths

    allocation_paths(spec)  # the customer book's allocation
    _after_sale_paths(spec)
    from pipeline.messages.openapi import openapi_paths as message_paths

    message_paths(spec)  # SMS, templates, the lead's call, callbacks
    doc = spec.to_dict()
    for operations in doc["paths"].values():
        for operation in operations.values():
            if isinstance(operation, dict):
                _answers_of_every_operation(operation, doc["components"]["schemas"])
    doc["security"] = [{"bearer": []}]
    return doc


def _error(description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, **extra, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}}


def _names_a_workflow(operation: dict[str, Any], schemas: dict[str, Any]) -> bool:
    """Whether the operation takes a ``workflow`` (a parameter or a JSON body's field)."""
    if any(p.get("name") == "workflow" for p in operation.get("parameters", ())):
        return True
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = body.get("schema", {})
    if "$ref" in schema:
        schema = schemas.get(schema["$ref"].rsplit("/", 1)[-1], {})
    return "workflow" in schema.get("properties", {})


def _answers_of_every_operation(operation: dict[str, Any], schemas: dict[str, Any]) -> None:
    """The error answers any operation can give, whatever its own: 400 for a NUL character
    in the path, query or body (and a body that is not JSON); 413 for a body over
    ``MAX_CONTENT_LENGTH``; 404 ``unknown_workflow`` for a workflow named that does not
    exist; 503 when the database cannot serve (``database_busy``, ``unavailable``)."""
    responses = operation["responses"]
    responses.setdefault("400", _error(
        "malformed request (bad_request: a NUL character in the path, query or body; "
        "malformed_json: a body that is not JSON, nested too deep or holding a lone "
        "surrogate)"))
    if "requestBody" in operation:
        responses.setdefault("413", _error("the body is larger than 1 MiB"))
    if _names_a_workflow(operation, schemas):
        responses.setdefault("404", _error("unknown_workflow: no workflow with that key"))
    responses.setdefault("503", _error(
        "the database cannot serve now: database_busy (SQLite busy with another writer) or "
        "unavailable", headers={"Retry-After": {
            "description": "seconds to wait before trying again (database_busy)",
            "schema": {"type": "integer"}}}))


def _complaint_paths(spec: APISpec) -> None:
    """The complaints (API.md, "Complaints"): cases of the complaint workflow."""
    from pipeline.complaints import schemas as cs

    for name, schema in [("ComplaintCreate", cs.FileComplaint),
                         ("ComplaintEvent", cs.ComplaintEvent),
                         ("ComplaintAssign", cs.AssignComplaint),
                         ("CauseAction", cs.CauseActionInput)]:
        spec.components.schema(name, schema=schema)
    cid = {"name": "complaint_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    case = {"description": "the complaint: id, customer_id, handler, stage, status, due_at, "
                           "version, missing_records, available_events, history"}
    spec.path("/api/v1/complaints", operations={
        "get": {"summary": "The complaints the caller may see (filters customer_id, stage, "
                           "status, overdue; cursor, limit)",
                "responses": {"200": {"description": "a page"}, **_error_responses(401, 422)}},
        "post": {"summary": "Record a complaint received by the caller, its handler; one "
                            "naming the caller goes to their team lead (回避)",
                 "requestBody": _json("ComplaintCreate") | {"required": True},
                 "responses": {"201": case, **_error_responses(400, 401, 422)}}})
    spec.path("/api/v1/complaints/{complaint_id}", operations={"get": {
        "summary": "One complaint", "parameters": [cid],
        "responses": {"200": case, **_error_responses(401, 404)}}})
    spec.path("/api/v1/complaints/{complaint_id}/records/{record_key}", operations={"put": {
        "summary": "Save (merge) a step's record", "parameters": [cid, {
            "name": "record_key", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": _json("RecordSaved") | {"description": "saved"},
                      **_error_responses(400, 401, 404, 409, 422)}}})
    spec.path("/api/v1/complaints/{complaint_id}/events", operations={"post": {
        "summary": "Fire an event: advance, win (settle), extend (a reason; the next "
                   "extension of the case's limit, by the roles the workflow names)",
        "parameters": [cid], "requestBody": _json("ComplaintEvent") | {"required": True},
        "responses": {"200": case, **_error_responses(400, 401, 403, 404, 409, 422)}}})
    spec.path("/api/v1/complaints/{complaint_id}/assign", operations={"post": {
        "summary": "Give the complaint to another handler (team lead or supervisor)",
        "parameters": [cid], "requestBody": _json("ComplaintAssign") | {"required": True},
        "responses": {"200": case, **_error_responses(400, 401, 403, 404, 409, 422)}}})
    period = [{"name": name, "in": "query", "required": False,
               "schema": {"type": "string", "format": "date"}} for name in ("from", "to")]
    spec.path("/api/v1/complaints/report", operations={"get": {
        "summary": "Received, settled within the limit (%), extended, median days to settle",
        "parameters": [{"name": "by", "in": "query", "required": False, "schema": {
            "type": "string", "enum": ["category", "cause", "channel", "manager"]}}, *period],
        "responses": {"200": {"description": "per group and over all"},
                      **_error_responses(401, 422)}}})
    spec.path("/api/v1/complaints/causes", operations={
        "get": {"summary": "Recurring causes with their corrective actions and owners",
                "parameters": period,
                "responses": {"200": {"description": "most frequent first"},
                              **_error_responses(401, 422)}},
        "post": {"summary": "A corrective action with its owner (team lead or supervisor)",
                 "requestBody": _json("CauseAction") | {"required": True},
                 "responses": {"201": {"description": "saved"},
                               **_error_responses(400, 401, 403, 422)}}})


class Contact(Schema):
    id = fields.Integer()
    prospect_id = fields.Integer()
    kind = fields.String()
    at = fields.DateTime()
    outcome = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    callback_at = fields.DateTime(allow_none=True)
    override_reason = fields.String(allow_none=True)
    user_id = fields.Integer(allow_none=True)


class ContactPage(Schema):
    items = fields.List(fields.Nested(Contact))
    next = fields.String(allow_none=True)


class Task(Schema):
    id = fields.Integer()
    prospect_id = fields.Integer()
    kind = fields.String(metadata={"description": "a first-contact step's key, callback, "
                                                  "birthday, maturity, repayment, retention "
                                                  "or campaign"})
    due_at = fields.DateTime()
    status = fields.String(validate=validate.OneOf(("open", "done")))
    title = fields.String(allow_none=True)
    customer = fields.String()
    tier = fields.String()
    event = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    overdue = fields.Boolean()
    done_at = fields.DateTime(allow_none=True)
    done_note = fields.String(allow_none=True)
    outcome = fields.String(allow_none=True)


class TaskPage(Schema):
    items = fields.List(fields.Nested(Task))
    next = fields.String(allow_none=True)


class EventImportSummary(Schema):
    created = fields.Integer()
    ignored = fields.Integer()
    errors = fields.List(fields.Nested(ImportError_))


def _after_sale_paths(spec: APISpec) -> None:
    """After-sale work (API.md, "Contacts and the call cap", "Tasks", "Customer events")."""
    from pipeline.prospects.schemas import CompleteTask, LogContact

    for name, schema in [("ContactRequest", LogContact), ("Contact", Contact),
                         ("ContactPage", ContactPage), ("TaskDone", CompleteTask),
                         ("Task", Task), ("TaskPage", TaskPage),
                         ("EventImportSummary", EventImportSummary)]:
        spec.components.schema(name, schema=schema)
    pid = {"name": "prospect_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    page = [{"name": n, "in": "query", "required": False, "schema": {"type": t}}
            for n, t in (("cursor", "string"), ("limit", "integer"))]
    spec.path("/api/v1/prospects/{prospect_id}/contacts", operations={
        "post": {"summary": "Log a contact; callback_at makes a callback task for the owner; "
                            "a fourth call in a calendar month to a customer with assets over "
                            "200,000 is 422 call_cap unless override_reason is given",
                 "parameters": [pid], "requestBody": _json("ContactRequest") | {"required": True},
                 "responses": {"201": _json("Contact") | {"description": "logged"},
                               **_error_responses(400, 401, 404, 422)}},
        "get": {"summary": "The prospect's contacts, newest first",
                "parameters": [pid, *page],
                "responses": {"200": _json("ContactPage") | {"description": "a page"},
                              **_error_responses(401, 404, 422)}}})
    spec.path("/api/v1/tasks", operations={"get": {
        "summary": "The caller's open tasks by due time (a lead or supervisor may name owner)",
        "parameters": [*page, {"name": "owner", "in": "query", "required": False,
                               "schema": {"type": "string"}},
                       {"name": "due_before", "in": "query", "required": False,
                        "allowEmptyValue": True, "description": "empty: no limit",
                        "schema": {"type": "string", "format": "date-time"}}],
        "responses": {"200": _json("TaskPage") | {"description": "a page"},
                      **_error_responses(401, 404, 422)}}})
    spec.path("/api/v1/tasks/{task_id}/done", operations={"post": {
        "summary": "Close a task with an optional note (a retention: its outcome)",
        "parameters": [{"name": "task_id", "in": "path", "required": True,
                        "schema": {"type": "integer"}}],
        "requestBody": _json("TaskDone") | {"required": False},
        "responses": {"200": _json("Task") | {"description": "done"},
                      **_error_responses(400, 401, 403, 404, 409, 422)}}})
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    spec.path("/api/v1/imports/customer-events", operations={"post": {
        "summary": "Import the daily customer-event file (supervisor or administrator): all "
                   "or nothing; an event already imported is ignored",
        "parameters": [{"name": "dry_run", "in": "query", "required": False,
                        "schema": {"type": "boolean"}}],
        "requestBody": {"required": True, "content": {
            "text/csv": {"schema": {"type": "string"}},
            xlsx: {"schema": {"type": "string", "format": "binary"}}},
            "description": "header row customer_no,kind,date,amount,product"},
        "responses": {"200": _json("EventImportSummary") | {"description": "imported"},
                      **_error_responses(401, 403, 413, 415, 422)}}})
