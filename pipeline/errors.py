"""Errors the services raise, and the one mapping of every error to a response.

:func:`init_app` answers every error the same way: requests under ``/api/`` and requests
that want JSON get ``{"error": {"code", "message", "details"}}`` (:func:`envelope`), others
the error page (``templates/errors/error.html``). Views and API handlers raise; they never
build an error response themselves.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask, Response


def envelope(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The body of every JSON error: ``{"error": {"code", "message", "details"}}``."""
    return {"error": {"code": code, "message": message, "details": details or {}}}


class ServiceError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}

    def as_dict(self) -> dict[str, Any]:
        return envelope(self.code, self.message, self.details)


class BadRequest(ServiceError):
    status, code = 400, "bad_request"


class Unauthorized(ServiceError):
    status, code = 401, "unauthorized"


class Forbidden(ServiceError):
    status, code = 403, "forbidden"


class NotFound(ServiceError):
    status, code = 404, "not_found"


class Conflict(ServiceError):
    status, code = 409, "conflict"


class Invalid(ServiceError):
    """Input that is well-formed but wrong: a field, a type, a missing record."""

    status, code = 422, "invalid"


class Unavailable(ServiceError):
    """The app cannot serve now (a database that cannot be reached or is behind the code)."""

    status, code = 503, "unavailable"


MAX_ID = 2**31 - 1  # the id columns are 32-bit integers


def parse_id(value: Any, what: str) -> int:
    """An id from a URL or a form: NotFound ("no such <what>") for anything that cannot
    name a row, including numbers beyond the id column, which the database would refuse."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise NotFound(f"no such {what}") from None
    if not 0 < number <= MAX_ID:
        raise NotFound(f"no such {what}")
    return number


# ---------------------------------------------------------------- the mapping

INTERNAL_MESSAGE = "internal error"


def init_app(app: Flask) -> None:
    """Answer every error of ``app`` with the envelope or the error page.

    * :class:`ServiceError`: its status, code, message and details;
    * HTTP errors (400, 401, 403, 404, 405, 413, ...): their status, a code made from their
      name (``method_not_allowed``) and their description; a refused CSRF token is
      ``csrf_failed`` (400);
    * SQLite's "database is locked" past the busy timeout, or a PostgreSQL deadlock or
      serialization failure: 503 ``database_busy`` with ``Retry-After``;
    * anything else: 500 ``internal_error`` with a generic message and no details. Flask
      logs it first (:func:`pipeline.logs.init_app` keeps messages out of that log); with
      ``TESTING`` or the debugger on, it propagates instead.
    """
    from flask_wtf.csrf import CSRFError
    from werkzeug.exceptions import HTTPException, InternalServerError

    @app.errorhandler(ServiceError)
    def _service_error(exc: ServiceError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> Response:
        return error_response(400, "csrf_failed", exc.description or "CSRF validation failed.")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        if exc.response is not None:  # raised with its answer already made
            return exc.response
        status = exc.code or 500
        message = exc.name if status >= 500 else (exc.description or exc.name)
        response = error_response(status, _code_of(exc), message)
        for name, value in exc.get_headers():  # Allow on a 405, Retry-After, ...
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    from sqlalchemy.exc import OperationalError

    @app.errorhandler(OperationalError)
    def _database_busy(exc: OperationalError) -> Response:
        # Another writer won (SQLite's lock past the busy timeout, a PostgreSQL deadlock):
        # a clear "try again" instead of a 500. Anything else is the unexpected error it is.
        if not is_database_busy(exc):
            raise exc
        response = error_response(503, "database_busy",
                                  "the database is busy; try again in a moment")
        response.headers["Retry-After"] = str(BUSY_RETRY_AFTER)
        return response

    @app.errorhandler(InternalServerError)
    def _internal_error(exc: InternalServerError) -> Response:
        # An unexpected exception arrives here wrapped, already logged by Flask: the answer
        # says nothing about it.
        return error_response(500, "internal_error", INTERNAL_MESSAGE)


BUSY_RETRY_AFTER = 1  # seconds


# PostgreSQL's "try the transaction again" states: a deadlock the server broke, a
# serialization failure, a lock not available.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001", "55P03"})


def is_database_busy(exc: BaseException) -> bool:
    """Whether a database error says the transaction met another writer and may simply be
    tried again: SQLite's lock past the busy timeout, PostgreSQL's broken deadlock or
    serialization failure. Nothing was written (the transaction rolled back)."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
        return True
    text = str(orig or "")
    return "database is locked" in text or "database table is locked" in text


def wants_json() -> bool:
    """Whether the current request gets errors as JSON: the API, or a client that asks
    for JSON rather than HTML (the board's script)."""
    from flask import request

    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(status: int, code: str, message: str,
                   details: dict[str, Any] | None = None) -> Response:
    """The answer to an error: :func:`envelope` as JSON, or the error page."""
    from flask import jsonify, make_response, render_template
    from werkzeug.http import HTTP_STATUS_CODES

    if wants_json():
        response = jsonify(envelope(code, message, details))
    else:
        try:
            page = render_template("errors/error.html", code=status, message=message,
                                   title=HTTP_STATUS_CODES.get(status, code))
        except Exception:  # noqa: BLE001 - the layout itself may fail (database gone)
            response = make_response(f"{status} {message}\n")
            response.mimetype = "text/plain"
        else:
            response = make_response(page)
    response.status_code = status
    return response


def _code_of(exc: Any) -> str:
    return (getattr(exc, "name", None) or "error").lower().replace(" ", "_")
