"""Browser tests: the real app served over HTTP, driven by headless Chromium (Playwright).

Fixtures
--------
``live_server`` (session scope, parametrized ``sqlite`` / ``postgresql``)
    The app from ``create_app`` served by werkzeug in a background thread on a free
    127.0.0.1 port, against its OWN database (never the rolled-back test database): a temp
    SQLite file, and — when ``TEST_DATABASE_URL`` is set — a fresh PostgreSQL database
    created on that server for this run and dropped afterwards. The schema comes from the
    migrations (``pipeline.cli.upgrade``). CSRF is on, as in production. Attributes:
    ``url`` (``http://127.0.0.1:PORT``), ``app``, ``database_url``, ``backend``, ``errors``
    (unhandled exceptions the server raised; every browser test fails if one appears).
    Every test that uses it runs once per backend.

``live_factory``
    A :class:`tests.factories.Factory` bound to a session on the live server's database:
    ``live_factory.user("manager", "Team A")``, ``live_factory.prospect(owner, stage=...)``.
    Everything goes through the real services and is COMMITTED, so the server sees it.
    The database lives for the whole session: rows accumulate across tests, so make your
    own users (each gets a unique e-mail) and look only at their prospects. Users are
    created with the password ``PASSWORD`` (``secret-pass``).

``browser`` (session scope)
    Chromium launched from ``/usr/bin/chromium`` in headless mode. When it is missing
    the test is skipped locally and FAILS when the ``CI`` environment variable is set.

``page``
    A fresh browser context (own cookies, English ``Accept-Language``, base URL set to the
    live server, so ``page.goto("/board")`` works) and a page in it.

``login(page, email, password=PASSWORD)`` (a plain function, also a fixture of that name)
    Signs in through the login form and waits until the app has left ``/login``.

Clock
-----
The server runs in the test process, so it shares :mod:`pipeline.clock` with the test.
The suite's autouse fixture fixes it at ``tests.conftest.T0`` for every test, so the data a
test creates and the pages the server renders agree on "now". ``clock.travel(...)`` or
``clock.set_now(...)`` in a test move it for both (e.g. create a prospect 30 days before
``T0`` to get an overdue card). Sign-in throttling counts failures in the last 15 minutes
of that fixed clock, per address: keep wrong-password attempts per backend under 20.

Mark browser tests with ``@pytest.mark.browser``::

    pytestmark = pytest.mark.browser

    def test_board(page, live_factory, login):
        manager = live_factory.user("manager", "Team A")
        live_factory.prospect(manager, name="Wang Fang")
        login(page, manager.email)
        page.goto("/board")
        assert page.get_by_text("Wang Fang").is_visible()
"""
from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, got_request_exception
from sqlalchemy import text
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from pipeline import create_app
from pipeline.cli import upgrade
from pipeline.db import get_db, make_engine
from tests.factories import Factory

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking"]
PASSWORD = "secret-pass"  # Factory.user's default password
PG_URL = os.environ.get("TEST_DATABASE_URL")
LIVE_BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@dataclass
class LiveServer:
    url: str
    app: Flask
    database_url: str
    backend: str
    errors: list[BaseException] = field(default_factory=list)


def _psycopg_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _create_pg_database() -> tuple[str, Callable[[], None]]:
    """A fresh database on the TEST_DATABASE_URL server; returns its URL and a dropper."""
    admin_url = make_url(_psycopg_url(PG_URL))
    name = f"{admin_url.database or 'pipeline'}_live_{secrets.token_hex(4)}"
    admin = make_engine(admin_url.render_as_string(hide_password=False),
                        isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin_url.set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(scope="session", params=LIVE_BACKENDS)
def live_server(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    drop: Callable[[], None] | None = None
    if request.param == "sqlite":
        url = "sqlite:///" + str(tmp_path_factory.mktemp("live") / "live.sqlite3")
    else:
        url, drop = _create_pg_database()
    upgrade(url)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": secrets.token_hex(16),
                      "PIPELINE_SCHEDULER": False})
    app.instance_path = str(tmp_path_factory.mktemp("live-instance"))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    live = LiveServer(f"http://127.0.0.1:{server.server_port}", app, url, request.param)

    def record(_sender: Any, exception: BaseException, **_kw: Any) -> None:
        live.errors.append(exception)

    got_request_exception.connect(record, app, weak=False)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield live
    finally:
        server.shutdown()
        thread.join(timeout=10)
        get_db(app).engine.dispose()
        if drop is not None:
            drop()


@pytest.fixture(autouse=True)
def _no_server_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """A browser test fails when the server raised an unhandled exception meanwhile."""
    if "live_server" not in request.fixturenames:
        yield
        return
    live: LiveServer = request.getfixturevalue("live_server")
    before = len(live.errors)
    yield
    new = live.errors[before:]
    if new:
        pytest.fail(f"the live server raised: {new[0]!r}")


@pytest.fixture
def live_session(live_server: LiveServer):
    session = get_db(live_server.app).sessionmaker()
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def live_factory(live_session) -> Factory:
    return Factory(live_session)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        # make test installs it (scripts/ensure-chromium.sh); a browser test never skips.
        pytest.fail(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, live_server: LiveServer):
    context = browser.new_context(base_url=live_server.url, locale="en-US",
                                  viewport={"width": 1440, "height": 900})
    context.set_default_timeout(10_000)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


def login(page: Any, email: str, password: str = PASSWORD) -> None:
    """Sign in through the form; returns once the browser has left the login page."""
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit].primary")
    page.wait_for_url(lambda u: "/login" not in u)


@pytest.fixture(name="login")
def login_fixture() -> Callable[..., None]:
    return login
