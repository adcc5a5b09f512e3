"""Errors the services raise; the API and views turn them into responses."""
from __future__ import annotations

from typing import Any


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
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


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
