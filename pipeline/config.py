"""Configuration: defaults here, overrides from ``PIPELINE_*`` and ``DATABASE_URL``.

Every ``PIPELINE_<NAME>`` variable of the environment is read by Flask's
``Config.from_prefixed_env("PIPELINE")``. The product's own settings keep their prefix in
``app.config`` (``PIPELINE_TIMEZONE`` sets ``app.config["PIPELINE_TIMEZONE"]``); any other
name sets the Flask or extension setting of that name (``PIPELINE_SECRET_KEY`` sets
``SECRET_KEY``, ``PIPELINE_SESSION_COOKIE_SECURE`` sets ``SESSION_COOKIE_SECURE``). A value
takes the type of the setting's default: ``1/true/yes/on`` and ``0/false/no/off`` for
switches, a whole number for numbers, the text as written for texts. ``DATABASE_URL`` is read
without the prefix, as every database tool expects it.
"""
from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from flask import Config as FlaskConfig

# Public on purpose; production refuses it.
DEFAULT_SECRET = "dev-only-not-secret"  # nosec B105
PREFIX = "PIPELINE"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigurationError(RuntimeError):
    """The app refuses to start with this configuration."""


class Config:
    PIPELINE_ENV = "development"
    SECRET_KEY = DEFAULT_SECRET
    DATABASE_URL: str | None = None  # default: sqlite file in the instance folder
    # A read-only replica the reports and their downloads read (default: the database).
    PIPELINE_REPORTS_DATABASE_URL: str | None = None
    WORKFLOWS_DIR: str | None = None  # default: the workflows shipped with the app
    PIPELINE_TIMEZONE = "Asia/Shanghai"
    PIPELINE_NOW: str | None = None  # fixed clock (ISO-8601), never in production
    PIPELINE_SCHEDULER = False  # in-process sweep scheduler (make run turns it on)
    PIPELINE_SWEEP_MINUTES = 5
    PIPELINE_ROLLUP_MINUTES = 10  # the in-process scheduler's funnel rollup; 0: none
    PIPELINE_ROLLUP_MAX_AGE_MINUTES = 30  # older, the branch's funnel is computed live
    PIPELINE_SMTP_HOST: str | None = None
    PIPELINE_SMTP_PORT = 25
    PIPELINE_MAIL_FROM = "pipeline@localhost"
    PIPELINE_LOG_LEVEL: str | None = None  # default: INFO for the web, WARNING for commands
    PIPELINE_CHECK_SCHEMA = False  # tests only: run the schema check although TESTING is on
    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = ("zh_CN", "en")
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_DURATION = timedelta(days=7)  # and void after sign-out
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    WTF_CSRF_TIME_LIMIT = None
    JSON_SORT_KEYS = False
    API_PAGE_SIZE = 50
    API_MAX_PAGE_SIZE = 500
    MAX_CONTENT_LENGTH = 1024 * 1024  # 413 beyond 1 MiB (the customer book's upload: 20 MB)
    # Reverse proxies in front of the app whose X-Forwarded-For, -Proto and -Host are
    # trusted (werkzeug's ProxyFix, one hop each per proxy); 0: none, the headers are ignored.
    PIPELINE_PROXY_HOPS = 0
    PIPELINE_TOKEN_DAYS = 90  # an API token expires this many days after it is issued


class TestConfig(Config):
    TESTING = True
    # Tests only.
    SECRET_KEY = "test-secret"  # nosec B105
    WTF_CSRF_ENABLED = False


def load_environment(config: FlaskConfig) -> None:
    """Apply every ``PIPELINE_*`` variable and ``DATABASE_URL`` to ``config`` (which holds
    the defaults already); production turns the secure-cookie flags on.

    Raises :class:`ConfigurationError` naming the variable whose value does not fit its
    setting (a word for a number, ``maybe`` for a switch).
    """
    typed, raw = FlaskConfig(config.root_path), FlaskConfig(config.root_path)
    typed.from_prefixed_env(PREFIX)  # values parsed as JSON where they are JSON
    raw.from_prefixed_env(PREFIX, loads=str)  # and as written
    for name, value in typed.items():
        own = f"{PREFIX}_{name}"
        key = own if own in config else name
        config[key] = _typed(f"{PREFIX}_{name}", config.get(key), value, raw[name])
    if os.environ.get("DATABASE_URL"):
        config["DATABASE_URL"] = os.environ["DATABASE_URL"]
    if config.get("PIPELINE_ENV") == "production":
        config["SESSION_COOKIE_SECURE"] = True
        config["REMEMBER_COOKIE_SECURE"] = True


def _typed(variable: str, default: Any, parsed: Any, written: Any) -> Any:
    """The value of ``variable`` with the type of the setting's default."""
    if isinstance(default, bool):
        text = str(written).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise ConfigurationError(f"{variable} must be one of 1, true, yes, on, 0, false, no, "
                                 "off")
    if isinstance(default, int):
        if isinstance(parsed, int) and not isinstance(parsed, bool):
            return parsed
        raise ConfigurationError(f"{variable} must be a whole number")
    if isinstance(default, str):
        return written  # a secret or a name made of digits stays text
    return parsed
