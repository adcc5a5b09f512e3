"""Backup and restore round-trip on SQLite and PostgreSQL, with the scripts the README
documents: what was committed at backup time comes back exactly; what was not, does not."""
from __future__ import annotations

import subprocess
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from pipeline import create_app
from pipeline.cli import upgrade
from pipeline.db import get_db, make_engine
from pipeline.models import Base
from tests.factories import Factory
from tests.security.conftest import ROOT, clean_env


def dump(url: str) -> dict[str, list]:
    """Every row of every table, in a stable order."""
    engine = make_engine(url)
    out = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = conn.execute(table.select().order_by(*table.primary_key.columns)).all()
            out[table.name] = [tuple(r) for r in rows]
        out["alembic_version"] = conn.execute(text("SELECT version_num FROM alembic_version")
                                              ).all()
    engine.dispose()
    return out


def script(name: str, *args: str) -> subprocess.CompletedProcess:
    r = subprocess.run(["bash", f"scripts/{name}", *args], cwd=ROOT, env=clean_env(),
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    return r


@pytest.fixture
def second_database(database_url, tmp_path):
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    name = f"pipeline_restore_{uuid.uuid4().hex[:10]}"
    admin = make_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_backup_and_restore_round_trip(fresh_database, second_database, tmp_path):
    upgrade(fresh_database)
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": fresh_database})
    db = get_db(app)
    session = db.sessionmaker()
    factory = Factory(session)
    owner = factory.user("manager", "Team A")
    for stage in ("first_contact", "needs", "after_sale"):
        factory.prospect(owner, stage, name=f"Customer in {stage}", phone="13800138000")
    session.close()
    at_backup = dump(fresh_database)
    assert len(at_backup["prospects"]) == 3 and len(at_backup["stage_events"]) > 3

    # A write in progress while the backup runs (the app is running): not in the backup.
    writer = db.engine.connect()
    pending = writer.begin()
    writer.execute(text("UPDATE prospects SET name = 'half-written'"))
    backup = tmp_path / "pipeline.backup"
    script("backup.sh", fresh_database, str(backup))
    pending.rollback()
    writer.close()

    # Later damage to the live database does not reach the backup.
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM stage_records"))
    db.engine.dispose()

    script("restore.sh", str(backup), second_database)
    restored = dump(second_database)
    assert restored == at_backup
    assert all(row[1] != "half-written" for row in restored["prospects"])

    # Restoring over the damaged original brings it back too.
    script("restore.sh", str(backup), fresh_database)
    assert dump(fresh_database) == at_backup
