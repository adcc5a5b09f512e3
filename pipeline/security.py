"""Web hardening and start-up checks.

* Security headers on every response: a content security policy without inline script,
  frame denial, no MIME sniffing, a referrer policy, and HSTS behind TLS or in production.
* Cookie and secret checks: production refuses the public default secret, a short secret,
  cookies that would travel over plain HTTP, and the interactive debugger.
* The schema check: a database that cannot be reached or whose schema is behind the code
  gives one clear message (the web answers 503; commands, through their group in
  :mod:`pipeline.cli`, exit non-zero) instead of a traceback on the first query.

Errors never show a stack trace: :mod:`pipeline.errors` answers every one of them.
"""
from __future__ import annotations

import logging
import re
from typing import Any

from flask import Flask, Request, Response, current_app, request

from pipeline import config as config_module
from pipeline.cli import UPGRADE_HINT, schema_problem
from pipeline.config import ConfigurationError
from pipeline.errors import Unavailable
from pipeline.web import csrf

__all__ = ["CSP", "HSTS", "UPGRADE_HINT", "check_config", "init_app", "schema_problem"]

log = logging.getLogger(__name__)

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
HSTS = "max-age=31536000; includeSubDomains"
MIN_SECRET_LENGTH = 32


def init_app(app: Flask) -> None:
    """Wire the hardening into the app (called once by the app factory, which has run
    :func:`check_config` before anything else)."""
    _exempt_api_from_csrf(app)
    _trust_proxies(app)
    app.after_request(_security_headers)
    app.request_class = UploadAwareRequest
    app.before_request(_refuse_nul_characters)
    app.before_request(_refuse_hostile_json)
    app.before_request(_schema_ready)


# ---------------------------------------------------------------- configuration

def check_config(app: Flask) -> None:
    """Refuse a production start with secrets or cookies an attacker could use.

    Raises :class:`pipeline.config.ConfigurationError` with a message naming the setting.
    """
    if app.config.get("PIPELINE_ENV") != "production":
        return
    secret = app.config.get("SECRET_KEY") or ""
    if secret == config_module.DEFAULT_SECRET or not secret:
        raise ConfigurationError(
            "PIPELINE_SECRET_KEY must be set in production (the default secret is public)")
    if len(secret) < MIN_SECRET_LENGTH:
        raise ConfigurationError(
            f"PIPELINE_SECRET_KEY is too short for production (at least {MIN_SECRET_LENGTH} "
            "characters; e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')")
    if app.debug:
        raise ConfigurationError("the debugger (FLASK_DEBUG) is refused in production")
    for key in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
        if not app.config.get(key):
            raise ConfigurationError(f"{key} must stay on in production (cookies over TLS only)")
    if not app.config.get("WTF_CSRF_ENABLED", True):
        raise ConfigurationError("CSRF protection cannot be turned off in production")


def _exempt_api_from_csrf(app: Flask) -> None:
    # The API authenticates with bearer tokens, never with the session cookie, so a forged
    # cross-site request carries no credentials; form CSRF tokens do not apply to it.

    api = app.blueprints.get("api")
    if api is not None:
        csrf.exempt(api)


# ---------------------------------------------------------------- headers

def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.is_secure or current_app.config.get("PIPELINE_ENV") == "production":
        headers.setdefault("Strict-Transport-Security", HSTS)
    if request.path.startswith("/api/") or request.endpoint not in (None, "static"):
        # Pages carry personal data: never kept by shared caches or the back button's cache.
        headers.setdefault("Cache-Control", "no-store")
    return response


# ---------------------------------------------------------------- input

_JSON_NUL = re.compile(rb"\\u0000", re.IGNORECASE)
# Bodies that are files, not text: a workbook is a ZIP archive, full of NUL bytes.
BINARY_TYPES = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "application/octet-stream", "multipart/form-data")
MAX_JSON_DEPTH = 32  # no command nests deeper than a few levels
_SURROGATE = re.compile("[\ud800-\udfff]")


def _trust_proxies(app: Flask) -> None:
    """Behind ``PIPELINE_PROXY_HOPS`` reverse proxies, the client's address is the one
    the nearest proxies name (``X-Forwarded-For``); with none (the default) it is the
    connection's. The sign-in throttle counts addresses as this decides."""
    hops = app.config.get("PIPELINE_PROXY_HOPS") or 0
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops,  # type: ignore[method-assign]
                                x_host=hops)


UPLOAD_ENDPOINTS = ("api.import_customers", "customers.import_page")


class UploadAwareRequest(Request):
    """Bodies are at most ``MAX_CONTENT_LENGTH`` (1 MiB: 413 beyond), except the customer
    book's upload, which takes a file of up to its own limit and answers its own 413. The
    limit is the request's own, known from its route before anything (the form's CSRF
    check included) reads the body."""

    @property
    def max_content_length(self) -> int | None:
        if self.endpoint in UPLOAD_ENDPOINTS:
            from pipeline.customers.services import MAX_FILE_BYTES

            return MAX_FILE_BYTES + 64 * 1024  # the form's own fields
        return super().max_content_length


def _is_text_body() -> bool:
    return bool(request.content_length or request.headers.get("Transfer-Encoding")) \
        and request.mimetype not in BINARY_TYPES


def _refuse_nul_characters() -> None:
    """Refuse NUL characters anywhere in the input with a 400.

    PostgreSQL cannot store them in text or JSONB (the driver raises), SQLite would keep
    them and truncate them in other tools: no field of the product has a use for them.
    Every body that is not a file is looked at, whatever type it claims (a JSON body sent
    as ``text/plain`` is still read as JSON), also for the escaped form ``\\u0000``.
    """
    from flask import abort

    texts = [request.path, *request.args.keys(), *request.args.values()]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        texts += [*request.form.keys(), *request.form.values()]
    body = request.get_data(cache=True) if _is_text_body() else b""
    if any("\x00" in t for t in texts) or b"\x00" in body or _JSON_NUL.search(body):
        abort(400, description="the request contains a NUL character")


def _refuse_hostile_json() -> None:
    """A JSON body nested deeper than :data:`MAX_JSON_DEPTH`, or with a lone surrogate
    (``"\\ud800"``, which no database text takes), is a 400 before any handler reads
    it. A body that is not JSON at all is left to the handler (its own 400)."""
    import json

    from pipeline.errors import BadRequest

    if request.mimetype == "application/x-www-form-urlencoded" or not _is_text_body():
        return
    body = request.get_data(cache=True)
    if body.lstrip()[:1] not in (b"{", b"["):
        return
    try:
        value = json.loads(body)
    except RecursionError:
        raise BadRequest(f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels",
                         code="malformed_json") from None
    except ValueError:
        return
    problem = json_problem(value)
    if problem:
        raise BadRequest(problem, code="malformed_json")


def json_problem(value: Any) -> str | None:
    """What makes a decoded JSON value unfit for the product (too deep, a lone surrogate
    in a key or a text), or None. Iterative: a hostile depth cannot exhaust the stack."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels"
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return "the JSON body contains a lone surrogate (not a character)"
        elif isinstance(item, dict):
            for key, child in item.items():
                if _SURROGATE.search(key):
                    return "the JSON body contains a lone surrogate (not a character)"
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return None


# ---------------------------------------------------------------- schema check

def _schema_ready() -> Any:
    """Once per process: a web request on a database that cannot serve it gets a 503."""
    app = current_app._get_current_object()
    if app.testing and not app.config.get("PIPELINE_CHECK_SCHEMA"):
        return None
    state = app.extensions.setdefault("pipeline.schema", {})
    if state.get("ok"):
        return None
    if request.endpoint in ("static", "healthz"):
        return None
    problem = schema_problem(app)
    if problem is None:
        state["ok"] = True
        return None
    log.error("not serving: %s", problem)
    raise Unavailable(problem)
