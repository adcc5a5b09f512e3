"""The unallocated book in the API (:mod:`pipeline.customers.allocation`).

``GET /api/v1/book`` (supervisor, admin, manager): the book filtered by ``tier``,
``assets_from``, ``assets_to``, ``area``, ``page``, numbers masked.
``POST /api/v1/book/allocations`` ``{"customers": [ids], "manager"}`` (supervisor, admin)
→ 201; 422 ``over_capacity`` naming the manager's count; 409 ``already_allocated``.
``POST /api/v1/book/claims`` ``{"customers", "note"?}`` (manager) → 201;
``GET /api/v1/book/claims?status=`` (pending by default);
``POST /api/v1/book/claims/<id>/approve`` and ``…/refuse`` ``{"note"}`` (supervisor, admin).
``POST /api/v1/book/moves`` ``{"leaving", "receivers": [...], "deactivate"?, "note"?}``
(supervisor, admin): a leaving manager's customers spread over the receivers.
"""
from __future__ import annotations

from typing import Any

from flask import jsonify, request

from pipeline.api.views import api_user, bp, json_body
from pipeline.customers import allocation
from pipeline.customers.models import CLAIM_STATUSES, CustomerClaim
from pipeline.db import get_session
from pipeline.engine.definition import TIERS
from pipeline.errors import Invalid


def _claim_json(claim: CustomerClaim) -> dict[str, Any]:
    return {"id": claim.id, "customer_no": claim.customer_no, "manager": claim.manager_id,
            "status": claim.status, "note": claim.note,
            "created_at": claim.created_at.isoformat(),
            "decided_at": claim.decided_at.isoformat() if claim.decided_at else None,
            "decision_note": claim.decision_note, "prospect_id": claim.prospect_id}


@bp.get("/book")
def book():  # noqa: ANN201
    page = allocation.book_page(get_session(), api_user(), request.args.to_dict())
    return jsonify({"items": [allocation.book_row(b) for b in page.items],
                    "total": page.total, "page": page.page, "pages": page.pages,
                    "areas": page.areas})


@bp.post("/book/allocations")
def allocate():  # noqa: ANN201
    done = allocation.allocate(get_session(), json_body(), actor=api_user())
    return jsonify({"allocated": [{"customer_id": a.customer_id,
                                   "prospect_id": a.prospect.id} for a in done]}), 201


@bp.post("/book/claims")
def claim():  # noqa: ANN201
    rows = allocation.claim(get_session(), json_body(), actor=api_user())
    return jsonify({"claims": [_claim_json(c) for c in rows]}), 201


@bp.get("/book/claims")
def claims():  # noqa: ANN201
    status = request.args.get("status", "pending").strip() or None
    if status not in (*CLAIM_STATUSES, "all"):
        raise Invalid("unknown status", details={"status": ["Not a valid choice."]})
    views = allocation.claims(get_session(), api_user(),
                              status=None if status == "all" else status)
    return jsonify({"items": [{**_claim_json(v.claim), "manager_name": v.manager,
                               "manager_count": v.manager_count, "cap": allocation.cap(),
                               "customer": allocation.book_row(v.customer)
                               if v.customer else None} for v in views]})


@bp.post("/book/claims/<claim_id>/approve")
def approve_claim(claim_id: str):  # noqa: ANN201
    done = allocation.approve_claim(get_session(), claim_id, actor=api_user())
    return jsonify({"customer_id": done.customer_id, "prospect_id": done.prospect.id})


@bp.post("/book/claims/<claim_id>/refuse")
def refuse_claim(claim_id: str):  # noqa: ANN201
    row = allocation.refuse_claim(get_session(), claim_id, json_body(), actor=api_user())
    return jsonify(_claim_json(row))


@bp.post("/book/moves")
def move():  # noqa: ANN201
    moved = allocation.move_customers(get_session(), json_body(), actor=api_user())
    return jsonify(moved.as_dict())


def openapi_paths(spec: Any) -> None:
    """The book's endpoints in the OpenAPI document (``spec``: an apispec ``APISpec``)."""
    for name, schema in [("BookAllocate", allocation.Allocate), ("BookClaim", allocation.Claim),
                         ("ClaimRefuse", allocation.Refuse), ("BookMove", allocation.Move)]:
        spec.components.schema(name, schema=schema)

    def body(name: str) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": name}}}

    def errors(*codes: int) -> dict[str, Any]:
        return {str(c): {"description": "see the error's code",
                         "content": {"application/json": {"schema": "Error"}}} for c in codes}

    # As the book page's filter form sends them: an empty value is no filter.
    query = [{"name": n, "in": "query", "required": False, "allowEmptyValue": True,
              "schema": s} for n, s in (
        ("tier", {"type": "string", "enum": list(TIERS)}),
        ("assets_from", {"type": "number", "minimum": 0}),
        ("assets_to", {"type": "number", "minimum": 0}),
        ("area", {"type": "string", "maxLength": allocation.AREA_MAX}),
        ("page", {"type": "integer", "minimum": 1, "maximum": allocation.MAX_PAGE}))]
    claim_id = {"name": "claim_id", "in": "path", "required": True,
                "schema": {"type": "integer"}}
    spec.path("/api/v1/book", operations={"get": {
        "summary": "The unallocated book, filtered, largest assets first, numbers masked "
                   "(supervisor, administrator, manager)", "parameters": query,
        "responses": {"200": {"description": "items, total, page, pages, areas"},
                      **errors(401, 403, 422)}}})
    spec.path("/api/v1/book/allocations", operations={"post": {
        "summary": "Allocate book customers to a manager under the cap; each enters the "
                   "first stage with its cadence (supervisor, administrator)",
        "requestBody": body("BookAllocate"),
        "responses": {"201": {"description": "allocated: customer_id, prospect_id"},
                      **errors(400, 401, 403, 409, 422)}}})
    spec.path("/api/v1/book/claims", operations={
        "get": {"summary": "Claims: every pending one for a supervisor, a manager's own",
                "parameters": [{"name": "status", "in": "query", "required": False,
                                "schema": {"type": "string", "enum": [
                                    *CLAIM_STATUSES, "all"]}}],
                "responses": {"200": {"description": "items"}, **errors(401, 403, 422)}},
        "post": {"summary": "A manager claims (申领) book customers they know",
                 "requestBody": body("BookClaim"),
                 "responses": {"201": {"description": "claims"},
                               **errors(400, 401, 403, 409, 422)}}})
    spec.path("/api/v1/book/claims/{claim_id}/approve", operations={"post": {
        "summary": "Approve a pending claim: the customer is allocated to its manager",
        "parameters": [claim_id],
        "responses": {"200": {"description": "customer_id, prospect_id"},
                      **errors(401, 403, 404, 409, 422)}}})
    spec.path("/api/v1/book/claims/{claim_id}/refuse", operations={"post": {
        "summary": "Refuse a pending claim with a note for the manager",
        "parameters": [claim_id], "requestBody": body("ClaimRefuse"),
        "responses": {"200": {"description": "the claim"},
                      **errors(400, 401, 403, 404, 409, 422)}}})
    spec.path("/api/v1/book/moves", operations={"post": {
        "summary": "Move every customer a leaving manager maintains to the receivers, "
                   "under the cap, with handover letters (supervisor, administrator)",
        "requestBody": body("BookMove"),
        "responses": {"200": {"description": "leaving, moved, to, handovers, deactivated"},
                      **errors(400, 401, 403, 422)}}})
