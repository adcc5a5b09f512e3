"""Two application hosts behind one proxy, as the runbook sets them up: two gunicorn
servers on one PostgreSQL database with the same secret and ``PIPELINE_PROXY_HOPS=1``. A
user signed in on one host is signed in on the other (no sticky sessions), the sign-in is
audited with the address the proxy forwarded, and signing out on one host ends the session
on both."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from pipeline.auth.models import AuditEntry
from pipeline.auth.services import create_user
from tests.deploy.replica import free_port

pytestmark = pytest.mark.postgres_only

GUNICORN = Path(sys.executable).parent / "gunicorn"
CLIENT = "203.0.113.9"
FORWARDED = {"X-Forwarded-For": CLIENT, "X-Forwarded-Proto": "http"}


@pytest.fixture
def hosts(app, committed, tmp_path):
    env = {**os.environ, "DATABASE_URL": app.config["DATABASE_URL"],
           "PIPELINE_SECRET_KEY": "one-secret-for-every-host-" + "x" * 16,
           "PIPELINE_PROXY_HOPS": "1", "PIPELINE_SCHEDULER": "0",
           "PIPELINE_LOG_LEVEL": "WARNING"}
    env.pop("PIPELINE_NOW", None)
    ports = [free_port(), free_port()]
    procs = [subprocess.Popen(
        [str(GUNICORN), "--workers", "1", "--bind", f"127.0.0.1:{port}", "--log-level",
         "warning", "pipeline:create_app()"], env=env, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for port in ports]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url, proc in zip(urls, procs, strict=True):
            deadline = time.monotonic() + 60
            while True:
                try:
                    if direct().get(url + "/healthz", timeout=10).ok:
                        break
                except requests.RequestException:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start: "
                                       + proc.stderr.read().decode()[-2000:])
                time.sleep(0.1)
        yield urls
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)  # gunicorn's quick shutdown: nothing in flight
        for proc in procs:
            proc.wait(30)
            proc.stderr.close()


def direct() -> requests.Session:
    """A client that talks to 127.0.0.1 itself, whatever proxy the environment names."""
    client = requests.Session()
    client.trust_env = False
    return client


def token(page: requests.Response) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


def test_a_session_begun_on_one_host_is_served_and_ended_on_the_other(committed, hosts):
    a, b = hosts
    with committed.sessionmaker() as session:
        user = create_user(session, "two-hosts@bank.test", role="manager", team="Team A",
                           password="secret-pass", name="Two hosts")
    browser = direct()
    signed = browser.post(a + "/login", headers=FORWARDED, allow_redirects=False, data={
        "email": user.email, "password": "secret-pass",
        "csrf_token": token(browser.get(a + "/login", headers=FORWARDED))})
    assert signed.status_code == 302
    board = browser.get(b + "/board", headers=FORWARDED, allow_redirects=False)
    assert board.status_code == 200  # the other host knows the session

    with committed.sessionmaker() as session:
        signed_in = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "login", AuditEntry.actor_id == user.id)).one()
        assert signed_in.ip == CLIENT  # the proxy's X-Forwarded-For, not 127.0.0.1

    copied = dict(browser.cookies)  # the cookie as a thief would keep it
    out = browser.post(b + "/logout", headers=FORWARDED, allow_redirects=False,
                       data={"csrf_token": token(board)})
    assert out.status_code in (302, 303)
    replayed = direct().get(a + "/board", cookies=copied, allow_redirects=False)
    assert replayed.status_code == 302 and "/login" in replayed.headers["Location"]
