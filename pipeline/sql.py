"""SQL expressions and statements the domains share, the same on SQLite and PostgreSQL."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, cast, extract, func, select
from sqlalchemy.orm import Session


def dialect_name(where: Any) -> str:
    """The database dialect's name of a Session, a Connection, or the name itself."""
    if isinstance(where, str):
        return where
    if hasattr(where, "get_bind"):
        return where.get_bind().dialect.name
    return where.dialect.name


def seconds_between(where: Any, end: Any, start: Any) -> Any:
    """Whole seconds between two timestamps, the same on both backends (``where``: see
    :func:`dialect_name`)."""
    if dialect_name(where) == "postgresql":
        return cast(func.round(extract("epoch", end - start)), Integer)
    return cast(func.round((func.julianday(end) - func.julianday(start)) * 86400), Integer)


def insert_ignoring_duplicates(session: Session, model: Any) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` for the session's database (PostgreSQL or
    SQLite ≥ 3.24): a row whose unique key exists already is skipped, not an error, and
    concurrent inserts of the same key wait for each other instead of both succeeding."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the product supports these two
        raise RuntimeError(f"unsupported database {name}")
    return insert(model).on_conflict_do_nothing()


def picked(pick: Any) -> Any:
    """``SELECT id FROM (<pick>)`` evaluated once: a claim's ``UPDATE … WHERE id IN``
    over a ``LIMIT … FOR UPDATE SKIP LOCKED`` subquery may otherwise be re-run by
    PostgreSQL's planner and claim more rows than the limit."""
    cte = pick.cte().prefix_with("MATERIALIZED", dialect="postgresql")
    return select(cte.c.id)
