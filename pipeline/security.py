"""Web hardening and start-up checks.

* Security headers on every response: a content security policy without inline script,
  frame denial, no MIME sniffing, a referrer policy, and HSTS behind TLS or in production.
* Cookie and secret checks: production refuses the public default secret, a short secret,
  cookies that would travel over plain HTTP, and the interactive debugger.
* Errors outside development never show a stack trace: a plain page, or JSON for the API.
* The schema check: a database that cannot be reached or whose schema is behind the code
  gives one clear message (the web answers 503, commands exit non-zero) instead of a
  traceback on the first query.
"""
from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Callable
from typing import Any

import click
from flask import Flask, Response, current_app, jsonify, render_template, request

log = logging.getLogger(__name__)

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
HSTS = "max-age=31536000; includeSubDomains"
MIN_SECRET_LENGTH = 32
UPGRADE_HINT = "run flask --app wsgi db upgrade"

# Commands that must work whatever the database looks like (they create or inspect it).
SCHEMA_FREE_GROUPS = {"db", "workflow", "routes", "shell", "run"}


def init_app(app: Flask) -> None:
    """Wire the hardening into the app (called once by the app factory)."""
    check_config(app)
    # Alembic announces each of its plugins at INFO on every command; keep stderr readable.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    _exempt_api_from_csrf(app)
    app.after_request(_security_headers)
    app.before_request(_refuse_nul_characters)
    _register_error_pages(app)
    app.before_request(_schema_ready)
    _guard_commands(app)


# ---------------------------------------------------------------- configuration

def check_config(app: Flask) -> None:
    """Refuse a production start with secrets or cookies an attacker could use.

    Raises ``pipeline.app.ConfigurationError`` with a message naming the setting.
    """
    from pipeline import config as config_module
    from pipeline.app import ConfigurationError

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
    from pipeline.web import csrf

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


def _refuse_nul_characters() -> None:
    """Refuse NUL characters anywhere in the input with a 400.

    PostgreSQL cannot store them in text or JSONB (the driver raises), SQLite would keep
    them and truncate them in other tools: no field of the product has a use for them.
    """
    from flask import abort

    texts = [request.path, *request.args.keys(), *request.args.values()]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        texts += [*request.form.keys(), *request.form.values()]
    body = request.get_data(cache=True) if request.mimetype == "application/json" else b""
    if any("\x00" in t for t in texts) or b"\x00" in body or _JSON_NUL.search(body):
        abort(400, description="the request contains a NUL character")


# ---------------------------------------------------------------- errors

def _register_error_pages(app: Flask) -> None:
    from werkzeug.exceptions import InternalServerError

    @app.errorhandler(InternalServerError)
    def _internal_error(exc: InternalServerError):
        # Unhandled exceptions arrive here wrapped; the traceback goes to the log only.
        original = getattr(exc, "original_exception", None)
        if original is not None:
            current_app.logger.error("unhandled error on %s %s", request.method, request.path,
                                     exc_info=original)
        if request.path.startswith("/api/"):
            body = {"error": {"code": "internal_error", "message": "internal error",
                              "details": {}}}
            return jsonify(body), 500
        try:
            return render_template("errors/error.html", code=500, title="Internal error",
                                   message=""), 500
        except Exception:  # noqa: BLE001 - the layout itself may fail (database gone)
            return Response("500 Internal error. The error has been logged.", 500,
                            mimetype="text/plain")


# ---------------------------------------------------------------- schema check

def schema_problem(app: Flask) -> str | None:
    """Why the database cannot serve this code (unreachable, empty or behind), or None."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.exc import SQLAlchemyError

    from pipeline.cli import alembic_config
    from pipeline.db import get_db

    db = get_db(app)
    script = ScriptDirectory.from_config(alembic_config(db.url))
    heads = set(script.get_heads())
    quiet = logging.getLogger("alembic.runtime.migration")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # its "Context impl" line is noise before an error
    try:
        with db.engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return f"cannot reach the database {_safe_url(db.url)}: {reason}"
    finally:
        quiet.setLevel(level)
    if not current:
        return f"the database has no schema yet: {UPGRADE_HINT}"
    if current == heads:
        return None
    known = {r.revision for r in script.walk_revisions()}
    unknown = sorted(current - known)
    if unknown:
        return (f"the database schema is at {', '.join(unknown)}, a revision this code does not "
                f"know (it needs {', '.join(sorted(heads))}): run the release that migrated it, "
                "or restore a backup")
    return (f"the database schema is at {', '.join(sorted(current))} but the code needs "
            f"{', '.join(sorted(heads))}: {UPGRADE_HINT}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL: say so, show nothing of it
        return "(unparsable DATABASE_URL)"


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
    if request.path.startswith("/api/"):
        body = {"error": {"code": "unavailable", "message": problem, "details": {}}}
        return jsonify(body), 503
    return Response(f"503 Service unavailable: {problem}\n", 503, mimetype="text/plain")


def _guard_commands(app: Flask) -> None:
    """Commands that read or write data first check the database, then fail with one line.

    Every command of the project (``db`` included) reports an unreachable database as one
    line and exit status 1 rather than a traceback.
    """
    for name, command in list(app.cli.commands.items()):
        if name in ("routes", "shell", "run"):
            continue
        for cmd in _leaves(command):
            cmd.callback = _checked(cmd.callback, schema=name not in SCHEMA_FREE_GROUPS)


def _leaves(command: click.Command) -> list[click.Command]:
    if isinstance(command, click.Group):
        return [leaf for sub in command.commands.values() for leaf in _leaves(sub)]
    return [command]


def _checked(callback: Callable[..., Any] | None, *, schema: bool) -> Callable[..., Any] | None:
    # The command groups are module-level and shared by every app built in a process, so
    # the wrapper finds its app at call time and is applied once.
    if callback is None or getattr(callback, "_schema_checked", False):
        return callback
    from flask.cli import with_appcontext
    from sqlalchemy.exc import OperationalError

    @functools.wraps(callback)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        app = current_app._get_current_object()
        if schema and (not app.testing or app.config.get("PIPELINE_CHECK_SCHEMA")):
            problem = schema_problem(app)
            if problem is not None:
                click.echo(f"Error: {problem}", err=True)
                sys.exit(1)
        try:
            return callback(*args, **kwargs)
        except OperationalError as exc:
            reason = str(exc.orig or exc).strip().splitlines()[0]
            click.echo(f"Error: cannot reach the database {_safe_url(app.config['DATABASE_URL'])}"
                       f": {reason}", err=True)
            sys.exit(1)

    wrapper._schema_checked = True  # type: ignore[attr-defined]
    return with_appcontext(wrapper)
