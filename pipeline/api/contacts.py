"""Contacts in the API: ``POST`` and ``GET /api/v1/prospects/<id>/contacts`` (the call cap
and callbacks are the service's: :func:`pipeline.prospects.services.log_contact`)."""
from __future__ import annotations

from typing import Any

from flask import jsonify

from pipeline.aftersale import queries
from pipeline.api.schemas import ListQuery
from pipeline.api.views import (
    api_user,
    bp,
    decode_cursor,
    encode_cursor,
    iso,
    json_body,
    page_limit,
    query_args,
)
from pipeline.db import get_session
from pipeline.prospects import queries as prospect_queries
from pipeline.prospects import services
from pipeline.prospects.models import Contact


def contact_json(c: Contact) -> dict[str, Any]:
    return {"id": c.id, "prospect_id": c.prospect_id, "kind": c.kind, "at": iso(c.at),
            "outcome": c.outcome, "note": c.note, "callback_at": iso(c.callback_at),
            "override_reason": c.override_reason, "user_id": c.user_id}


@bp.post("/prospects/<prospect_id>/contacts")
def log_contact(prospect_id: str):  # noqa: ANN201
    """Log a contact: 201 with it; 422 ``call_cap`` for a call over the monthly cap
    without ``override_reason``."""
    contact = services.log_contact(get_session(), prospect_id, actor=api_user(),
                                   data=json_body())
    return jsonify(contact_json(contact)), 201


@bp.get("/prospects/<prospect_id>/contacts")
def list_contacts(prospect_id: str):  # noqa: ANN201
    """The prospect's contacts, newest first."""
    args = query_args(ListQuery)
    session = get_session()
    prospect = prospect_queries.get_visible(session, api_user(), prospect_id)
    found, more = queries.contacts_of(session, prospect.id,
                                      before_id=decode_cursor(args["cursor"]),
                                      limit=page_limit(args["limit"]))
    return jsonify({"items": [contact_json(c) for c in found],
                    "next": encode_cursor(found[-1].id) if more and found else None})
