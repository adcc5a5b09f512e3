"""Web hardening: headers, cookies, sessions, throttling, CSRF, error pages, templates."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pipeline import create_app
from pipeline.security import CSP
from tests.security.conftest import ROOT

LONG_SECRET = "s" * 48


def sign_in(client, email: str, password: str = "secret-pass", ip: str = "127.0.0.1"):
    # Flask-Login's strong session protection binds the session to the address: later
    # requests come from the test client's default 127.0.0.1.
    return client.post("/login", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": ip})


# ---------------------------------------------------------------- headers

@pytest.mark.parametrize("path", ["/login", "/api/v1/openapi.json", "/healthz",
                                  "/static/app.css", "/no-such-page", "/api/v1/prospects"])
def test_security_headers_on_every_response(client, path):
    r = client.get(path)
    assert r.headers["Content-Security-Policy"] == CSP
    assert "'unsafe-inline'" not in r.headers["Content-Security-Policy"]
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in r.headers  # plain HTTP in development


def test_hsts_only_behind_tls(client):
    r = client.get("/login", base_url="https://localhost.test")
    assert r.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_pages_with_personal_data_are_not_cached(client, factory):
    manager = factory.user()
    sign_in(client, manager.email)
    r = client.get("/board")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"


# ---------------------------------------------------------------- cookies and sessions

def test_session_cookie_is_httponly_and_samesite(client, factory):
    manager = factory.user()
    r = sign_in(client, manager.email)
    assert r.status_code == 302
    cookie = next(c for c in r.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # development serves plain HTTP


def test_production_cookies_are_secure_and_hsts_is_sent(monkeypatch, app):
    monkeypatch.setenv("PIPELINE_ENV", "production")
    monkeypatch.setenv("PIPELINE_SECRET_KEY", LONG_SECRET)
    prod = create_app({"DATABASE_URL": app.config["DATABASE_URL"]})
    assert prod.config["SESSION_COOKIE_SECURE"] and prod.config["REMEMBER_COOKIE_SECURE"]
    assert prod.config["SESSION_COOKIE_HTTPONLY"] and prod.config["SESSION_COOKIE_SAMESITE"]
    assert not prod.debug
    with prod.test_client() as c:
        r = c.get("/healthz")
        assert r.headers["Strict-Transport-Security"].startswith("max-age=")
        c.get("/login")  # the CSRF token puts something in the session
        cookie = next(x for x in c.get("/login").headers.getlist("Set-Cookie")
                      if x.startswith("session="))
        assert "Secure" in cookie and "HttpOnly" in cookie


def test_sign_in_starts_a_new_session(client, factory):
    manager = factory.user()
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
    before = client.get_cookie("session", domain="localhost.test").value
    assert sign_in(client, manager.email).status_code == 302
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["_user_id"] == f"{manager.id}:{manager.session_version}"
    assert client.get_cookie("session", domain="localhost.test").value != before


def test_sign_out_ends_the_session(client, factory):
    manager = factory.user()
    sign_in(client, manager.email)
    assert client.get("/board").status_code == 200
    client.post("/logout")
    r = client.get("/board")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


# ---------------------------------------------------------------- CSRF

def test_every_form_refuses_a_post_without_its_token(csrf_app):
    posts = [r for r in csrf_app.url_map.iter_rules()
             if "POST" in r.methods and not r.rule.startswith("/api/")]
    assert len(posts) >= 10
    client = csrf_app.test_client()
    for rule in posts:
        url = re.sub(r"<(?:\w+:)?\w+>", "1", rule.rule)
        if rule.rule.endswith(".<fmt>"):
            url = url[:-1] + "csv"
        r = client.post(url, data={"anything": "x"})
        assert r.status_code == 400, (rule.rule, r.status_code)
        assert b"CSRF" in r.data, rule.rule


def test_a_signed_in_user_without_the_token_changes_nothing(csrf_app, factory, session):
    manager = factory.user()
    p = factory.prospect(manager)
    client = csrf_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    r = client.post("/login", data={"email": manager.email, "password": "secret-pass",
                                    "csrf_token": token})
    assert r.status_code == 302
    r = client.post(f"/prospects/{p.id}/events/lose", data={"reason": "forged"})
    assert r.status_code == 400
    session.refresh(p)
    assert p.status == "active"


def test_the_api_needs_no_form_token_but_a_bearer_token(csrf_app, factory):
    manager = factory.user()
    token = factory.token(manager)
    client = csrf_app.test_client()
    assert client.post("/api/v1/prospects", json={"name": "A", "tier": "gold"}
                       ).status_code == 401
    r = client.post("/api/v1/prospects", json={"name": "A", "tier": "gold"},
                    headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.json


# ---------------------------------------------------------------- errors

@pytest.fixture
def fragile_app(app):
    """An app as it runs outside tests (exceptions are not propagated), with a failing page."""
    fragile = create_app({"SECRET_KEY": "x" * 40, "DATABASE_URL": app.config["DATABASE_URL"]})
    assert not fragile.testing and not fragile.debug

    @fragile.get("/boom")
    def boom():
        raise RuntimeError("secret internals: password=hunter2")

    return fragile


def test_an_unexpected_error_shows_no_stack_trace(fragile_app):
    r = fragile_app.test_client().get("/boom")
    body = r.get_data(as_text=True)
    assert r.status_code == 500
    assert "Traceback" not in body and "hunter2" not in body and "RuntimeError" not in body
    assert r.headers["Content-Security-Policy"] == CSP


def test_an_unexpected_api_error_is_documented_json(fragile_app, monkeypatch):
    from pipeline.api import views

    def broken(key):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(views.workflows, "workflow", broken)
    monkeypatch.setattr(views, "user_for_token", lambda session, token: object())
    r = fragile_app.test_client().get("/api/v1/workflows/seven_step",
                                      headers={"Authorization": "Bearer x"})
    assert r.status_code == 500
    assert r.json == {"error": {"code": "internal_error", "message": "internal error",
                                "details": {}}}


def test_production_refuses_the_debugger(monkeypatch, app):
    from pipeline.app import ConfigurationError

    monkeypatch.setenv("PIPELINE_ENV", "production")
    monkeypatch.setenv("PIPELINE_SECRET_KEY", LONG_SECRET)
    monkeypatch.setenv("FLASK_DEBUG", "1")
    with pytest.raises(ConfigurationError, match="debugger"):
        create_app({"DATABASE_URL": app.config["DATABASE_URL"]})


# ---------------------------------------------------------------- templates

def test_no_template_has_inline_script_handlers_or_styles():
    """The content security policy refuses them: they would silently not work."""
    bad = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        for pattern in (r"<script(?![^>]*\bsrc=)[^>]*>", r"\son[a-z]+\s*=", r"\sstyle\s*=",
                        r"<style[\s>]", r"javascript:"):
            bad += [f"{path.relative_to(ROOT)}: {m.group(0)}"
                    for m in re.finditer(pattern, text, re.IGNORECASE)]
    assert bad == []


def test_the_width_classes_cover_every_percentage():
    css = Path(ROOT / "static" / "widths.css").read_text(encoding="utf-8")
    for n in (0, 37, 100):
        assert f".w-{n} {{ width: {n}%; }}" in css and f".l-{n} {{ left: {n}%; }}" in css


# ---------------------------------------------------------------- input

def test_nul_characters_are_refused_before_they_reach_the_database(client, factory, session):
    """Found by the API fuzzer: PostgreSQL cannot store NUL in text or JSONB (500 before)."""
    from pipeline.prospects.models import Prospect

    headers = {"Authorization": f"Bearer {factory.token(factory.user())}"}
    r = client.get("/api/v1/prospects", query_string={"q": "Li\x00"}, headers=headers)
    assert r.status_code == 400 and set(r.json["error"]) == {"code", "message", "details"}
    r = client.post("/api/v1/prospects", json={"name": "Li\u0000Lei", "tier": "gold"},
                    headers=headers)
    assert r.status_code == 400 and "NUL" in r.json["error"]["message"]
    assert session.scalar(select(func.count()).select_from(Prospect)) == 0
    assert client.post("/login", data={"email": "a\x00@b.c", "password": "x"}
                       ).status_code == 400
    r = client.post("/api/v1/prospects", json={"name": "Li Lei", "tier": "gold"},
                    headers=headers)
    assert r.status_code == 201


def test_a_locked_database_is_a_503_with_retry_after_not_a_500(app):
    """SQLite under concurrent writers: past the busy timeout the answer says to retry."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    busy = create_app({"SECRET_KEY": "x" * 40, "DATABASE_URL": app.config["DATABASE_URL"]})

    @busy.get("/api/v1/locked")
    def locked():
        raise OperationalError("UPDATE x", {}, sqlite3.OperationalError("database is locked"))

    @busy.get("/broken")
    def broken():
        raise OperationalError("SELECT x", {}, sqlite3.OperationalError("no such table: x"))

    client = busy.test_client()
    r = client.get("/api/v1/locked")
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    assert r.json["error"]["code"] == "database_busy"
    r = client.get("/broken")
    assert r.status_code == 500 and "no such table" not in r.get_data(as_text=True)
