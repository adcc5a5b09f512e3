"""Fixtures of the security suite: an app with CSRF on, helpers to run the command line in a
clean environment."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from pipeline import create_app
from pipeline.db import get_db, make_engine

ROOT = Path(__file__).resolve().parents[2]
FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]


@pytest.fixture
def csrf_app(app, connection):
    """The app as production builds it: CSRF checked on every form (the shared test app
    turns it off to keep form tests short). Its sessions join the test's transaction."""
    strict = create_app({"TESTING": True, "SECRET_KEY": "csrf-test-secret",
                         "WTF_CSRF_ENABLED": True, "DATABASE_URL": app.config["DATABASE_URL"],
                         "SERVER_NAME": "localhost.test"})
    get_db(strict).bind_to(connection)
    yield strict
    get_db(strict).engine.dispose()


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus every setting of the product, plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIPELINE_", "FLASK_")) and k != "DATABASE_URL"}
    env.update(extra)
    return env


def flask_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*FLASK, *args], cwd=ROOT, env=clean_env(**env), capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture
def fresh_database(database_url, tmp_path):
    """An empty database of the backend under test: a new SQLite file or a new PostgreSQL
    database, dropped afterwards."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    name = f"pipeline_cfg_{uuid.uuid4().hex[:10]}"
    admin = make_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(database_url).set(database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
