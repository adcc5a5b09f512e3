"""Fixtures: every database test runs on SQLite and, where TEST_DATABASE_URL names one,
on PostgreSQL. One schema per backend per test session (built by the migrations); each test
runs inside a transaction that is rolled back."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from pipeline import clock, create_app
from pipeline.cli import upgrade
from pipeline.db import get_db
from tests.factories import Factory

PG_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # a Monday, 09:00 in Shanghai


def pytest_configure(config: pytest.Config) -> None:
    subprocess.run([sys.executable, "scripts/compile_translations.py"], check=True,
                   cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if os.environ.get("CI") and not PG_URL:
        raise pytest.UsageError("CI must set TEST_DATABASE_URL: no database test may be skipped")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``postgres_only`` (concurrent writers, SKIP LOCKED) run only with the
    PostgreSQL parameter; their SQLite instances are deselected, not skipped."""
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if item.get_closest_marker("postgres_only") and params.get("database_url") != "postgresql":
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def reset_postgres(url: str) -> None:
    from pipeline.db import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.sqlite3")
    url = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1) \
        if PG_URL.startswith("postgresql://") else PG_URL
    reset_postgres(url)
    return url


@pytest.fixture(scope="session")
def app(database_url: str, tmp_path_factory: pytest.TempPathFactory):
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret", "WTF_CSRF_ENABLED": False,
                      "DATABASE_URL": database_url,
                      "SERVER_NAME": "localhost.test"})
    app.instance_path = str(tmp_path_factory.mktemp("instance"))
    upgrade(app.config["DATABASE_URL"])
    yield app
    get_db(app).engine.dispose()


@pytest.fixture
def backend(app) -> str:
    return get_db(app).engine.dialect.name


@pytest.fixture
def connection(app):
    db = get_db(app)
    conn = db.engine.connect()
    outer = conn.begin()
    db.bind_to(conn)
    try:
        yield conn
    finally:
        outer.rollback()
        conn.close()
        db.sessionmaker.configure(bind=db.engine, join_transaction_mode="conditional_savepoint")


@pytest.fixture
def session(app, connection):
    s = get_db(app).sessionmaker()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def client(app, connection):
    return app.test_client()


@pytest.fixture
def runner(app, connection):
    return app.test_cli_runner()


@pytest.fixture(autouse=True)
def _fixed_clock():
    clock.set_now(T0)
    yield
    clock.set_now(None)


@pytest.fixture
def factory(session) -> Factory:
    return Factory(session)


@pytest.fixture
def committed(app):
    """For tests that need real commits seen by other connections (concurrency): the rows
    are removed afterwards."""
    db = get_db(app)
    yield db
    from pipeline.audit.purge import deletes_allowed
    from pipeline.models import Base

    with db.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name == "audit_log":  # append-only: its guard lifted for the cleanup
                with deletes_allowed(conn):
                    conn.execute(table.delete())
            else:
                conn.execute(table.delete())
