"""Prebuilt statements (``pipeline.db.DriverStatement``) on SQLite and PostgreSQL: the same SQL,
parameters, rows and errors as SQLAlchemy's own execution of the same statement, seen by
the engine's log, execution options and cursor events like any other; the locking read;
idle-connection checks."""
from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, event, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from pipeline import clock
from pipeline.db import DriverStatement, get_db, make_engine
from pipeline.errors import NotFound
from pipeline.prospects import queries, visits
from pipeline.prospects.events import _APPEND_HISTORY, _SAVE_STATE
from pipeline.prospects.models import Prospect, StageEvent, StageRecord


class Sent:
    """What the engine's ``before_cursor_execute`` listeners see."""

    def __init__(self, engine) -> None:  # noqa: ANN001
        self.engine = engine
        self.seen: list[tuple[str, object]] = []

    def __enter__(self) -> Sent:
        event.listen(self.engine, "before_cursor_execute", self._listen)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._listen)

    def _listen(self, _conn, _cursor, statement, parameters, _context, _many) -> None:  # noqa: ANN001
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            self.seen.append((statement, _comparable(parameters)))


def _comparable(parameters):  # noqa: ANN001, ANN202
    """psycopg's JSON wrappers compare by identity: compare what they wrap."""
    def plain(v):  # noqa: ANN001, ANN202
        return (type(v).__name__, v.obj) if type(v).__name__ in ("Json", "Jsonb") else v
    if isinstance(parameters, dict):
        return {k: plain(v) for k, v in parameters.items()}
    return tuple(plain(v) for v in parameters)


def both_ways(session: Session, ds: DriverStatement, params: dict) -> tuple:
    """Run ``ds`` through ``Connection.execute`` and through its own ``run``, each in a
    savepoint rolled back afterwards; return (what each sent, what each returned)."""
    conn = session.connection()
    engine = conn.engine
    out = []
    for prebuilt in (False, True):
        nested = conn.begin_nested()
        with Sent(engine) as sent:
            if prebuilt:
                ran = ds.run(conn, params)
                rows, count = ran.rows, ran.rowcount
            else:
                result = conn.execute(ds.statement, params)
                rows = [tuple(r) for r in result] if result.returns_rows else []
                count = result.rowcount
        nested.rollback()
        out.append((sent.seen, rows, count))
    return out


@pytest.fixture
def walked(session, factory):
    """A prospect in `learn` with two history rows, its records and an open visit."""
    owner = factory.user()
    p = factory.prospect(owner, "learn", step=timedelta(days=2))
    factory.complete(p, "learn", owner)
    return p, owner


def _hot_statements(p: Prospect, dialect: str) -> list[tuple[str, DriverStatement, dict]]:
    now = clock.now()
    state = {f: getattr(p, f) for f in (
        "stage", "status", "stage_entered_at", "clock_started_at", "due_at", "warn_at",
        "paused_at", "paused_seconds", "clock_no", "lost_reason")}
    follow = visits._statements(dialect)
    who = {"pid": p.id, "owner_id": p.owner_id, "team_id": p.team_id}
    history = {"prospect_id": p.id, "event": "advance", "from_stage": "learn",
               "to_stage": "decision_maker", "from_status": "active", "to_status": "active",
               "actor_id": p.owner_id, "owner_id": p.owner_id, "team_id": p.team_id, "at": now}
    return [
        ("records", queries._RECORDS_OF_ONE, {"pid": p.id}),
        ("save state", _SAVE_STATE[("stage", "due_at", "updated_at")], {
            "stage": "decision_maker", "due_at": now + timedelta(days=3), "updated_at": now,
            "b_id": p.id, "b_version": p.version}),
        ("save whole state", _SAVE_STATE[(*state, "owner_id", "team_id", "updated_at")], {
            **state, "stage": "decision_maker", "due_at": now + timedelta(days=3),
            "updated_at": now, "owner_id": p.owner_id, "team_id": p.team_id,
            "b_id": p.id, "b_version": p.version}),
        ("history", _APPEND_HISTORY[()], history),
        ("history, reason and data", _APPEND_HISTORY[("reason", "data")], {
            **history, "reason": "回访", "data": {"previous_owner_id": 7, "note": "分配"}}),
        ("visit close", follow["close_open"], {"pid": p.id, "at": now, "exit": "advance"}),
        ("visit close won", follow["close_won"], {"pid": p.id, "at": now, "exit": "win"}),
        ("visit open", follow["open"], {**who, "seq": 99, "stage": "needs", "at": now,
                                        "won": False}),
        ("visit open lost", follow["open_lost"], {**who, "seq": 99, "stage": "needs",
                                                  "at": now}),
        ("visit lose", follow["lose"], {**who, "at": now}),
        ("visit move", follow["move"], who),
    ]


def test_hot_statements_send_and_return_what_sqlalchemy_does(session, walked, backend):
    p, _ = walked
    clock.set_now(clock.now() + timedelta(hours=5))
    for name, ds, params in _hot_statements(p, backend):
        (sa_sent, sa_rows, sa_count), (d_sent, d_rows, d_count) = both_ways(session, ds, params)
        assert len(sa_sent) == 1, name
        assert d_sent == sa_sent, name
        if name.startswith("history"):  # a new id each time on PostgreSQL (sequences outlive rollbacks)
            d_rows, sa_rows = [r[1:] for r in d_rows], [r[1:] for r in sa_rows]
        assert d_rows == sa_rows, name
        if ds.statement.is_update:  # rows matched (the optimistic lock reads it)
            assert d_count == sa_count, name
        assert (d_rows or d_count > 0), f"{name} touched no row: the comparison proves nothing"


def test_values_come_back_converted_by_the_column_types(session, walked):
    p, _ = walked
    conn = session.connection()
    pt = Prospect.__table__
    times = DriverStatement(select(pt.c.stage_entered_at, pt.c.due_at)
                            .where(pt.c.id == bindparam("pid")))
    entered, due = times.run(conn, {"pid": p.id}).one()
    assert (entered, due) == (p.stage_entered_at, p.due_at)
    assert entered.tzinfo is not None  # aware UTC, as UTCDateTime gives
    records = dict((k, d) for _, k, d in queries._RECORDS_OF_ONE.run(conn, {"pid": p.id}).rows)
    assert records["info_sheet"]["age"] == 40  # JSON decoded on both databases
    assert records["contact_log"]["meeting_booked_at"].startswith("2026-")


def test_a_database_error_is_sqlalchemys_and_the_session_goes_on(session, walked):
    p, owner = walked
    history = session.scalars(select(StageEvent).where(StageEvent.prospect_id == p.id)).all()
    duplicate = DriverStatement(
        StageEvent.__table__.insert().values(
            prospect_id=bindparam("pid"), seq=bindparam("seq"), event="advance",
            to_stage="learn", to_status="active", at=bindparam("at")))
    conn = session.connection()
    nested = conn.begin_nested()
    with pytest.raises(IntegrityError) as caught:  # uq_stage_events_prospect_seq
        duplicate.run(conn, {"pid": p.id, "seq": history[0].seq, "at": clock.now()})
    assert not caught.value.connection_invalidated
    nested.rollback()
    assert queries.get_visible(session, owner, p.id, for_update=True).id == p.id


def test_listeners_see_each_statement_once_with_its_execution_context(session, walked):
    """Cursor listeners get the statement's execution context, as tracing needs (it keeps
    its span there), and the connection's execution options are the statement's."""
    p, _ = walked
    conn = session.connection()
    seen = []

    def listen(_conn, _cursor, statement, _params, context, _many) -> None:  # noqa: ANN001
        seen.append((statement, context.execution_options.get("pipeline_test")))

    event.listen(conn.engine, "before_cursor_execute", listen)
    try:
        conn.execution_options(pipeline_test="tagged")
        queries._RECORDS_OF_ONE.run(conn, {"pid": p.id})
    finally:
        event.remove(conn.engine, "before_cursor_execute", listen)
    assert len(seen) == 1 and "stage_records" in seen[0][0]
    assert seen[0][1] == "tagged"


def test_the_engine_log_shows_them(app, caplog):
    engine = make_engine(app.config["DATABASE_URL"], echo=True)
    sr = StageRecord.__table__
    ds = DriverStatement(select(sr.c.record_key).where(sr.c.prospect_id == bindparam("pid")))
    try:
        with caplog.at_level(logging.INFO, logger="sqlalchemy.engine.Engine"), \
                engine.begin() as conn:
            assert ds.run(conn, {"pid": -1}).rows == []
    finally:
        engine.dispose()
    logged = [r.getMessage() for r in caplog.records if r.name == "sqlalchemy.engine.Engine"]
    assert any("FROM stage_records" in m for m in logged)


def test_compiled_once_per_dialect_object():
    """Two engines of one database with different parameter styles: each gets the SQL
    compiled for its own dialect."""
    md = MetaData()
    t = Table("t", md, Column("id", Integer, primary_key=True), Column("v", String(10)))
    ds = DriverStatement(select(t.c.v).where(t.c.id == bindparam("id")))
    for paramstyle in ("qmark", "named"):
        engine = make_engine("sqlite://", paramstyle=paramstyle)
        md.create_all(engine)
        with engine.begin() as conn:
            conn.execute(t.insert(), {"id": 1, "v": paramstyle})
            assert ds.run(conn, {"id": 1}).one() == (paramstyle,)
        assert (":id" in ds.compiled(engine.dialect).sql) == (paramstyle == "named")
        engine.dispose()


def test_refused_statements(session):
    conn = session.connection()
    sr = StageRecord.__table__
    with pytest.raises(ValueError, match="expand"):
        DriverStatement(select(sr.c.id).where(sr.c.prospect_id.in_([1, 2]))).run(conn, {})
    with pytest.raises(ValueError, match="default"):  # updated_at's default is computed in Python
        DriverStatement(sr.insert().values(prospect_id=1, record_key="x")).run(conn, {})
    with pytest.raises(KeyError, match="pid"):
        queries._RECORDS_OF_ONE.run(conn, {})


def test_outside_a_transaction_is_refused(app):
    engine = get_db(app).engine
    with engine.connect() as conn, pytest.raises(RuntimeError, match="transaction"):
        queries._RECORDS_OF_ONE.run(conn, {"pid": 1})


def test_a_positional_dialect_gets_each_repeated_name_in_place():
    """The history INSERT names ``prospect_id`` twice (the row and its next ``seq``):
    SQLite's positional parameters carry it twice, PostgreSQL's named ones once."""
    engine = make_engine("sqlite://")
    md = MetaData()
    t = Table("t", md, Column("id", Integer, primary_key=True), Column("k", Integer),
              Column("v", String(10)))
    md.create_all(engine)
    ds = DriverStatement(t.insert().values(
        k=bindparam("k"), v=bindparam("v"),
        id=select(bindparam("k") + 100).scalar_subquery()).returning(t.c.id, t.c.k, t.c.v))
    with engine.begin() as conn:
        assert ds.run(conn, {"k": 5, "v": "five"}).one() == (105, 5, "five")
        changed = DriverStatement(update(t).where(t.c.k == bindparam("k")).values(v="x"))
        assert changed.run(conn, {"k": 5}).rowcount == 1
        assert changed.run(conn, {"k": 6}).rowcount == 0


# ------------------------------------------------------------------ the locking read

def test_locked_read_makes_a_clean_persistent_instance(session, walked):
    p, owner = walked
    pid = p.id
    session.expunge_all()
    locked = queries.get_visible(session, owner, pid, for_update=True)
    assert locked is not p and locked.id == pid
    assert locked in session and not session.dirty and not session.new
    assert locked.owner.email == owner.email  # relationships load as usual
    assert locked.name == p.name and locked.version == p.version
    assert session.get(Prospect, pid) is locked


def test_locked_read_locks_the_row(session, walked, backend):
    p, owner = walked
    with Sent(session.connection().engine) as sent:
        queries.get_visible(session, owner, p.id, for_update=True)
    [(sql, _)] = [s for s in sent.seen if "FROM prospects" in s[0]]
    # SQLite has no row locks (its writers take the database in turn): no FOR UPDATE there.
    assert ("FOR UPDATE" in sql) == (backend == "postgresql")


def test_locked_read_brings_a_held_instance_up_to_date(session, walked):
    p, owner = walked
    # Another writer changed the row after this session read it.
    session.connection().execute(update(Prospect.__table__).where(Prospect.__table__.c.id == p.id)
                                 .values(name="Wang Wu", version=Prospect.__table__.c.version + 1))
    stale = p.version
    locked = queries.get_visible(session, owner, p.id, for_update=True)
    assert locked is p
    assert (p.name, p.version) == ("Wang Wu", stale + 1) and not session.dirty


def test_locked_read_flushes_pending_changes_first(session, walked):
    p, owner = walked
    p.name = "Zhao Liu"
    locked = queries.get_visible(session, owner, p.id, for_update=True)
    assert locked.name == "Zhao Liu" and not session.dirty


def test_locked_read_keeps_to_the_viewers_scope(session, walked, factory):
    p, _ = walked
    stranger = factory.user(team="Team B")
    with pytest.raises(NotFound):
        queries.get_visible(session, stranger, p.id, for_update=True)
    lead = factory.user("team_lead", team="Team B")
    with pytest.raises(NotFound):
        queries.get_visible(session, lead, p.id, for_update=True)



@pytest.mark.postgres_only
def test_a_dropped_connection_is_invalidated_and_replaced(app):
    """The server ends the backend under a transaction: the statement raises SQLAlchemy's
    OperationalError marked as a disconnect, and the next transaction gets a new one."""
    engine = make_engine(app.config["DATABASE_URL"])
    try:
        with engine.connect() as killer:
            killer.execute(select(1))
            session = Session(engine)
            conn = session.connection()
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            killer.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
            with pytest.raises(OperationalError) as caught:
                queries._RECORDS_OF_ONE.run(conn, {"pid": 1})
            assert caught.value.connection_invalidated
            session.rollback()
            assert queries._RECORDS_OF_ONE.run(session.connection(), {"pid": 1}).rows == []
            assert session.connection().exec_driver_sql(
                "SELECT pg_backend_pid()").scalar() != pid
            session.close()
    finally:
        engine.dispose()


# ------------------------------------------------------------------ idle connections

def _pooled_pid(engine) -> int:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()


@pytest.fixture
def pinging(app, monkeypatch):
    """An engine on the test database with the idle threshold given, and the pings it
    sends."""
    made = []

    def make(seconds: float) -> tuple:
        engine = make_engine(app.config["DATABASE_URL"], ping_after_idle=seconds)
        pings: list = []
        real = engine.dialect.do_ping
        monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(c) or real(c))
        made.append(engine)
        return engine, pings

    yield make
    for engine in made:
        engine.dispose()


@pytest.mark.postgres_only
def test_a_connection_reused_at_once_is_not_pinged(pinging):
    engine, pings = pinging(60)
    first = _pooled_pid(engine)
    assert [_pooled_pid(engine) for _ in range(5)] == [first] * 5
    assert pings == []


@pytest.mark.postgres_only
def test_an_idle_connection_the_server_dropped_is_replaced_unseen(app, pinging):
    """The server ends a pooled backend while it sits idle (a restart, a fail-over, an
    idle timeout): the next checkout after the idle threshold pings it, finds it gone and
    hands out a new connection; the caller sees no error."""
    engine, pings = pinging(0.05)
    old = _pooled_pid(engine)
    admin = make_engine(app.config["DATABASE_URL"])
    with admin.connect() as killer:
        killer.exec_driver_sql(f"SELECT pg_terminate_backend({int(old)})")
    admin.dispose()
    time.sleep(0.1)
    session = Session(engine)
    assert queries._RECORDS_OF_ONE.run(session.connection(), {"pid": 1}).rows == []
    assert session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar() != old
    session.close()
    assert len(pings) == 1


def test_sqlite_engines_have_no_ping(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/x.sqlite3")
    assert not engine.pool.dispatch.checkout
