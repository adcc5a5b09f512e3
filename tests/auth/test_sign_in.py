"""The sign-in throttle (a growing delay per account and address, never a lockout the right
password cannot pass), equal cost for unknown e-mails, and the password hash parameters."""
from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from pipeline import clock
from pipeline.auth import services
from pipeline.auth.models import AuditEntry
from pipeline.auth.services import (
    FREE_FAILURES_PER_ADDRESS,
    FREE_FAILURES_PER_PAIR,
    MAX_ADDRESS_DELAY_SECONDS,
    PAIR_DELAY_SECONDS,
)

HOME, STRANGER, OFFICE = "10.1.1.1", "10.6.6.6", "10.2.2.2"


def sign_in(client, email: str, password: str = "secret-pass", ip: str = "127.0.0.1"):
    return client.post("/login", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": ip})


def later(seconds: float) -> None:
    clock.set_now(clock.now() + timedelta(seconds=seconds))


def test_a_stranger_s_guesses_never_lock_the_user_out_of_their_own_address(client, factory):
    user = factory.user()
    for _ in range(FREE_FAILURES_PER_PAIR * 3):
        r = sign_in(client, user.email, "wrong", ip=STRANGER)
        assert r.status_code in (401, 429)
    # The stranger is slowed down, with the time to wait said...
    r = sign_in(client, user.email, "wrong", ip=STRANGER)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    # ...the user, from their own address, is not.
    assert sign_in(client, user.email, ip=HOME).status_code == 302


def test_a_pair_waits_a_doubling_delay_then_the_right_password_works(client, factory, session):
    user = factory.user()
    for _ in range(FREE_FAILURES_PER_PAIR):
        assert sign_in(client, user.email, "wrong", ip=HOME).status_code == 401
    r = sign_in(client, user.email, ip=HOME)  # even the right password waits its turn
    assert r.status_code == 429 and r.headers["Retry-After"] == str(PAIR_DELAY_SECONDS)
    assert f"登录失败次数过多，请 {PAIR_DELAY_SECONDS} 秒后再试" in r.get_data(as_text=True)
    later(PAIR_DELAY_SECONDS)
    assert sign_in(client, user.email, "wrong", ip=HOME).status_code == 401  # one more
    r = sign_in(client, user.email, ip=HOME)
    assert r.status_code == 429 and r.headers["Retry-After"] == str(2 * PAIR_DELAY_SECONDS)
    later(2 * PAIR_DELAY_SECONDS)
    assert sign_in(client, user.email, ip=HOME).status_code == 302  # not a lockout
    actions = dict(session.execute(select(AuditEntry.action, func.count())
                                   .group_by(AuditEntry.action)).all())
    assert actions["login_failed"] == FREE_FAILURES_PER_PAIR + 1
    assert actions["login_throttled"] == 2 and actions["login"] == 1


def test_one_shared_address_is_slowed_not_locked(client, factory):
    victim = factory.user()
    waits = []
    for n in range(FREE_FAILURES_PER_ADDRESS + 8):  # many accounts guessed from one office
        r = sign_in(client, f"guess{n}@bank.test", "wrong", ip=OFFICE)
        if r.status_code == 429:  # each guess beyond the free ones after its delay
            waits.append(int(r.headers["Retry-After"]))
            later(waits[-1])
            r = sign_in(client, f"guess{n}@bank.test", "wrong", ip=OFFICE)
        assert r.status_code == 401
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]  # doubling, up to the cap
    r = sign_in(client, victim.email, ip=OFFICE)
    assert r.status_code == 429
    assert 0 < int(r.headers["Retry-After"]) <= MAX_ADDRESS_DELAY_SECONDS
    assert sign_in(client, victim.email, ip=HOME).status_code == 302  # elsewhere: at once
    client.post("/logout")
    later(MAX_ADDRESS_DELAY_SECONDS)
    assert sign_in(client, victim.email, ip=OFFICE).status_code == 302  # then from there too


def test_unknown_e_mails_cost_the_same_password_check(client, factory, monkeypatch):
    """One argon2 verification for a known account, an unknown e-mail and an account
    without a password alike: the answer's timing does not tell which e-mails exist."""
    known = factory.user()
    no_password = factory.user(password=None)
    calls: list[str] = []
    real = services._hasher

    class Counting:
        def verify(self, stored, password):  # noqa: ANN001, ANN201
            calls.append(stored.split("$")[3])  # the parameters: m=...,t=...,p=...
            return real.verify(stored, password)

        def __getattr__(self, name):  # noqa: ANN001, ANN204
            return getattr(real, name)

    monkeypatch.setattr(services, "_hasher", Counting())
    for email in (known.email, "nobody@bank.test", no_password.email):
        calls.clear()
        assert sign_in(client, email, "wrong").status_code == 401
        assert calls == ["m=19456,t=2,p=1"], email


def test_hashes_use_the_owasp_minimum_and_old_hashes_are_upgraded_on_sign_in(
        client, factory, session):
    user = factory.user()
    assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    user.password_hash = PasswordHasher(time_cost=3, memory_cost=65536,
                                        parallelism=4).hash("secret-pass")
    session.commit()
    assert sign_in(client, user.email, "wrong").status_code == 401
    session.refresh(user)
    assert "m=65536" in user.password_hash  # a wrong password changes nothing
    assert sign_in(client, user.email).status_code == 302
    session.refresh(user)
    assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


@pytest.mark.parametrize("hops,forwarded,counted", [(0, "203.0.113.9", "127.0.0.1"),
                                                    (1, "203.0.113.9", "203.0.113.9")])
def test_the_address_counted_is_the_one_the_proxy_setting_trusts(app, connection, factory,
                                                                 session, hops, forwarded,
                                                                 counted):
    from pipeline import create_app
    from pipeline.db import get_db

    served = create_app({"TESTING": True, "SECRET_KEY": "proxy-test", "WTF_CSRF_ENABLED": False,
                         "DATABASE_URL": app.config["DATABASE_URL"],
                         "SERVER_NAME": "localhost.test", "PIPELINE_PROXY_HOPS": hops})
    get_db(served).bind_to(connection)
    user = factory.user()
    r = served.test_client().post("/login", data={"email": user.email, "password": "wrong"},
                                  headers={"X-Forwarded-For": forwarded})
    assert r.status_code == 401
    failed = session.scalars(select(AuditEntry).where(AuditEntry.action == "login_failed")).one()
    assert failed.ip == counted
