"""OpenTelemetry's SQLAlchemy instrumentation on the app's engine: every statement an event
and a board send becomes a span, and neither fails under it.

The instrumentation keeps each statement's span on its execution context between the
cursor events, so a statement executed outside SQLAlchemy's execution path (no context)
would fail with AttributeError here.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import event

from pipeline.db import get_db
from pipeline.prospects.services import advance_prospect
from tests.prospects.test_views import sign_in


@pytest.fixture
def spans(app, connection):
    """The app's engine instrumented, and the spans it finishes."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = SQLAlchemyInstrumentor()
    # Its declared range of SQLAlchemy versions may lag the installed one; the events it
    # listens to are the same in 2.1.
    instrumentor.instrument(engine=get_db(app).engine, tracer_provider=provider,
                            skip_dep_check=True)
    try:
        yield exporter
    finally:
        instrumentor.uninstrument()
        provider.shutdown()


class Statements:
    """The statements the engine's cursor listeners see, in order."""

    def __init__(self, engine) -> None:  # noqa: ANN001
        self.engine = engine
        self.sent: list[str] = []

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, _params, _context, _many) -> None:  # noqa: ANN001
        self.sent.append(statement)


def statement_spans(exporter: InMemorySpanExporter) -> list:
    """The finished spans of statements (not of pool connects), in the order they ended."""
    return [s for s in exporter.get_finished_spans()
            if s.kind == SpanKind.CLIENT and s.name != "connect"]


def sql_of(span) -> str:  # noqa: ANN001
    attrs = span.attributes or {}
    return attrs.get("db.statement") or attrs.get("db.query.text") or ""


@pytest.fixture
def ready(session, factory):
    """A prospect in `learn` whose record is complete: `advance` is allowed."""
    owner = factory.user("manager", "Team A")
    p = factory.prospect(owner, "learn", step=timedelta(days=2))
    factory.complete(p, "learn", owner)
    return p, owner


def test_every_statement_of_an_advance_is_a_span(spans, session, ready, app):
    p, owner = ready
    before = p.version
    spans.clear()
    with Statements(get_db(app).engine) as seen:
        moved = advance_prospect(session, p.id, "advance", actor=owner)
    assert moved.stage == "decision_maker" and moved.version == before + 1
    traced = statement_spans(spans)
    assert [sql_of(s) for s in traced] == seen.sent
    assert all(s.end_time is not None and s.status.status_code != StatusCode.ERROR
               for s in traced)
    # The event's own writes in spans: the new state, the history row, the stage visit
    # it closes and the one it opens (on PostgreSQL one statement, on SQLite four).
    texts = [" ".join(sql_of(s).split()) for s in traced]
    parts = ("UPDATE prospects SET", "INSERT INTO stage_events", "UPDATE stage_visits SET",
             "INSERT INTO stage_visits")
    for part in parts:
        assert any(part in t for t in texts), part
    together = [t for t in texts if all(part in t for part in parts)]
    assert len(together) == (1 if session.get_bind().dialect.name == "postgresql" else 0)
    # The locking read and the records the guards check.
    assert any(t.startswith("SELECT") and "FROM prospects" in t for t in texts)
    assert any(t.startswith("SELECT") and "FROM stage_records" in t for t in texts)


def test_every_statement_of_a_board_is_a_span(spans, client, session, ready, app):
    _p, owner = ready
    sign_in(client, owner)
    spans.clear()
    with Statements(get_db(app).engine) as seen:
        r = client.get("/board")
    assert r.status_code == 200 and b"Li Lei" in r.data
    traced = statement_spans(spans)
    assert seen.sent and [sql_of(s) for s in traced] == seen.sent
    assert all(s.end_time is not None and s.status.status_code != StatusCode.ERROR
               for s in traced)


def test_a_failed_statement_ends_its_span_as_an_error(spans, session, ready):
    """A database error in a prebuilt statement reaches the instrumentation's error
    handler: the span ends, marked as failed."""
    from sqlalchemy import bindparam
    from sqlalchemy.exc import IntegrityError

    from pipeline.db import DriverStatement
    from pipeline.prospects.models import StageEvent

    p, _ = ready
    duplicate = DriverStatement(StageEvent.__table__.insert().values(
        prospect_id=bindparam("pid"), seq=1, event="advance", to_stage="learn",
        to_status="active", at=bindparam("at", type_=StageEvent.__table__.c.at.type)))
    conn = session.connection()
    nested = conn.begin_nested()
    spans.clear()
    with pytest.raises(IntegrityError):
        duplicate.run(conn, {"pid": p.id, "at": p.stage_entered_at})
    nested.rollback()
    failed = [s for s in statement_spans(spans) if "INSERT INTO stage_events" in sql_of(s)]
    assert len(failed) == 1 and failed[0].status.status_code == StatusCode.ERROR
