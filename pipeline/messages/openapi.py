"""The messages' endpoints in the OpenAPI document."""
from __future__ import annotations

from typing import Any

from pipeline.engine.definition import LANGS


def openapi_paths(spec: Any) -> None:
    """Add the SMS, template, pause, lead's call, report and callback paths to ``spec``
    (an apispec ``APISpec``)."""
    def errors(*codes: int) -> dict[str, Any]:
        return {str(c): {"description": "see the error's code",
                         "content": {"application/json": {"schema": "Error"}}} for c in codes}

    def body(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return {"required": True, "content": {"application/json": {"schema": schema}}}

    pid = {"name": "prospect_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    tid = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    text = {"type": "string"}
    spec.path("/api/v1/prospects/{prospect_id}/sms/preview", operations={"get": {
        "summary": "The SMS the stage's click step would send now: text, encoding, segments, "
                   "why it cannot be sent (opted_out, no_phone, no_manager_phone), queued",
        "parameters": [pid, {"name": "step", "in": "query", "required": False,
                             "schema": text}],
        "responses": {"200": {"description": "the preview"}, **errors(401, 404)}}})
    spec.path("/api/v1/prospects/{prospect_id}/sms", parameters=[pid], operations={
        "get": {"summary": "The customer's SMS, oldest first, and the opt-out",
                "responses": {"200": {"description": "items, opt_out"}, **errors(401, 404)}},
        "post": {"summary": "The owner's one click: the step's SMS to the outbox",
                 "requestBody": body({"step": text, "manager_phone": text,
                                      "version": {"type": "integer"}}),
                 "responses": {"201": {"description": "the queued message"},
                               **errors(401, 403, 404, 409, 422)}}})
    spec.path("/api/v1/prospects/{prospect_id}/sms-opt-out", operations={"put": {
        "summary": "The customer asks (or no longer asks) not to be sent SMS",
        "parameters": [pid], "requestBody": body({"opt_out": {"type": "boolean"}},
                                                 ["opt_out"]),
        "responses": {"200": {"description": "id, opt_out"}, **errors(401, 404, 422)}}})
    spec.path("/api/v1/prospects/{prospect_id}/pause-contact", operations={"post": {
        "summary": "The customer shows annoyance: pause until a day (then resumed)",
        "parameters": [pid],
        "requestBody": body({"until": text, "reason": text}, ["until", "reason"]),
        "responses": {"200": {"description": "id, status, version"},
                      **errors(401, 404, 409, 422)}}})
    spec.path("/api/v1/tasks/{task_id}/lead-call", operations={"post": {
        "summary": "The team lead's call after no meeting: its outcome decides the escalation",
        "parameters": [tid],
        "requestBody": body({"outcome": {"type": "string",
                                         "enum": ["keep", "change", "abandon"]},
                             "new_owner": {"oneOf": [{"type": "integer"}, text]},
                             "note": text}, ["outcome"]),
        "responses": {"200": {"description": "id, outcome, done_at"},
                      **errors(401, 403, 404, 409, 422)}}})
    spec.path("/api/v1/message-templates", operations={"get": {
        "summary": "Every workflow's message templates with their texts and segments",
        "responses": {"200": {"description": "items"}, **errors(401)}}})
    spec.path("/api/v1/message-templates/{workflow}/{key}", operations={"put": {
        "summary": "A supervisor's texts of a template (every placeholder checked)",
        "parameters": [{"name": n, "in": "path", "required": True, "schema": text}
                       for n in ("workflow", "key")],
        "requestBody": body({"text": {"type": "object",
                                      "properties": {lang: text for lang in LANGS}}},
                            ["text"]),
        "responses": {"200": {"description": "the texts and segments"},
                      **errors(401, 403, 404, 422)}}})
    spec.path("/api/v1/reports/messages", operations={"get": {
        "summary": "SMS sent, delivered and failed, replies, calls after no reply and meetings "
                   "per touch, per manager and team",
        "parameters": [{"name": n, "in": "query", "required": False, "schema": s}
                       for n, s in (("from", text), ("to", text), ("team", text))],
        "responses": {"200": {"description": "managers, teams"}, **errors(401, 403, 422)}}})
    signed = [{"name": h, "in": "header", "required": True, "schema": text}
              for h in ("X-Timestamp", "X-Signature")]
    spec.path("/api/v1/sms/receipts", operations={"post": {
        "summary": "The SMS platform's delivery receipt (signed with the gateway's secret)",
        "parameters": signed,
        "requestBody": body({"message_id": text, "status": {
            "type": "string", "enum": ["delivered", "failed"]}, "error": text},
            ["message_id", "status"]),
        "responses": {"200": {"description": "id, status"}, **errors(401, 404, 422)}}})
    spec.path("/api/v1/sms/inbound", operations={"post": {
        "summary": "A customer's SMS through the platform (signed): kept, logged as the "
                   "reply, an opt-out word opts out",
        "parameters": signed,
        "requestBody": body({"from": text, "text": text, "message_id": text,
                             "received_at": text}, ["from", "text"]),
        "responses": {"201": {"description": "id, prospect_id, opt_out"},
                      **errors(401, 422)}}})
