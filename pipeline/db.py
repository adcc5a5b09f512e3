"""Database plumbing: the engine, a session per request, and ``unit_of_work``.

Services own their transaction through :func:`unit_of_work`; views, API handlers and
commands only read through the request session and call services.
"""
from __future__ import annotations

import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NamedTuple

from flask import Flask, current_app, g
from sqlalchemy import JSON, DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Connection, CursorResult, Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from pipeline import clock

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, hands back aware UTC: the same on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return clock.as_utc(value).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=clock.UTC)


class JSONData(TypeDecorator):
    """JSON on SQLite, JSONB on PostgreSQL."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# SQLite: the execution option that begins a transaction with BEGIN IMMEDIATE
# (:func:`unit_of_work`), and the key of a connection's info saying whether its
# transaction holds the write lock (began IMMEDIATE, or has written since).
WRITE_TRANSACTION = "pipeline_write_transaction"
_WRITES = "pipeline_writes"

# A connection back from the pool after this many seconds unused is checked first.
PING_AFTER_IDLE = 1.0
_IDLE_SINCE = "pipeline_idle_since"


def make_engine(url: str, *, ping_after_idle: float | None = PING_AFTER_IDLE,
                read_only: bool = False, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets real transactions, WAL and a busy timeout; a server
    database's pooled connections are checked after ``ping_after_idle`` seconds unused
    (:func:`ping_when_idle`; None: never, unless ``pool_pre_ping`` is passed).

    ``read_only``: every transaction of the engine refuses to write (PostgreSQL's
    ``default_transaction_read_only``, SQLite's ``query_only``)."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {}).update({"timeout": 30, "check_same_thread": False})
        engine = create_engine(url, hide_parameters=True, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy issue BEGIN itself so SAVEPOINT and rollback work.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url and "mode=memory" not in url and not read_only:
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            if read_only:
                cur.execute("PRAGMA query_only=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # A transaction that is to write takes the write lock at once (waiting for it
            # up to the busy timeout); one that only reads starts deferred.
            immediate = bool(conn.get_execution_options().get(WRITE_TRANSACTION))
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
            conn.info[_WRITES] = immediate

        @event.listens_for(engine, "before_cursor_execute")
        def _sqlite_write(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if not statement.lstrip()[:6].upper() == "SELECT":
                conn.info[_WRITES] = True

        return engine
    if read_only:  # beside any options the URL or the caller gives
        from sqlalchemy.engine import make_url

        connect_args = kwargs.setdefault("connect_args", {})
        given = connect_args.get("options") or make_url(url).query.get("options") or ""
        connect_args["options"] = f"{given} -c default_transaction_read_only=on".strip()
    engine = create_engine(url, hide_parameters=True, **kwargs)
    if ping_after_idle is not None and not kwargs.get("pool_pre_ping"):
        ping_when_idle(engine, ping_after_idle)
    return engine


def ping_when_idle(engine: Engine, seconds: float) -> None:
    """Check a pooled connection that sat unused for ``seconds`` or more before handing it
    out, and replace it (and every older one) when the server has dropped it.

    SQLAlchemy's ``pool_pre_ping`` does this on every checkout, a round trip per
    transaction. A connection used less than a second ago needs none: a database restart
    or fail-over takes longer than that, so a server that went away has left every pooled
    connection idle for longer by the time it answers again, and those are checked. What
    a busy process checks out again within the second is taken as alive, like the
    connection under a transaction already running.
    """
    from sqlalchemy.exc import InvalidatePoolError

    @event.listens_for(engine, "connect")
    def _new(_dbapi_conn: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:  # None: the connection was detached from the pool
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(_IDLE_SINCE, 0.0) < seconds:
            return
        dialect = engine.dialect
        try:
            dialect.do_ping(dbapi_conn)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_conn, None):
                # As the pre-ping does: this connection and all older ones are replaced.
                raise InvalidatePoolError(f"idle connection lost: {exc}") from exc
            raise


class Database:
    """The app's engine and session factory (``app.extensions['pipeline.db']``), and the
    reports' own, read-only, when ``PIPELINE_REPORTS_DATABASE_URL`` names a replica."""

    def __init__(self, url: str, reports_url: str | None = None) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False)
        self.reports_url = reports_url
        self.reports_engine: Engine | None = None
        self.reports_sessionmaker: sessionmaker[Session] | None = None
        if reports_url:
            self.reports_engine = make_engine(reports_url, read_only=True)
            self.reports_sessionmaker = sessionmaker(bind=self.reports_engine,
                                                     expire_on_commit=False)

    def bind_to(self, connection: Any) -> None:
        """Tests: run every session inside ``connection``'s outer transaction."""
        self.sessionmaker.configure(bind=connection, join_transaction_mode="create_savepoint")


def sqlalchemy_url(url: str) -> str:
    """``url`` with the driver SQLAlchemy uses here (``postgres://`` and ``postgresql://``
    as every PostgreSQL tool writes them mean psycopg 3)."""
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def init_app(app: Flask) -> None:
    url = app.config.get("DATABASE_URL") or "sqlite:///" + app.instance_path + "/pipeline.sqlite3"
    url = sqlalchemy_url(url)
    app.config["DATABASE_URL"] = url
    reports_url = app.config.get("PIPELINE_REPORTS_DATABASE_URL") or None
    if reports_url:
        reports_url = app.config["PIPELINE_REPORTS_DATABASE_URL"] = sqlalchemy_url(reports_url)
    app.extensions["pipeline.db"] = Database(url, reports_url)
    app.teardown_appcontext(_close_session)


def get_db(app: Flask | None = None) -> Database:
    return (app or current_app).extensions["pipeline.db"]


def get_session() -> Session:
    """The session of the current request or app context."""
    if "db_session" not in g:
        g.db_session = get_db().sessionmaker()
    return g.db_session


def reports_session() -> Session:
    """The session the reports and their downloads read from: bound to
    ``PIPELINE_REPORTS_DATABASE_URL`` (a streaming replica; read-only) when it is set, else
    the request's own session (:func:`get_session`).

    Only for reads of figures that may lag the primary by the replica's delay. Every write
    — the audit row of a download included — goes through :func:`get_session`, and so
    does a read of what the same user has just saved (a weekly summary)."""
    db = get_db()
    if db.reports_sessionmaker is None:
        return get_session()
    if "db_reports_session" not in g:
        g.db_reports_session = db.reports_sessionmaker()
    return g.db_reports_session


def _close_session(_exc: BaseException | None) -> None:
    for name in ("db_session", "db_reports_session"):
        session = g.pop(name, None)
        if session is not None:
            session.close()


@contextmanager
def unit_of_work(session: Session) -> Iterator[Session]:
    """One transaction: commit when the block ends, roll back if it raises.

    Anything the session had pending before the block is part of the same transaction.

    On SQLite the transaction takes the write lock when it begins (``BEGIN IMMEDIATE``),
    waiting for another process's writer up to the busy timeout. A deferred transaction
    that read first and wrote later could not wait: SQLite refuses at once to turn a read
    snapshot older than another's commit into a write ("database is locked"). So a
    transaction the session had open that has only read so far, with nothing pending, is
    ended first (objects loaded stay loaded; services re-read what they change under the
    lock) and the block's transaction begins anew, immediate.
    """
    _begin_for_writing(session)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def _begin_for_writing(session: Session) -> None:
    """SQLite: make the session's transaction one that holds the write lock (see
    :func:`unit_of_work`). Nothing on other databases."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if session.in_transaction():
        if session.connection().info.get(_WRITES) or session.new or session.dirty \
                or session.deleted:
            return  # already writing (or about to): it goes on as it began
        session.commit()  # a read-only transaction: ended, nothing to write
    session.connection(execution_options={WRITE_TRANSACTION: True})


# ------------------------------------------------------------------ prebuilt statements

class Ran(NamedTuple):
    """What a :class:`DriverStatement` returned: its rows (tuples, values converted by the
    columns' types) and the driver's row count."""

    rows: list[tuple]
    rowcount: int

    def one(self) -> tuple:
        if len(self.rows) != 1:
            raise LookupError(f"expected one row, got {len(self.rows)}")
        return self.rows[0]

    def first(self) -> tuple | None:
        return self.rows[0] if self.rows else None


class _Compiled:
    """A statement compiled for one dialect: the SQL text, how to build the driver's
    parameters from the caller's (each through its type's bind processor), and, once the
    first result has described its columns, the result processors."""

    __slots__ = ("sql", "binds", "positions", "result_types", "results")

    def __init__(self, statement: Any, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("a prebuilt statement cannot expand parameters (IN lists)")
        if compiled.insert_prefetch or compiled.update_prefetch:
            raise ValueError("a prebuilt statement must give every column default itself: "
                             + ", ".join(c.name for c in (*compiled.insert_prefetch,
                                                          *compiled.update_prefetch)))
        self.sql: str = compiled.string
        escaped = compiled.escaped_bind_names
        self.positions: Sequence[str] | None = (
            list(compiled.positiontup) if compiled.positional else None)
        # (name given by the caller, key in the driver's parameters, the bind, its type's
        # processor); a name used twice in the statement is one parameter. Positional
        # parameters are ordered by the unescaped names, named ones keyed by the escaped.
        seen: set[str] = set()
        binds = []
        for bind, name in compiled.bind_names.items():
            if name not in seen:
                seen.add(name)
                key = name if self.positions is not None else escaped.get(name, name)
                binds.append((name, key, bind,
                              bind.type.dialect_impl(dialect).bind_processor(dialect)))
        self.binds: tuple[tuple[str, str, Any, Any], ...] = tuple(binds)
        # The columns a SELECT or a RETURNING hands back (none for plain DML).
        self.result_types = [c.type for c in statement.exported_columns] or None
        self.results: list[tuple[int, Any]] | None = None

    def parameters(self, params: Mapping[str, Any]) -> Any:
        values: dict[str, Any] = {}
        for name, key, bind, processor in self.binds:
            if name in params:
                value = params[name]
            elif bind.required:
                raise KeyError(f"a value is required for bind parameter {name!r}")
            else:
                value = bind.effective_value
            values[key] = value if processor is None else processor(value)
        if self.positions is not None:
            return tuple(values[name] for name in self.positions)
        return values

    def rows(self, result: CursorResult, dialect: Dialect) -> list[tuple]:
        processors = self.results
        if processors is None:  # the driver's column types are known once it has answered
            processors = self.results = [
                (i, f) for i, (t, d) in enumerate(zip(self.result_types,
                                                      result.cursor.description, strict=True))
                if (f := t.dialect_impl(dialect).result_processor(dialect, d[1])) is not None]
        rows = result.fetchall()
        if not processors:
            return [tuple(r) for r in rows]
        out = []
        for row in rows:
            values = list(row)
            for i, f in processors:
                values[i] = f(values[i])
            out.append(tuple(values))
        return out


class DriverStatement:
    """A Core statement built once, compiled once per dialect, and run as that SQL through
    :meth:`Connection.exec_driver_sql` in the caller's transaction.

    For the few statements every event sends (the prospect's records, the new state, the
    history row, the stage visit): building a statement per call, and SQLAlchemy's cache
    key and compiled-cache lookup for each execution, cost more than running statements
    this small. The SQL text is SQLAlchemy's own for the connection's dialect; parameters
    go through each bind's type (``bind_processor``) and result values through each
    column's (``result_processor``), as ``Connection.execute`` would convert them. The
    execution is an ordinary one: the engine's ``echo`` log, execution options, cursor
    events (statement counters, tracing) and error handling (:class:`sqlalchemy.exc.DBAPIError`
    subclasses; a dropped connection is invalidated) all see it.

    The name is kept from when these statements bypassed the execution path; they no
    longer do.

    Not for statements with expanding (IN-list) parameters or column defaults computed in
    Python: running one raises ``ValueError`` when it is first run on a dialect.
    """

    __slots__ = ("statement", "_dialect", "_compiled", "_by_dialect")

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        # The dialect last seen and its compiled form (one engine per process, usually),
        # then every dialect met, each by the object itself: two engines of one database
        # may compile differently (server version, paramstyle, options).
        self._dialect: Dialect | None = None
        self._compiled: _Compiled | None = None
        self._by_dialect: weakref.WeakKeyDictionary[Dialect, _Compiled] = \
            weakref.WeakKeyDictionary()

    def compiled(self, dialect: Dialect) -> _Compiled:
        if dialect is self._dialect:
            return self._compiled  # type: ignore[return-value]
        found = self._by_dialect.get(dialect)
        if found is None:
            found = self._by_dialect[dialect] = _Compiled(self.statement, dialect)
        self._dialect, self._compiled = dialect, found
        return found

    def run(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Ran:
        """Execute with ``params`` (bind name → value; other keys are ignored) on ``conn``,
        which must be in a transaction (``session.connection()`` is); return its rows and
        row count."""
        if not conn.in_transaction():
            raise RuntimeError("a prebuilt statement runs inside the caller's transaction")
        dialect = conn.dialect
        c = self.compiled(dialect)
        result = conn.exec_driver_sql(c.sql, c.parameters(params or {}))
        if c.result_types is None:
            return Ran([], result.rowcount)
        count = result.rowcount
        return Ran(c.rows(result, dialect), count)


class DriverStatements:
    """Prebuilt statements of one family made on first use, one per key: an UPDATE of just
    the columns that changed, an INSERT of just the columns that have values. Fewer
    parameters are less for the driver to convert and the server to read, as the ORM's
    own UPDATEs and INSERTs name only what they write."""

    __slots__ = ("_build", "_made")

    def __init__(self, build: Any) -> None:
        self._build = build
        self._made: dict[Any, DriverStatement] = {}

    def __getitem__(self, key: Any) -> DriverStatement:
        found = self._made.get(key)
        if found is None:
            found = self._made.setdefault(key, DriverStatement(self._build(key)))
        return found
