"""Round trips of the paths every request or sign-in takes: an API request's token check
reads the token and its user in one statement; a sign-in reads both throttle counts (the
account's from the address, the address's) in one."""
from __future__ import annotations

from sqlalchemy import event

from pipeline.auth.models import AuditEntry
from pipeline.auth.services import sign_in, user_for_token


def statements(session, work):
    """The statements ``work()`` sends, and its result."""
    sent: list[str] = []
    engine = session.connection().engine
    listen = lambda _c, _cur, statement, *_a: sent.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    try:
        result = work()
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    return sent, result


def is_select(statement: str) -> bool:
    return statement.lstrip().upper().startswith("SELECT")


def test_the_token_and_its_user_are_read_in_one_statement(session, factory):
    user = factory.user()
    token = factory.token(user)
    assert user_for_token(session, token).id == user.id  # records the use (a write)
    session.expunge_all()  # nothing in the identity map: the user must be read
    # Within the minute the use is not written again: one read, the user included.
    sent, found = statements(session, lambda: user_for_token(session, token))
    assert (found.email, found.active) == (user.email, True)
    assert len(sent) == 1 and is_select(sent[0]), sent


def test_an_unknown_token_reads_nobody(session, factory):
    factory.token(factory.user())
    assert user_for_token(session, "not-a-token") is None


def test_a_sign_in_reads_both_throttle_counts_in_one_statement(session, factory):
    user = factory.user()
    sent, signed_in = statements(session, lambda: sign_in(
        session, user.email, "secret-pass", ip="203.0.113.9"))
    assert signed_in.id == user.id
    assert len([s for s in sent if "audit_log" in s and is_select(s)]) == 1, sent
    assert session.query(AuditEntry).filter_by(action="login", actor_id=user.id).count() == 1
