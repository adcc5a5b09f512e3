"""``PIPELINE_REPORTS_DATABASE_URL``: unset, the reports read the request's session; set, a
session of their own on that database, which refuses every write."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from pipeline import create_app
from pipeline.db import get_db, get_session, reports_session


def make(database_url: str, reports_url: str | None = None):
    config = {"TESTING": True, "SECRET_KEY": "reports-db-test", "DATABASE_URL": database_url}
    if reports_url is not None:
        config["PIPELINE_REPORTS_DATABASE_URL"] = reports_url
    return create_app(config)


def test_without_a_replica_the_reports_read_the_request_session(app):
    with app.test_request_context():
        assert reports_session() is get_session()
    assert get_db(app).reports_engine is None


def test_the_replica_is_read_from_the_environment(app, monkeypatch):
    url = app.config["DATABASE_URL"]
    monkeypatch.setenv("PIPELINE_REPORTS_DATABASE_URL",
                       url.replace("postgresql+psycopg://", "postgres://", 1))
    second = make(url)
    db = get_db(second)
    try:
        assert second.config["PIPELINE_REPORTS_DATABASE_URL"] == url  # the driver named
        assert db.reports_engine is not None and db.reports_engine is not db.engine
        assert str(db.reports_engine.url) == str(db.engine.url)
    finally:
        db.engine.dispose()
        db.reports_engine.dispose()


def test_the_reports_session_is_its_own_and_refuses_writes(app):
    url = app.config["DATABASE_URL"]
    # The same database through the reports' engine: what a replica would hold.
    second = make(url, url)
    db = get_db(second)
    try:
        with second.test_request_context():
            reports = reports_session()
            assert reports is not get_session() and reports is reports_session()
            assert reports.get_bind() is db.reports_engine
            assert reports.scalar(text("SELECT count(*) FROM users")) >= 0
            with pytest.raises(DBAPIError, match="read-only|readonly"):
                reports.execute(text("CREATE TABLE not_on_a_replica (x integer)"))
            reports.rollback()
            reports.scalar(text("SELECT 1"))
            assert db.reports_engine.pool.checkedout() == 1
        assert db.reports_engine.pool.checkedout() == 0  # closed with the request
    finally:
        db.engine.dispose()
        db.reports_engine.dispose()


@pytest.mark.postgres_only
def test_the_replicas_own_connection_options_are_kept(app):
    url = app.config["DATABASE_URL"] + "?options=-c%20statement_timeout%3D4321"
    second = make(app.config["DATABASE_URL"], url)
    db = get_db(second)
    try:
        with db.reports_engine.connect() as conn:
            assert conn.scalar(text("SHOW statement_timeout")) == "4321ms"
            assert conn.scalar(text("SHOW default_transaction_read_only")) == "on"
    finally:
        db.engine.dispose()
        db.reports_engine.dispose()
