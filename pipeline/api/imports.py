"""``POST /api/v1/imports/customers``: a customer book (CSV or XLSX) as the request body."""
from __future__ import annotations

from flask import jsonify, request

from pipeline.api.views import api_user, bp
from pipeline.customers import services
from pipeline.db import get_session
from pipeline.errors import Forbidden, Invalid, ServiceError

IMPORTERS = ("supervisor", "admin")
MAX_BYTES = services.MAX_FILE_BYTES
TYPES = (services.CSV_TYPE, services.XLSX_TYPE)


class TooLarge(ServiceError):
    status, code = 413, "too_large"


class UnsupportedType(ServiceError):
    status, code = 415, "unsupported_media_type"


@bp.post("/imports/customers")
def import_customers():
    """The whole file is checked first: 200 with the summary, or 422 (code ``invalid``)
    whose details are the summary with every error; nothing is written then.
    ``?dry_run=true`` checks only."""
    actor = api_user()
    if actor.role not in IMPORTERS:
        raise Forbidden("only a supervisor or an administrator imports the customer book")
    if request.mimetype not in TYPES:
        raise UnsupportedType(f"send the file as {services.CSV_TYPE} or {services.XLSX_TYPE}",
                              details={"content_type": list(TYPES)})
    if (request.content_length or 0) > MAX_BYTES:
        raise TooLarge(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    data = request.stream.read(MAX_BYTES + 1) if request.content_length is None \
        else request.get_data(cache=False)
    if len(data) > MAX_BYTES:
        raise TooLarge(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    dry_run = request.args.get("dry_run", "").strip().lower() in ("1", "true", "yes", "on")
    if set(request.args) - {"dry_run"}:
        raise Invalid("unknown query parameter", details={
            name: ["Unknown field."] for name in set(request.args) - {"dry_run"}})
    summary = services.import_customers(
        get_session(), data, kind="xlsx" if request.mimetype == services.XLSX_TYPE else "csv",
        actor=actor, dry_run=dry_run, channel="api")
    return jsonify(summary.as_dict())
