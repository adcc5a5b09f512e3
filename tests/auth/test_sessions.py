"""Credentials end when they should: sign-out and a password change end every session and
remember cookie of the user; API tokens expire, can be revoked by their owner (page, API,
command line) and record their last use at most once a minute."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from pipeline import clock
from pipeline.auth.models import ApiToken, AuditEntry
from pipeline.auth.services import LAST_USE_EVERY, set_password

HOST = "localhost.test"


def signed_in(app, user, *, remember: bool = False):
    client = app.test_client()
    data = {"email": user.email, "password": "secret-pass"}
    if remember:
        data["remember"] = "y"
    assert client.post("/login", data=data).status_code == 302
    return client


def replay(app, **cookies: str):
    """A fresh browser holding only copies of the given cookies."""
    client = app.test_client()
    for name, value in cookies.items():
        client.set_cookie(name, value, domain=HOST)
    return client


def sent_to_sign_in(response) -> bool:
    return response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_session_cookie_replayed_after_sign_out_signs_nobody_in(app, connection, factory):
    user = factory.user()
    browser = signed_in(app, user)
    copy = browser.get_cookie("session", domain=HOST).value
    assert replay(app, session=copy).get("/board").status_code == 200
    browser.post("/logout")
    assert sent_to_sign_in(replay(app, session=copy).get("/board"))
    assert sent_to_sign_in(browser.get("/board"))


def test_sign_out_ends_the_user_s_sessions_on_every_device(app, connection, factory, session):
    user = factory.user()
    phone, laptop = signed_in(app, user), signed_in(app, user)
    other = signed_in(app, factory.user())
    phone.post("/logout")
    assert sent_to_sign_in(laptop.get("/board"))
    assert other.get("/board").status_code == 200  # another user's session is untouched
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "logout"))
    assert entry.actor_id == user.id


def test_the_remember_cookie_is_bounded_and_dies_with_sign_out(app, connection, factory):
    assert app.config["REMEMBER_COOKIE_DURATION"] <= timedelta(days=7)
    user = factory.user()
    browser = signed_in(app, user, remember=True)
    remembered = browser.get_cookie("remember_token", domain=HOST)
    assert remembered is not None
    assert replay(app, remember_token=remembered.value).get("/board").status_code == 200
    browser.post("/logout")
    assert sent_to_sign_in(replay(app, remember_token=remembered.value).get("/board"))


def test_a_password_change_ends_every_session(app, connection, factory, session):
    user = factory.user()
    browser = signed_in(app, user, remember=True)
    remembered = browser.get_cookie("remember_token", domain=HOST).value
    set_password(session, user, "a-new-secret")
    assert sent_to_sign_in(browser.get("/board"))
    assert sent_to_sign_in(replay(app, remember_token=remembered).get("/board"))
    client = app.test_client()
    assert client.post("/login", data={"email": user.email, "password": "a-new-secret"}
                       ).status_code == 302


# ---------------------------------------------------------------- API tokens

def test_tokens_expire(client, factory, session):
    user = factory.user()
    from pipeline.auth.services import issue_token

    token = issue_token(session, user.email, days=1)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/prospects", headers=headers).status_code == 200
    clock.set_now(clock.now() + timedelta(days=1, seconds=1))
    r = client.get("/api/v1/prospects", headers=headers)
    assert r.status_code == 401 and r.json["error"]["code"] == "unauthorized"
    assert client.get("/api/v1/tokens", headers={
        "Authorization": f"Bearer {factory.token(user)}"}).json["items"][1]["status"] \
        == "expired"


def test_the_last_use_is_recorded_at_most_once_a_minute(client, factory, session):
    user = factory.user()
    token = factory.token(user)
    headers = {"Authorization": f"Bearer {token}"}
    row = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).one()
    assert row.last_used_at is None
    first = clock.now()
    assert client.get("/api/v1/prospects", headers=headers).status_code == 200
    session.refresh(row)
    assert row.last_used_at == first
    clock.set_now(first + LAST_USE_EVERY - timedelta(seconds=1))
    assert client.get("/api/v1/prospects", headers=headers).status_code == 200
    session.refresh(row)
    assert row.last_used_at == first  # not written again within the minute
    clock.set_now(first + LAST_USE_EVERY)
    assert client.get("/api/v1/prospects", headers=headers).status_code == 200
    session.refresh(row)
    assert row.last_used_at == first + LAST_USE_EVERY


def test_the_owner_lists_and_revokes_their_tokens_through_the_api(client, factory, session):
    user, other = factory.user(), factory.user()
    keep, drop = factory.token(user), factory.token(user)
    foreign = factory.token(other)
    listed = client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {keep}"}).json
    assert [t["status"] for t in listed["items"]] == ["active", "active"]
    assert keep not in repr(listed) and drop not in repr(listed)
    drop_id = listed["items"][0]["id"]
    foreign_id = session.scalars(select(ApiToken.id).where(ApiToken.user_id == other.id)).one()
    headers = {"Authorization": f"Bearer {keep}"}
    assert client.delete(f"/api/v1/tokens/{foreign_id}", headers=headers).status_code == 404
    assert client.delete("/api/v1/tokens/99999999999999999999", headers=headers
                         ).status_code == 404
    r = client.delete(f"/api/v1/tokens/{drop_id}", headers=headers)
    assert r.status_code == 200 and r.json["status"] == "revoked"
    assert client.get("/api/v1/prospects", headers={"Authorization": f"Bearer {drop}"}
                      ).status_code == 401
    assert client.get("/api/v1/prospects", headers=headers).status_code == 200
    assert client.get("/api/v1/prospects", headers={"Authorization": f"Bearer {foreign}"}
                      ).status_code == 200
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "token_revoked"))
    assert (entry.actor_id, entry.target_id) == (user.id, drop_id)


def test_the_owner_issues_and_revokes_tokens_on_their_page(app, connection, factory, session):
    user = factory.user()
    browser = signed_in(app, user)
    browser.post("/language", data={"locale": "en"})
    r = browser.post("/account/tokens", data={"name": "nightly export", "days": "30"})
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and 'data-testid="new-token-value"' in page
    token = page.split('data-testid="new-token-value">')[1].split("<")[0]
    assert browser.get("/api/v1/prospects", headers={"Authorization": f"Bearer {token}"}
                       ).status_code == 200
    row = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).one()
    assert row.name == "nightly export" and row.expires_at == clock.now() + timedelta(days=30)
    assert browser.post("/account/tokens", data={"days": "9999"}).status_code == 422
    assert browser.post(f"/account/tokens/{row.id}/revoke").status_code == 302
    page = browser.get("/account/tokens").get_data(as_text=True)
    assert 'data-status="revoked"' in page and token not in page
    assert browser.get("/api/v1/prospects", headers={"Authorization": f"Bearer {token}"}
                       ).status_code == 401
    browser.post("/language", data={"locale": "zh_CN"})
    assert "API 令牌" in browser.get("/account/tokens").get_data(as_text=True)


def test_the_command_line_lists_and_revokes_tokens(runner, factory, session):
    user = factory.user()
    token = factory.token(user)
    r = runner.invoke(args=["users", "token", user.email, "--name", "ci", "--days", "7"])
    assert r.exit_code == 0 and len(r.output.strip()) > 30
    r = runner.invoke(args=["users", "tokens", user.email])
    lines = r.output.strip().splitlines()
    assert r.exit_code == 0 and len(lines) == 2 and token not in r.output
    newest_id, status, name = lines[0].split("\t")[:3]
    assert (status, name) == ("active", "ci")
    oldest_id = lines[1].split("\t")[0]
    r = runner.invoke(args=["users", "revoke-token", oldest_id])
    assert r.exit_code == 0 and f"token {oldest_id} revoked" in r.output
    r = runner.invoke(args=["users", "tokens", user.email])
    assert r.output.strip().splitlines()[1].split("\t")[1] == "revoked"
    r = runner.invoke(args=["users", "revoke-token", "987654"])
    assert r.exit_code != 0
