"""The migrations build exactly the schema the models describe, and go down and up again."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from pipeline.models import Base


def test_migrations_match_the_models(app, connection):
    ctx = MigrationContext.configure(connection, opts={"compare_type": True})
    diff = [d for d in compare_metadata(ctx, Base.metadata)]
    assert diff == []


def test_downgrade_and_upgrade_round_trip(tmp_path):
    from alembic import command

    from pipeline.cli import alembic_config

    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    cfg = alembic_config(url)
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "base")
    command.upgrade(cfg, "head")
    from sqlalchemy import create_engine, inspect

    names = set(inspect(create_engine(url)).get_table_names())
    assert set(Base.metadata.tables) <= names
