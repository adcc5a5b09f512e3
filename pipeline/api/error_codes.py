"""Every ``code`` an error answer can carry, and what it means: the OpenAPI document's
``Error.error.code`` lists exactly these (an enum), and a test checks that every code the
code base can answer is here."""
from __future__ import annotations

ERROR_CODES: dict[str, str] = {
    # The generic ones (pipeline.errors) and those made from an HTTP error's name.
    "bad_request": "400: the request is malformed (a NUL character, a bad parameter)",
    "malformed_json": "400: the body is not JSON, nested too deep or holds a lone surrogate",
    "csrf_failed": "400: a form's CSRF token is missing or wrong (pages, not the API)",
    "unauthorized": "401: no token, or one that is unknown, expired or revoked",
    "bad_credentials": "401: wrong e-mail or password",
    "bad_signature": "401: an SMS gateway callback not signed with the gateway's secret",
    "forbidden": "403: the caller's role may not do this",
    "unmask_not_allowed": "403: only a supervisor or an administrator states a reason to "
                          "see personal data in full",
    "not_permitted": "403: the workflow does not let the caller's role fire this event",
    "not_found": "404: no such object, or not visible to the caller",
    "unknown_workflow": "404: no workflow with that key",
    "unknown_record": "404: the workflow has no record with that key",
    "unknown_token": "404: no such API token of the caller's",  # nosec B105 - not a secret
    "unknown_message": "404: no such SMS message",
    "unknown_task": "404: no such task",
    "unknown_template": "404: no such message template",
    "no_sms_step": "404: the stage has no SMS step to send by hand",
    "no_messages": "404: the workflow sends no messages",
    "method_not_allowed": "405: the path does not take this method (the Allow header says "
                          "which it takes)",
    "conflict": "409: the object changed or is in a state that refuses this",
    "stale_version": "409: the version sent is not the current one; read again",
    "concurrent_save": "409: someone else saved the same thing at the same moment; save again",
    "duplicate_customer": "409: a prospect that is not lost has the customer's number or ID "
                          "number",
    "prospect_lost": "409: the prospect is lost; reopen it first",
    "already_decided": "403/409: the escalation was decided already, or is not the "
                       "caller's to decide",
    "already_allocated": "409: the customer has a manager already",
    "already_claimed": "409: the caller has claimed one of these customers already",
    "claim_decided": "409: the claim was decided already",
    "already_sent": "409: this message was sent already",
    "already_done": "409/422: the call's outcome is recorded already",
    "stale_task": "409: the task belongs to an earlier stage visit",
    "not_active": "403/409: the prospect is not active (paused, won or lost), or the "
                  "caller is not the one who sends this",
    "not_failed": "404/409: only a failed message is queued again",
    "request_entity_too_large": "413: the body is larger than 1 MiB",
    "too_large": "413: the uploaded file is larger than 20 MB",
    "unsupported_media_type": "415: the upload is neither text/csv nor an XLSX workbook",
    "invalid": "422: invalid input; details name each field and what is wrong",
    "invalid_record": "422: a stage record's fields are not valid (details per field)",
    "transition_refused": "422: the event's guards refused it (details list what is missing)",
    "event_not_allowed": "422: the event is not available in the prospect's stage and status",
    "unknown_event": "422: the workflow has no such event",
    "engine_error": "422: the workflow engine refused the event",
    "no_extension_left": "422: every extension of the limit has been taken",
    "over_capacity": "422: the manager maintains the most customers allowed",
    "call_cap": "422: the customer's calls this month reached the cap (give override_reason)",
    "sms_opt_out": "422: the customer opted out of SMS",
    "recused": "422: the complaint names this employee, who may not handle it",
    "same_column": "422: a board move to the column the card is in (pages, not the API)",
    "one_stage_at_a_time": "422: a board move skips a stage (pages, not the API)",
    "throttled": "429: too many failed sign-ins; Retry-After says when to try again",
    "internal_error": "500: an unexpected error (logged; the answer says nothing more)",
    "unavailable": "503: the database cannot be reached or its schema is behind the code",
    "database_busy": "503: SQLite is busy with another writer; Retry-After says when to "
                     "try again",
}
