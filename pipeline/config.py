"""Configuration: defaults here, overrides from ``PIPELINE_*`` and ``DATABASE_URL``."""
from __future__ import annotations

import os
from datetime import timedelta

# Public on purpose; production refuses it.
DEFAULT_SECRET = "dev-only-not-secret"  # nosec B105


class Config:
    PIPELINE_ENV = "development"
    SECRET_KEY = DEFAULT_SECRET
    DATABASE_URL: str | None = None  # default: sqlite file in the instance folder
    WORKFLOWS_DIR: str | None = None  # default: <project>/workflows
    PIPELINE_TIMEZONE = "Asia/Shanghai"
    PIPELINE_NOW: str | None = None  # fixed clock (ISO-8601), never in production
    PIPELINE_SCHEDULER = False  # in-process sweep scheduler (make run turns it on)
    PIPELINE_SWEEP_MINUTES = 5
    PIPELINE_SMTP_HOST: str | None = None
    PIPELINE_SMTP_PORT = 25
    PIPELINE_MAIL_FROM = "pipeline@localhost"
    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = ("zh_CN", "en")
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_DURATION = timedelta(days=14)
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    WTF_CSRF_TIME_LIMIT = None
    JSON_SORT_KEYS = False
    API_PAGE_SIZE = 50
    API_MAX_PAGE_SIZE = 500


class TestConfig(Config):
    TESTING = True
    # Tests only.
    SECRET_KEY = "test-secret"  # nosec B105
    WTF_CSRF_ENABLED = False


def from_environment(config: dict) -> None:
    """Apply ``DATABASE_URL`` and every ``PIPELINE_*`` variable from the environment."""
    if os.environ.get("DATABASE_URL"):
        config["DATABASE_URL"] = os.environ["DATABASE_URL"]
    if os.environ.get("PIPELINE_WORKFLOWS_DIR"):
        config["WORKFLOWS_DIR"] = os.environ["PIPELINE_WORKFLOWS_DIR"]
    if os.environ.get("PIPELINE_SECRET_KEY"):
        config["SECRET_KEY"] = os.environ["PIPELINE_SECRET_KEY"]
    for key, value in os.environ.items():
        if not key.startswith("PIPELINE_") or key == "PIPELINE_SECRET_KEY":
            continue
        default = getattr(Config, key, None)
        if isinstance(default, bool):
            config[key] = value.lower() in {"1", "true", "yes", "on"}
        elif isinstance(default, int):
            config[key] = int(value)
        else:
            config[key] = value
    if config.get("PIPELINE_ENV") == "production":
        config["SESSION_COOKIE_SECURE"] = True
        config["REMEMBER_COOKIE_SECURE"] = True
