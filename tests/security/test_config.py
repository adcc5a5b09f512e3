"""Bad files and bad configuration: one clear message, a non-zero exit, never a traceback.

Each case runs the real command line (``flask --app wsgi ...``) in a clean environment.
"""
from __future__ import annotations

import socket

from sqlalchemy import text
from sqlalchemy.engine import make_url

from pipeline import create_app
from pipeline.db import make_engine
from pipeline.security import UPGRADE_HINT
from pipeline.workflows import DEFAULT_DIR
from tests.security.conftest import flask_cli


def assert_one_clear_error(result, *needles: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- secrets

def test_production_refuses_the_default_secret(tmp_path):
    r = flask_cli("db", "current", PIPELINE_ENV="production",
                  DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert_one_clear_error(r, "PIPELINE_SECRET_KEY must be set in production")


def test_production_refuses_a_short_secret(tmp_path):
    r = flask_cli("db", "current", PIPELINE_ENV="production", PIPELINE_SECRET_KEY="short",
                  DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert_one_clear_error(r, "PIPELINE_SECRET_KEY is too short")


def test_production_starts_with_a_real_secret(monkeypatch, tmp_path):
    monkeypatch.setenv("PIPELINE_ENV", "production")
    monkeypatch.setenv("PIPELINE_SECRET_KEY", "k" * 48)
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"})
    assert app.config["SECRET_KEY"] == "k" * 48


# ---------------------------------------------------------------- workflow files

def test_a_broken_workflow_file_stops_the_start(tmp_path):
    folder = tmp_path / "workflows"
    folder.mkdir()
    text_ = (DEFAULT_DIR / "seven_step.yaml").read_text(encoding="utf-8")
    (folder / "seven_step.yaml").write_text(text_.replace("limit_days: 14", "limit_days: -14"),
                                            encoding="utf-8")
    r = flask_cli("users", "token", "x@bank.test", PIPELINE_WORKFLOWS_DIR=str(folder),
                  DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert_one_clear_error(r, "seven_step.yaml", "limit_days", "positive")


def test_a_workflow_file_that_is_not_yaml_stops_the_start(tmp_path):
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "seven_step.yaml").write_text("key: [unclosed\n  - {", encoding="utf-8")
    r = flask_cli("db", "current", PIPELINE_WORKFLOWS_DIR=str(folder),
                  DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert_one_clear_error(r, "seven_step.yaml")


def test_a_missing_workflow_folder_stops_the_start(tmp_path):
    r = flask_cli("db", "current", PIPELINE_WORKFLOWS_DIR=str(tmp_path / "nowhere"),
                  DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert_one_clear_error(r, "nowhere")


# ---------------------------------------------------------------- databases

def test_a_closed_port():
    url = f"postgresql://pipeline:pw-not-shown@127.0.0.1:{free_port()}/pipeline"
    for args in (("db", "upgrade"), ("users", "token", "x@bank.test")):
        r = flask_cli(*args, DATABASE_URL=url)
        assert_one_clear_error(r, "cannot reach the database", "refused")
        assert "pw-not-shown" not in r.stderr


def test_a_missing_database(database_url, tmp_path):
    if database_url.startswith("sqlite"):
        url, why = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.sqlite3'}", "unable to open"
    else:
        url = make_url(database_url).set(database="pipeline_does_not_exist") \
            .render_as_string(hide_password=False)
        why = "does not exist"
    r = flask_cli("users", "create", "a@bank.test", "--role", "admin", DATABASE_URL=url)
    assert_one_clear_error(r, "cannot reach the database", why)


def test_a_schema_that_is_behind(fresh_database):
    r = flask_cli("users", "create", "a@bank.test", "--role", "admin",
                  DATABASE_URL=fresh_database)
    assert_one_clear_error(r, "no schema yet", UPGRADE_HINT)
    r = flask_cli("db", "upgrade", DATABASE_URL=fresh_database)
    assert r.returncode == 0, r.stderr
    r = flask_cli("pipeline", "sweep", "--no-mail", DATABASE_URL=fresh_database)
    assert r.returncode == 0, r.stderr


def test_a_schema_from_an_unknown_release(fresh_database):
    from pipeline.cli import upgrade

    upgrade(fresh_database.replace("postgresql://", "postgresql+psycopg://", 1))
    engine = make_engine(fresh_database)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    engine.dispose()
    r = flask_cli("users", "token", "a@bank.test", DATABASE_URL=fresh_database)
    assert_one_clear_error(r, "0099_future", "does not", "know")


def test_the_web_answers_503_until_the_schema_is_upgraded(fresh_database):
    from pipeline.cli import upgrade

    web = create_app({"TESTING": True, "PIPELINE_CHECK_SCHEMA": True, "SECRET_KEY": "x",
                      "DATABASE_URL": fresh_database})
    client = web.test_client()
    r = client.get("/login")
    assert r.status_code == 503 and UPGRADE_HINT in r.get_data(as_text=True)
    r = client.get("/api/v1/prospects")
    assert r.status_code == 503
    assert set(r.json["error"]) == {"code", "message", "details"}
    assert client.get("/healthz").status_code == 200
    upgrade(web.config["DATABASE_URL"])
    assert client.get("/login").status_code == 200
    from pipeline.db import get_db

    get_db(web).engine.dispose()


def test_commands_added_from_other_modules_are_checked_too(fresh_database):
    for args in (("pipeline", "sweep", "--no-mail"), ("pipeline", "send-mail")):
        r = flask_cli(*args, DATABASE_URL=fresh_database)
        assert_one_clear_error(r, "no schema yet", UPGRADE_HINT)
