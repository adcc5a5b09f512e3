"""Logs an operator can use, with nothing personal in them: a failing request, the domain
event lines, the outbox, and the structured output of a production app."""
from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from pipeline import create_app
from pipeline.db import get_db
from pipeline.errors import Conflict
from pipeline.escalations.outbox import Mail, send_pending, transport_for
from pipeline.logs import JsonFormatter, StderrHandler, describe_exception, log_event, timed_event
from pipeline.notifications.models import OutboxMessage
from pipeline.notifications.services import notify
from pipeline.prospects.models import Prospect
from tests.factories import Factory
from tests.security.conftest import flask_cli

ID_NUMBER = "110101199003074573"
PHONE = "13812345678"
SECRETS = (ID_NUMBER, PHONE)


@pytest.fixture
def root_logging():
    """Production apps set the root logger up: leave it as the test found it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def production_app(app, committed, root_logging):
    """An app as it runs outside tests (not TESTING: exceptions are answered, not raised),
    with its own engine on the test database; rows it commits are removed afterwards."""
    served = create_app({"SECRET_KEY": "x" * 40, "DATABASE_URL": app.config["DATABASE_URL"]})
    assert not served.testing and not served.debug
    yield served
    get_db(served).engine.dispose()


class Formatted(logging.Handler):
    """Each record as a plain formatter writes it (full traceback), when it is emitted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def capture_everything(caplog, production_app):
    """Every record of every logger at DEBUG (caplog, on the root logger), and what the
    app's and SQLAlchemy's loggers emit, seen on those loggers themselves (before any
    handler of the root logger): SQLAlchemy's statements with their parameter lines and its
    pool. (Its result rows, logged only at DEBUG on ``sqlalchemy.engine``, are what the
    database answers, not what a failure logs.)"""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger=production_app.logger.name)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.pool")
    direct = Formatted()
    loggers = [logging.getLogger(name) for name in
               (production_app.logger.name, "sqlalchemy.engine", "sqlalchemy.pool")]
    for logger in loggers:
        logger.addHandler(direct)
    yield direct
    for logger in loggers:
        logger.removeHandler(direct)


def everything_logged(caplog, capsys, direct: Formatted) -> str:
    records = "\n".join(
        f"{r.getMessage()}\n{r.exc_text or ''}\n"
        f"{describe_exception(r.exc_info[1]) if r.exc_info else ''}" for r in caplog.records)
    captured = capsys.readouterr()
    return "\n".join((caplog.text, records, *direct.lines, captured.out, captured.err))


def api_user(app) -> str:
    session = get_db(app).sessionmaker()
    factory = Factory(session)
    token = factory.token(factory.user("manager", "Team A"))
    session.close()
    return token


@pytest.fixture
def null_tier_on_insert():
    """A prospect's INSERT refused by the database (NOT NULL): its error message quotes
    the row on PostgreSQL, its parameters are the row on SQLite."""
    def drop_tier(_mapper, _connection, target: Prospect) -> None:
        target.tier = None

    event.listen(Prospect, "before_insert", drop_tier)
    yield
    event.remove(Prospect, "before_insert", drop_tier)


@pytest.fixture
def failing_flush():
    """A bug inside the service: an exception whose message quotes the customer."""
    def boom(session: Session, _context, _instances) -> None:
        for obj in session.new:
            if isinstance(obj, Prospect):
                raise RuntimeError(f"cannot file {obj.name}: {obj.id_number} / {obj.phone}")

    event.listen(Session, "before_flush", boom)
    yield
    event.remove(Session, "before_flush", boom)


@pytest.mark.parametrize("failure", ["null_tier_on_insert", "failing_flush"])
def test_a_failing_request_logs_no_id_number_or_phone(production_app, caplog, capsys,
                                                      request, failure):
    token = api_user(production_app)
    request.getfixturevalue(failure)
    direct = request.getfixturevalue("capture_everything")
    r = production_app.test_client().post(
        "/api/v1/prospects", headers={"Authorization": f"Bearer {token}"},
        json={"name": "Wang Fang", "tier": "gold", "id_number": ID_NUMBER, "phone": PHONE})

    assert r.status_code == 500
    assert r.json == {"error": {"code": "internal_error", "message": "internal error",
                                "details": {}}}
    logged = everything_logged(caplog, capsys, direct)
    for secret in (*SECRETS, "Wang Fang"):
        assert secret not in logged
    # The failure was logged, usefully: where, and what kind of error.
    [failed] = [rec for rec in caplog.records if rec.name == production_app.logger.name
                and rec.levelno == logging.ERROR]
    assert "/api/v1/prospects" in failed.getMessage()
    assert "Traceback" in failed.exc_text and "message withheld" in failed.exc_text
    kind = "IntegrityError" if failure == "null_tier_on_insert" else "RuntimeError"
    assert kind in failed.exc_text and "create_prospect" in failed.exc_text
    if failure == "null_tier_on_insert":
        assert "hide_parameters" in caplog.text  # SQLAlchemy's parameter lines, hidden
        assert "INSERT INTO prospects" in caplog.text
    assert any("Exception on /api/v1/prospects" in line for line in direct.lines)


def test_a_production_app_logs_json_lines_to_stderr(production_app, capsys):
    root = logging.getLogger()
    [handler] = [h for h in root.handlers if isinstance(h, StderrHandler)]
    assert isinstance(handler.formatter, JsonFormatter)
    assert root.level == logging.INFO
    try:
        raise ValueError(f"bad input {PHONE}")
    except ValueError:
        production_app.logger.exception("could not import row %s", 7)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    [line] = [x for x in lines if x["logger"] == production_app.logger.name]
    assert line["severity"] == "error" and line["message"] == "could not import row 7"
    assert "ValueError (message withheld)" in line["exc"] and PHONE not in line["exc"]
    assert line["ts"].endswith("Z")


# ---------------------------------------------------------------- domain events

def test_log_event_writes_ids_kind_and_duration_without_personal_fields(caplog):
    caplog.set_level(logging.DEBUG)
    written = log_event(
        "advance", prospect_id=12, actor_id=3, duration_ms=4.25, from_stage="learn",
        to_stage="decision_maker", name="Wang Fang", owner_name="Li Lei", phone=PHONE,
        id_number=ID_NUMBER, address="1 Chang'an Avenue", email="wang@example.com",
        note="met at the branch", reason="customer moved away", ownerPhone=PHONE,
        remark=f"call {PHONE}", details={"customer_id_number": ID_NUMBER, "count": 2})
    assert written == {
        "kind": "advance", "prospect_id": 12, "actor_id": 3, "duration_ms": 4.25,
        "from_stage": "learn", "to_stage": "decision_maker", "remark": "call [redacted]",
        "details": {"count": 2, "redacted": ["customer_id_number"]},
        "redacted": ["address", "email", "id_number", "name", "note", "ownerPhone",
                     "owner_name", "phone", "reason"]}
    [record] = [r for r in caplog.records if r.name == "pipeline.events"]
    assert record.levelno == logging.INFO
    assert json.loads(record.getMessage()) == written  # one line, readable anywhere
    line = json.loads(JsonFormatter().format(record))
    assert line["kind"] == "advance" and line["prospect_id"] == 12
    assert line["actor_id"] == 3 and line["duration_ms"] == 4.25
    assert line["logger"] == "pipeline.events" and line["severity"] == "info"
    for secret in (*SECRETS, "Wang Fang", "Li Lei", "Chang'an", "wang@example.com",
                   "branch", "moved away"):
        assert secret not in caplog.text and secret not in JsonFormatter().format(record)


def test_an_event_field_cannot_hide_the_line_s_own_keys():
    record = logging.LogRecord("pipeline.events", logging.INFO, __file__, 1, "%s", ("x",),
                               None)
    record.event_fields = {"kind": "raise", "severity": 2, "ts": "then"}
    line = json.loads(JsonFormatter().format(record))
    assert line["severity"] == "info" and line["ts"] != "then"
    assert line["event_severity"] == 2 and line["event_ts"] == "then"


def test_timed_event_measures_and_logs_once(caplog):
    caplog.set_level(logging.INFO, logger="pipeline.events")
    with timed_event("decide", escalation_id=5, actor_id=2) as fields:
        fields["decision"] = "continue"
        fields["note"] = "call her at home"
    [ok] = [json.loads(r.getMessage()) for r in caplog.records]
    assert ok["kind"] == "decide" and ok["escalation_id"] == 5 and ok["actor_id"] == 2
    assert ok["decision"] == "continue" and ok["outcome"] == "ok"
    assert isinstance(ok["duration_ms"], float) and ok["duration_ms"] >= 0
    assert ok["redacted"] == ["note"] and "call her" not in caplog.text
    caplog.clear()
    with pytest.raises(Conflict), timed_event("decide", escalation_id=5, actor_id=2):
        raise Conflict(f"already decided for {PHONE}", code="already_decided")
    [failed] = [json.loads(r.getMessage()) for r in caplog.records]
    assert failed["outcome"] == "error" and failed["error"] == "Conflict"
    assert failed["error_code"] == "already_decided" and "duration_ms" in failed
    assert PHONE not in caplog.text


def test_no_event_line_is_made_when_info_is_off(caplog):
    caplog.set_level(logging.WARNING, logger="pipeline.events")
    assert log_event("advance", prospect_id=1) == {}
    assert caplog.records == []


# ---------------------------------------------------------------- outbox

def test_sending_mail_logs_its_id_and_kind_not_its_content(session, factory, caplog):
    user = factory.user("manager", "Team A", email="wang.fang@bank.test")
    notify(session, user, "warn", f"Call {PHONE} today", body=f"ID {ID_NUMBER}, Wang Fang",
           dedupe_key="warn:7:1")
    notify(session, user, "remind", "Second", body="Body text", dedupe_key="remind:8")
    session.commit()
    ids = session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)).all()
    caplog.set_level(logging.DEBUG)

    def refused(mail: Mail) -> None:
        if mail.kind == "remind":
            raise OSError(f"550 <{mail.recipient}>: mailbox unavailable ({mail.subject})")
        transport_for({})(mail)

    assert send_pending(session, refused) == {"sent": 1, "failed": 1}
    text = caplog.text
    assert f"mail {ids[0]} (warn)" in text and f"mail {ids[1]} (remind) failed" in text
    for secret in (*SECRETS, "Wang Fang", "wang.fang@bank.test", "Call ", "Second",
                   "Body text", "mailbox unavailable"):
        assert secret not in text


# ---------------------------------------------------------------- commands

def test_commands_keep_library_info_off_stderr_unless_asked(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    r = flask_cli("db", "upgrade", DATABASE_URL=url)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "database is at head" and r.stderr == ""
    url = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    r = flask_cli("db", "upgrade", DATABASE_URL=url, PIPELINE_LOG_LEVEL="info")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stderr.splitlines()]
    assert lines and {line["severity"] for line in lines} == {"info"}
    assert any(line["logger"] == "alembic.runtime.migration" for line in lines)


def test_an_unknown_log_level_is_one_clear_error(tmp_path):
    r = flask_cli("db", "current", DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}",
                  PIPELINE_LOG_LEVEL="loud")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        "Error: PIPELINE_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"]
