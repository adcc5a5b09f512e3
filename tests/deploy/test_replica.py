"""The reports read a real streaming replica: what is written on the primary shows in the
funnel once the replica has replayed it, and not before; a download's audit row is written
on the primary."""
from __future__ import annotations

import csv
import io
import zipfile

import pytest
from sqlalchemy import func, select

from pipeline import create_app
from pipeline.auth.models import AuditEntry
from pipeline.cli import upgrade
from pipeline.db import get_db
from tests.deploy.replica import Pair
from tests.factories import Factory

pytestmark = pytest.mark.postgres_only


@pytest.fixture(scope="module")
def pair(database_url):
    clusters = Pair()
    try:
        yield clusters.start()
    finally:
        clusters.stop()


@pytest.fixture(scope="module")
def two_databases(pair):
    """The app of one host: the primary for everything, the replica for the reports."""
    served = create_app({"TESTING": True, "SECRET_KEY": "replica-test",
                         "WTF_CSRF_ENABLED": False, "SERVER_NAME": "localhost.test",
                         "DATABASE_URL": pair.primary_url,
                         "PIPELINE_REPORTS_DATABASE_URL": pair.replica_url})
    upgrade(served.config["DATABASE_URL"])
    yield served
    db = get_db(served)
    db.engine.dispose()
    db.reports_engine.dispose()


def entered(client, stage: str = "first_contact") -> int:
    """The funnel page's count of prospects that entered ``stage``."""
    r = client.get("/reports/funnel")
    assert r.status_code == 200
    row = r.get_data(as_text=True).split(f'data-stage="{stage}"', 1)[1].split("</tr>", 1)[0]
    return int(row.split('data-col="entered">', 1)[1].split("<", 1)[0])


def test_the_funnel_reads_the_replica_and_the_export_is_audited_on_the_primary(
        pair, two_databases):
    db = get_db(two_databases)
    with two_databases.app_context():
        session = db.sessionmaker()
        make = Factory(session)
        supervisor = make.user("supervisor", password="secret-pass")
        owner = make.user("manager")
        token = make.token(supervisor)
        make.prospect(owner, name="Seen once replayed")
        session.commit()
        pair.caught_up()
    client = two_databases.test_client()
    assert client.post("/login", data={"email": supervisor.email,
                                       "password": "secret-pass"}).status_code == 302
    assert entered(client) == 1

    # With the replica's replay paused, a new prospect is on the primary only.
    pair.replay(False)
    try:
        with two_databases.app_context():
            make.prospect(owner, name="Not yet replayed")
            session.commit()
        assert entered(client) == 1
        api = two_databases.test_client().get(  # the API's funnel reads the replica too
            "/api/v1/funnel", headers={"Authorization": f"Bearer {token}"})
        assert api.status_code == 200
        assert {s["key"]: s["entered"] for s in api.get_json()["stages"]}["first_contact"] == 1
    finally:
        pair.replay(True)
    pair.caught_up()
    assert entered(client) == 2

    r = client.get("/reports/funnel.csv")
    assert r.status_code == 200
    with zipfile.ZipFile(io.BytesIO(r.data)) as z:
        assert z.namelist()  # the tables of the replica's figures
        first = z.read(z.namelist()[0]).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(first)))
    exported = select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "report_exported")
    with db.engine.connect() as primary:
        assert primary.scalar(exported) == 1
    pair.caught_up()
    with db.reports_engine.connect() as replica:  # and it reaches the replica as any write
        assert replica.scalar(exported) == 1
    session.close()
