"""Several hosts behind a reverse proxy: with ``PIPELINE_PROXY_HOPS`` the proxy's
X-Forwarded-For is the address the sign-in throttle counts and its X-Forwarded-Proto the
scheme of the request; without it both headers are ignored."""
from __future__ import annotations

import pytest
from flask import request

from pipeline import create_app
from pipeline.db import get_db

CLIENT = "203.0.113.9"
NEIGHBOUR = "198.51.100.7"


def served(app, connection, hops: int):
    """The app as a host behind ``hops`` proxies would run it, on the test's transaction."""
    behind = create_app({"TESTING": True, "SECRET_KEY": "proxy-test", "WTF_CSRF_ENABLED": False,
                         "DATABASE_URL": app.config["DATABASE_URL"],
                         "SERVER_NAME": "localhost.test", "PIPELINE_PROXY_HOPS": hops})
    get_db(behind).bind_to(connection)
    behind.add_url_rule("/_seen", "seen", lambda: f"{request.url} {request.remote_addr}")
    return behind


def wrong(client, email: str, forwarded_for: str) -> int:
    return client.post("/login", data={"email": email, "password": "wrong"},
                       headers={"X-Forwarded-For": forwarded_for}).status_code


@pytest.mark.parametrize("hops", [0, 1])
def test_the_throttle_counts_the_forwarded_address_only_behind_a_trusted_proxy(
        app, connection, factory, hops):
    user = factory.user()
    client = served(app, connection, hops).test_client()
    for _ in range(5):  # the failures one account may have from one address
        assert wrong(client, user.email, CLIENT) == 401
    assert wrong(client, user.email, CLIENT) == 429
    # A neighbour behind the same proxy: another address only when the proxy is trusted.
    assert wrong(client, user.email, NEIGHBOUR) == (401 if hops else 429)
    # What the client itself writes before the proxy's entry is never believed.
    assert wrong(client, user.email, f"{NEIGHBOUR}, {CLIENT}") == 429


@pytest.mark.parametrize("hops", [0, 1])
def test_the_scheme_and_address_are_the_proxys_only_when_trusted(app, connection, hops):
    client = served(app, connection, hops).test_client()
    r = client.get("/_seen", headers={"X-Forwarded-For": CLIENT, "X-Forwarded-Proto": "https"})
    url, address = r.get_data(as_text=True).split()
    if hops:
        assert url == "https://localhost.test/_seen" and address == CLIENT
        assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    else:
        assert url == "http://localhost.test/_seen" and address == "127.0.0.1"
        assert "Strict-Transport-Security" not in r.headers


def test_two_proxies_trust_the_entry_the_outer_one_made(app, connection):
    """The load balancer and the host's own nginx: the client is the second entry from the
    right, whatever the client put before it."""
    client = served(app, connection, 2).test_client()
    r = client.get("/_seen", headers={"X-Forwarded-For": f"10.9.9.9, {CLIENT}, 10.0.0.5",
                                      "X-Forwarded-Proto": "https, http"})
    url, address = r.get_data(as_text=True).split()
    assert address == CLIENT and url.startswith("https://")


@pytest.mark.parametrize("hops", ["-1", "11", "two"])
def test_a_proxy_count_that_cannot_be_right_stops_the_start(monkeypatch, hops):
    from pipeline.config import ConfigurationError

    monkeypatch.setenv("PIPELINE_PROXY_HOPS", hops)
    with pytest.raises(ConfigurationError, match="PIPELINE_PROXY_HOPS"):
        create_app({"TESTING": True, "DATABASE_URL": "sqlite://"})
