"""Logs an operator can use, with nothing personal in them.

* :func:`init_app` (called by the app factory): outside debug runs every log record goes to
  stderr as one JSON object per line (:class:`JsonFormatter`), at ``PIPELINE_LOG_LEVEL``
  (default ``INFO`` for the web, ``WARNING`` for commands, which print their own output).
  Exceptions are logged with their traceback and type, never their message
  (:func:`describe_exception`): a database error's message quotes the row it refused.
* :func:`log_event` writes one line per domain event or decision: its kind, ids, the
  actor's id and how long it took. Keys that name personal data (names, phone and ID
  numbers, addresses, e-mail, notes, reasons) are dropped, and texts that look like a
  phone number, an ID number or an e-mail address are masked.
* :func:`timed_event` measures a block and logs it as an event.

SQL parameters never reach a log either: every engine hides them
(``hide_parameters=True`` in :func:`pipeline.db.make_engine`).
"""
from __future__ import annotations

import functools
import json
import logging
import re
import sys
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pipeline.config import ConfigurationError

if TYPE_CHECKING:
    from flask import Flask

EVENTS = logging.getLogger("pipeline.events")

# Words that name personal data. A key carries it when it is one of them, or ends with one
# (owner_name, contact_phone, customer_id_number, reason_text); compared lower-cased, with
# "_", "-" and "." separating words (prospect_id, reason_code and message_id do not).
PERSONAL_KEYS = frozenset({
    "name", "fullname", "firstname", "lastname", "username", "customer", "customername",
    "ownername", "phone", "mobile", "tel", "telephone", "phonenumber",
    "idnumber", "idno", "idcard", "identity", "passport",
    "address", "email", "mail", "recipient",
    "note", "notes", "reason", "comment", "comments", "text", "body", "subject", "message",
    "password", "token", "secret",
})
# Texts shaped like a mainland mobile number, an 18-character resident ID, an e-mail.
_PERSONAL_TEXT = re.compile(
    r"(?<!\d)1[3-9]\d{9}(?!\d)|(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])|[^\s@]+@[^\s@]+\.\w+")
MASK = "[redacted]"
MAX_TEXT = 200
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


# ---------------------------------------------------------------- set-up

def init_app(app: Flask) -> None:
    """Send the process's logs to stderr as JSON lines at the configured level, and keep
    exception messages out of them. Debug runs keep Flask's own handler and full
    tracebacks, for the developer at the console; with ``TESTING`` the test runner keeps
    its handlers and levels, and exception messages stay out of the app's log.

    Raises :class:`pipeline.config.ConfigurationError` for an unknown
    ``PIPELINE_LOG_LEVEL``.
    """
    from flask.logging import default_handler

    level = log_level(app)
    # Alembic announces each of its plugins at INFO on every command.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # The state machine library logs two INFO lines per event it fires; the product's own
    # line per event (log_event) says what happened.
    logging.getLogger("transitions").setLevel(logging.WARNING)
    if app.debug:
        return
    # Flask logs an unhandled exception on the app's logger; the filter sits on that logger
    # so that every handler (not only ours) receives the redacted record.
    app.logger.addFilter(REDACT_EXCEPTIONS)
    if app.testing:
        return
    app.logger.removeHandler(default_handler)  # the root handler below writes it once
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(handler)  # a later app of the same process replaces it
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(REDACT_EXCEPTIONS)
    root.addHandler(handler)
    root.setLevel(level)


def log_level(app: Flask) -> int:
    """``PIPELINE_LOG_LEVEL``, or INFO for the web and WARNING for a command."""

    configured = app.config.get("PIPELINE_LOG_LEVEL")
    if configured in (None, ""):
        return logging.WARNING if _in_a_command() else logging.INFO
    name = str(configured).strip().upper()
    if name not in LEVELS:
        raise ConfigurationError(f"PIPELINE_LOG_LEVEL must be one of {', '.join(LEVELS)}")
    return logging.getLevelName(name)


def _in_a_command() -> bool:
    # The app is being built by the flask command line (the app of a command, or of the
    # development server it starts), not by a WSGI server.
    import click

    return click.get_current_context(silent=True) is not None


class StderrHandler(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is when a record comes (a test runner
    or a server may replace it after the app is built)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (UTC), ``severity``, ``logger``, then either an
    event's fields (:func:`log_event`) or ``message``, and ``exc`` for an exception."""

    OWN = frozenset({"ts", "severity", "logger", "message", "exc"})

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
                  .replace("+00:00", "Z"),
            "severity": record.levelname.lower(),
            "logger": record.name,
        }
        event = getattr(record, "event_fields", None)
        if isinstance(event, Mapping):
            for key, value in event.items():  # an event's own "ts" cannot hide the line's
                line[f"event_{key}" if key in self.OWN else key] = value
        else:
            line["message"] = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = describe_exception(record.exc_info[1])
        if record.exc_text:
            line["exc"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


class RedactExceptions(logging.Filter):
    """Replace a record's exception by :func:`describe_exception`'s text: the traceback
    and the exception types, without their messages."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = describe_exception(record.exc_info[1])
            record.exc_info = None
        return True


REDACT_EXCEPTIONS = RedactExceptions()


def describe_exception(exc: BaseException | None) -> str:
    """A traceback an operator can use, without what the exceptions' messages carry.

    Each exception of the chain gives its frames (file, line, function, source line) and
    its type; a database error adds the driver's error type, SQLSTATE and constraint, and
    a connection failure the driver's first line (it names hosts, never rows); an OS error
    its errno and strerror. Messages themselves are left out: a database names the refused
    row's values in them, and any code may quote its input.
    """
    if exc is None:
        return ""
    parts: list[str] = []
    seen: set[int] = set()
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__
                                        else current.__context__)
    for position, item in enumerate(reversed(chain)):
        if position:
            parts.append("\nThe above exception led to the following one:\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(item.__traceback__))
        parts.append(_exception_line(item) + "\n")
    return "".join(parts).rstrip("\n")


def _exception_line(exc: BaseException) -> str:
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" \
        else f"{kind.__module__}.{kind.__qualname__}"
    details = []
    orig = getattr(exc, "orig", None)  # SQLAlchemy's wrapper of a driver error
    if isinstance(orig, BaseException):
        details.append(f"driver error {type(orig).__module__}.{type(orig).__qualname__}")
        code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) \
            or getattr(orig, "sqlite_errorname", None)
        if code:
            details.append(f"code {code}")
        diag = getattr(orig, "diag", None)
        constraint = getattr(diag, "constraint_name", None) if diag is not None else None
        if constraint:
            details.append(f"constraint {constraint}")
        if type(exc).__name__ in ("OperationalError", "InterfaceError"):
            first = str(orig).strip().splitlines()
            if first:
                details.append(f"said: {_masked(first[0])}")
        statement = getattr(exc, "statement", None)
        if statement:
            details.append("statement: " + " ".join(str(statement).split())[:300])
    elif isinstance(exc, OSError) and exc.errno is not None:
        details.append(f"errno {exc.errno} ({exc.strerror})")
    return f"{name} (message withheld{'; ' if details else ''}{'; '.join(details)})"


# ---------------------------------------------------------------- events

def safe_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` without personal data: keys naming it are dropped (listed under
    ``redacted``), texts shaped like a phone or ID number or an e-mail are masked, long
    texts cut; nested mappings and lists are cleaned the same way."""
    out: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in fields.items():
        if is_personal_key(key):
            dropped.append(str(key))
            continue
        out[str(key)] = _safe_value(value)
    if dropped:
        out["redacted"] = sorted(dropped)
    return out


def is_personal_key(key: Any) -> bool:
    """Whether a field named ``key`` would carry personal data (:data:`PERSONAL_KEYS`)."""
    return _personal_name(str(key))


@functools.lru_cache(maxsize=4096)  # events repeat the same few dozen field names
def _personal_name(key: str) -> bool:
    words = [w for w in _WORD_BREAK.split(_CAMEL.sub("_", key).lower()) if w]
    return bool(words) and ("".join(words) in PERSONAL_KEYS or words[-1] in PERSONAL_KEYS
                            or "".join(words[-2:]) in PERSONAL_KEYS)


_WORD_BREAK = re.compile(r"[_\-.\s]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_LARGEST_ID = 2**31 - 1  # the id columns are 32-bit: a larger number is no id of ours


def _safe_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        return MASK if value > _LARGEST_ID and _PERSONAL_TEXT.fullmatch(str(value)) else value
    if isinstance(value, str):
        return _masked(value[:MAX_TEXT])
    if isinstance(value, Mapping):
        return safe_fields(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [_safe_value(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return _masked(str(value)[:MAX_TEXT])


def _masked(text: str) -> str:
    return _PERSONAL_TEXT.sub(MASK, text)


class _JsonLine:
    """An event's message for plain formatters, made only if one asks for it."""

    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    def __str__(self) -> str:
        return json.dumps(self.fields, ensure_ascii=False, default=str)


def log_event(kind: str, /, **fields: Any) -> dict[str, Any]:
    """Write one structured line (logger ``pipeline.events``, level INFO) for a domain
    event or decision: ``{"kind": kind, **fields}`` without personal data
    (:func:`safe_fields`).

    Give ids (``prospect_id``, ``escalation_id``), ``actor_id``, stages, counts and
    ``duration_ms``; never names, numbers, addresses or free text: such keys are dropped
    (their names listed under ``redacted``). Returns the fields written (empty when INFO is
    off for the logger). Never raises for what it is given.
    """
    if not EVENTS.isEnabledFor(logging.INFO):
        return {}
    line = {"kind": str(kind), **safe_fields(fields)}
    line["kind"] = str(kind)
    EVENTS.info("%s", _JsonLine(line), extra={"event_fields": line})
    return line


@contextmanager
def timed_event(kind: str, /, **fields: Any) -> Iterator[dict[str, Any]]:
    """Time the block and :func:`log_event` it, with ``duration_ms`` and ``outcome``.

    The yielded dict is the event's fields: the block may add ids it learns on the way
    (``fields["to_stage"] = ...``). An exception is logged as ``outcome: "error"`` with its
    type (and a service error's code), never its message, and raised on::

        with timed_event("advance", prospect_id=pid, actor_id=actor.id) as fields:
            outcome = ...
            fields["to_stage"] = outcome.stage
    """
    started = time.perf_counter()
    try:
        yield fields
    except BaseException as exc:
        fields["outcome"] = "error"
        fields["error"] = type(exc).__name__
        code = getattr(exc, "code", None)
        if isinstance(code, str):
            fields["error_code"] = code
        fields["duration_ms"] = _ms_since(started)
        log_event(kind, **fields)
        raise
    fields.setdefault("outcome", "ok")
    fields["duration_ms"] = _ms_since(started)
    log_event(kind, **fields)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
