"""A branch on SQLite: gunicorn with 2 workers (threaded) and 20 clients reading prospects,
their pages and the API (each read by a lead or a supervisor writes an audit row), and
saving records at the same time. Every answer is a 200; none is a 500, and a busy 503 would be counted and rare.

Runs once, on its own SQLite file, whatever backends the suite runs on.
"""
from __future__ import annotations

import collections
import re
import threading
import time

import requests

from pipeline import clock, create_app
from pipeline.cli import upgrade
from pipeline.db import get_db
from tests.factories import Factory
from tests.security.test_crash import free_port, kill, start_server

WORKERS = 2
CLIENTS = 20
WRITERS = 6  # of the clients; the others read
PAGE_READERS = 4  # of the readers: the lead on the prospect pages, signed in; others the API
SECONDS = 8
MAX_BUSY = 0.01  # at most this share of 503 database_busy answers


def test_two_workers_and_twenty_clients_on_sqlite_never_answer_500(tmp_path):
    clock.set_now(None)  # the server reads the wall clock: its tokens must be valid now
    url = f"sqlite:///{tmp_path / 'branch.sqlite3'}"
    upgrade(url)
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": url})
    session = get_db(app).sessionmaker()
    factory = Factory(session)
    lead = factory.user("team_lead", "Team A")
    supervisor = factory.user("supervisor")
    owners = [factory.user("manager", "Team A") for _ in range(WRITERS)]
    prospects = [factory.prospect(owner, name=f"Load {n}") for n, owner in enumerate(owners)]
    readers = [factory.token(lead if n % 2 else supervisor) for n in range(CLIENTS - WRITERS)]
    writers = [(factory.token(owner), p.id) for owner, p in zip(owners, prospects, strict=True)]
    ids = [p.id for p in prospects]
    lead_email = lead.email
    session.close()
    get_db(app).engine.dispose()

    port = free_port()
    log = tmp_path / "gunicorn.log"
    server = start_server(url, port, log, workers=WORKERS, threads=4)
    base = f"http://127.0.0.1:{port}"
    answers: collections.Counter[tuple[str, int]] = collections.Counter()
    lock = threading.Lock()
    stop = time.monotonic() + SECONDS

    def client(token: str, work) -> None:  # noqa: ANN001
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {token}"
        n = 0
        while time.monotonic() < stop:
            kind, r = work(http, n)
            n += 1
            with lock:
                answers[kind, r.status_code] += 1

    def read(http: requests.Session, n: int):  # noqa: ANN202
        pid = ids[n % len(ids)]
        path = f"/api/v1/prospects/{pid}" if n % 4 else "/api/v1/prospects"
        return "read", http.get(base + path, timeout=60)

    def cookies(http: requests.Session, r: requests.Response) -> requests.Response:
        # The production server's cookies are Secure: sent back by hand over plain HTTP.
        http.headers["Cookie"] = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
        return r

    def page(http: requests.Session, n: int):  # noqa: ANN202
        if not http.cookies:  # signed in once, through the form as a browser is
            login = cookies(http, http.get(f"{base}/login", timeout=60)).text
            token = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
            r = cookies(http, http.post(f"{base}/login", data={
                "email": lead_email, "password": "secret-pass", "csrf_token": token},
                allow_redirects=False, timeout=60))
            assert r.status_code == 302, r.status_code
        return "page", http.get(f"{base}/prospects/{ids[n % len(ids)]}", timeout=60)

    def writer(pid: int):  # noqa: ANN202
        def write(http: requests.Session, n: int):  # noqa: ANN202
            body = {"employer": f"employer {n}", "family": "单身" if n % 2 else "已婚"}
            return "write", http.put(f"{base}/api/v1/prospects/{pid}/records/info_sheet",
                                     json=body, timeout=60)
        return write

    threads = [threading.Thread(target=client, args=(t, read if n >= PAGE_READERS else page))
               for n, t in enumerate(readers)]
    threads += [threading.Thread(target=client, args=(t, writer(pid))) for t, pid in writers]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=SECONDS + 120)
    finally:
        kill(server)
    total = sum(answers.values())
    busy = sum(n for (_, status), n in answers.items() if status == 503)
    print(f"{total} answers in {SECONDS} s: {dict(answers)}")
    assert not any(t.is_alive() for t in threads)
    assert total > CLIENTS * 5
    assert answers["read", 200] and answers["page", 200] and answers["write", 200]
    assert not [k for k in answers if k[1] >= 500 and k[1] != 503], (dict(answers),
                                                                     log.read_text()[-3000:])
    assert busy <= MAX_BUSY * total, dict(answers)
    assert {status for _, status in answers} <= {200, 503}, dict(answers)


def test_a_write_after_reads_does_not_fail_on_another_process_s_commit(tmp_path):
    """SQLite: a session that read (a deferred transaction, its snapshot) and then writes
    in a unit of work, after another connection committed, is not refused at once with
    "database is locked": its read transaction is ended and the write begins IMMEDIATE."""
    from sqlalchemy import select

    from pipeline.auth.models import AuditEntry
    from pipeline.auth.services import audit
    from pipeline.db import unit_of_work

    url = f"sqlite:///{tmp_path / 'snapshot.sqlite3'}"
    upgrade(url)
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": url})
    db = get_db(app)
    reader, other = db.sessionmaker(), db.sessionmaker()
    try:
        assert reader.scalars(select(AuditEntry)).all() == []  # a read snapshot is open
        with unit_of_work(other):
            audit(other, "login_failed", target_type="email", note="a@bank.test")
        with unit_of_work(reader):
            audit(reader, "login_failed", target_type="email", note="b@bank.test")
        assert sorted(reader.scalars(select(AuditEntry.note))) == ["a@bank.test",
                                                                  "b@bank.test"]
    finally:
        reader.close()
        other.close()
        db.engine.dispose()


def test_a_view_whose_audit_entry_cannot_be_written_answers_503_not_the_data(
        client, factory, monkeypatch):
    from sqlalchemy.exc import OperationalError

    import pipeline.audit.views

    def busy(*_args, **_kwargs) -> None:
        raise OperationalError("INSERT INTO audit_log", {}, Exception("database is locked"))

    monkeypatch.setattr(pipeline.audit.views, "record_view", busy)
    p = factory.prospect(factory.user("manager", "Team A"), name="Wang Fang")
    token = factory.token(factory.user("supervisor"))
    r = client.get(f"/api/v1/prospects/{p.id}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    assert r.json["error"]["code"] == "database_busy" and "Wang" not in r.get_data(as_text=True)
