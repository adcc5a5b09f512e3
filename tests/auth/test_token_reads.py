"""An API request's token check reads the token and its user in one statement (every API
request starts with it; the load test counts its round trips)."""
from __future__ import annotations

from sqlalchemy import event

from pipeline.auth.services import user_for_token


def test_the_token_and_its_user_are_read_in_one_statement(session, factory):
    user = factory.user()
    token = factory.token(user)
    assert user_for_token(session, token).id == user.id  # records the use (a write)
    session.expunge_all()  # nothing in the identity map: the user must be read
    sent: list[str] = []
    engine = session.connection().engine
    listen = lambda _c, _cur, statement, *_a: sent.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    try:
        found = user_for_token(session, token)  # within the minute: no write
        email, active = found.email, found.active
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert (email, active) == (user.email, True)
    assert len(sent) == 1 and sent[0].lstrip().upper().startswith("SELECT"), sent


def test_an_unknown_token_reads_nobody(session, factory):
    factory.token(factory.user())
    assert user_for_token(session, "not-a-token") is None
