"""Importing a customer book: the whole file checked first (all or nothing, every error
with its row and field), new customers allocated or kept in the unallocated book, existing
ones updated and never duplicated (the same file twice changes nothing), CSV with or
without BOM and XLSX, the command line, the API and the template."""
from __future__ import annotations

import io
import json
from datetime import date, timedelta

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from pipeline import clock, workflows
from pipeline.auth.models import AuditEntry
from pipeline.customers import services
from pipeline.customers.models import BookCustomer
from pipeline.engine.identity import make_id_number
from pipeline.prospects.models import CadenceTask, Prospect, StageEvent, StageVisit
from pipeline.prospects.services import advance_prospect, create_prospect

HEADER = ",".join(services.COLUMNS)


def id_number(n: int) -> str:
    return make_id_number("110101", date(1980, 1, 1) + timedelta(days=n), n % 1000)


def line(n: int, manager: str = "", *, tier: str = "", assets: str = "650000",
         name: str | None = None, potential: str = "high") -> str:
    born = date(1980, 1, 1) + timedelta(days=n)
    return (f"C{n:06d},{name or f'Customer {n}'},{id_number(n)},139{n:08d},"
            f"{born.isoformat()},{assets},{potential},{tier},{manager}")


def csv_file(*lines: str, bom: bool = False) -> bytes:
    return (("\ufeff" if bom else "") + "\n".join([HEADER, *lines]) + "\n").encode()


def run(session, data: bytes, *, kind: str = "csv", dry_run: bool = False, actor=None):
    return services.import_customers(session, data, kind=kind, actor=actor, dry_run=dry_run)


def counts(session) -> tuple[int, ...]:
    return tuple(session.scalar(select(func.count()).select_from(m))
                 for m in (Prospect, StageEvent, StageVisit, CadenceTask, BookCustomer))


def test_a_book_is_imported_allocated_or_unallocated(session, factory):
    li = factory.user("manager", "Team A")
    data = csv_file(line(1, li.email), line(2, li.email.upper(), tier="diamond"), line(3),
                    line(4, assets="40000", potential="low"))
    summary = run(session, data)
    assert summary.as_dict() == {"created": 4, "updated": 0, "allocated": 2,
                                 "unallocated": 2, "errors": []}
    first_stage = workflows.workflow().stage_keys[0]
    prospects = session.scalars(select(Prospect).order_by(Prospect.customer_no)).all()
    assert [(p.customer_no, p.owner_id, p.stage, p.tier, p.tier_manual) for p in prospects] == [
        ("C000001", li.id, first_stage, "platinum", False),
        ("C000002", li.id, first_stage, "diamond", True)]
    assert prospects[0].phone == "13900000001" and prospects[0].id_number == id_number(1)
    book = session.scalars(select(BookCustomer).order_by(BookCustomer.customer_no)).all()
    assert [(b.customer_no, b.tier, b.potential, b.assets) for b in book] == [
        ("C000003", "platinum", "high", 650000.0), ("C000004", "gold", "low", 40000.0)]
    assert counts(session)[:3] == (2, 2, 2)
    audit = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "customers_imported")).one()
    assert audit.detail == {"created": 4, "updated": 0, "allocated": 2, "unallocated": 2,
                            "channel": "cli"}


def test_the_same_file_twice_changes_nothing(session, factory):
    li = factory.user("manager", "Team A")
    data = csv_file(*(line(n, li.email if n % 2 else "") for n in range(1, 11)))
    assert run(session, data).created == 10
    before = counts(session)
    versions = session.execute(select(Prospect.id, Prospect.version, Prospect.updated_at)).all()
    again = run(session, data)
    assert again.as_dict() == {"created": 0, "updated": 0, "allocated": 0, "unallocated": 0,
                               "errors": []}
    assert counts(session) == before
    assert session.execute(select(Prospect.id, Prospect.version,
                                  Prospect.updated_at)).all() == versions


def test_an_existing_customer_is_updated_and_its_tier_change_is_in_the_history(
        session, factory):
    li = factory.user("manager", "Team A")
    run(session, csv_file(line(1, li.email), line(2, li.email), line(3)))
    p2 = session.scalars(select(Prospect).where(Prospect.customer_no == "C000002")).one()
    p2.tier_manual = True  # set by hand on the prospect page
    session.commit()
    clock.set_now(clock.now() + timedelta(days=1))
    summary = run(session, csv_file(line(1, li.email, assets="1200000", name="New Name"),
                                    line(2, "", assets="9000000"),
                                    line(3, assets="60000", potential="low")))
    assert summary.as_dict()["created"] == 0 and summary.updated == 3
    session.expire_all()
    p1 = session.scalars(select(Prospect).where(Prospect.customer_no == "C000001")).one()
    assert (p1.name, p1.assets, p1.tier, p1.version) == ("New Name", 1200000.0, "black_gold", 2)
    history = session.scalars(select(StageEvent).where(StageEvent.prospect_id == p1.id)
                              .order_by(StageEvent.seq)).all()
    assert [h.event for h in history] == ["create", "tier_change"]
    assert history[1].data == {"from": "platinum", "to": "black_gold", "manual": False}
    p2 = session.get(Prospect, p2.id)
    assert (p2.assets, p2.tier, p2.owner_id) == (9000000.0, "platinum", li.id)  # kept
    assert session.scalar(select(func.count()).select_from(StageEvent).where(
        StageEvent.prospect_id == p2.id)) == 1
    b3 = session.scalars(select(BookCustomer)).one()
    assert (b3.tier, b3.potential, b3.assets) == ("gold", "low", 60000.0)
    assert session.scalar(select(func.count()).select_from(Prospect)) == 2


def test_a_book_customer_given_a_manager_is_allocated(session, factory):
    li = factory.user("manager", "Team A")
    run(session, csv_file(line(1)))
    summary = run(session, csv_file(line(1, li.email)))
    assert (summary.created, summary.updated, summary.allocated) == (0, 1, 1)
    assert session.scalar(select(func.count()).select_from(BookCustomer)) == 0
    p = session.scalars(select(Prospect)).one()
    assert (p.customer_no, p.owner_id, p.id_number) == ("C000001", li.id, id_number(1))


def test_one_bad_row_writes_nothing_and_every_error_is_listed(session, factory):
    li = factory.user("manager", "Team A")
    lead = factory.user("team_lead", "Team A")
    bad_id = id_number(3)[:-1] + ("0" if id_number(3)[-1] != "0" else "1")
    data = csv_file(
        line(1, li.email),                                       # row 2: fine
        line(2, li.email).replace("13900000002", "12345"),       # row 3: phone
        f"C000003,Customer 3,{bad_id},13900000003,,650000,high,,",  # row 4: id_number
        line(4, "nobody@bank.test"),                             # row 5: unknown manager
        line(5, lead.email),                                     # row 6: not a manager
        line(6, tier="silver"),                                  # row 7: tier
        line(1).replace("C000001", "C000099"),                   # row 8: ID twice in file
        line(7).replace("C000007", "C000001"),                   # row 9: number twice
        line(8, assets="lots"),                                  # row 10: assets
        f",Nobody,{id_number(9)},,,650000,,,",                   # row 11: customer_no
        line(10, assets=""),                                     # row 12: tier or assets
        line(11).replace(str((date(1980, 1, 1) + timedelta(days=11)).isoformat()),
                         "1999-01-01"))                          # row 13: birthday
    before = counts(session)
    with pytest.raises(services.ImportRefused) as refused:
        run(session, data)
    got = [(e.row, e.field) for e in refused.value.summary.errors]
    assert got == [(3, "phone"), (4, "id_number"), (5, "manager"), (6, "manager"),
                   (7, "tier"), (8, "id_number"), (9, "customer_no"), (10, "assets"),
                   (11, "customer_no"), (12, "tier"), (13, "birthday")]
    assert counts(session) == before
    text = json.dumps(refused.value.summary.as_dict())
    for secret in ("12345", bad_id, "nobody@bank.test", "Customer 3", id_number(1)):
        assert secret not in text  # messages name the row and field, not the value
    assert refused.value.status == 422


def test_duplicates_against_existing_prospects(session, factory):
    li = factory.user("manager", "Team A")
    wang = factory.user("manager", "Team A")
    create_prospect(session, actor=wang, data={
        "name": "Held", "tier": "gold", "id_number": id_number(1), "customer_no": "X-1"})
    create_prospect(session, actor=wang, data={
        "name": "Held too", "tier": "gold", "id_number": id_number(2),
        "customer_no": "C000002"})
    with pytest.raises(services.ImportRefused) as refused:
        run(session, csv_file(line(1, li.email),  # another customer's ID number
                              line(2, li.email)))  # the customer has another manager
    assert [(e.row, e.field) for e in refused.value.summary.errors] == [
        (2, "id_number"), (3, "manager")]
    # A lost prospect holds nothing: the customer comes back as a new prospect.
    held = session.scalars(select(Prospect).where(Prospect.customer_no == "X-1")).one()
    advance_prospect(session, held.id, "lose", actor=wang, reason="moved away")
    summary = run(session, csv_file(line(1, li.email), line(2)))
    assert (summary.created, summary.allocated, summary.updated) == (1, 1, 1)  # row 3: name…


def test_the_cap_counts_what_the_file_adds(session, factory):
    li = factory.user("manager", "Team A")
    factory.prospect(li)
    cap = workflows.engine().workflow.escalation.max_active_per_manager
    rows = [line(n, li.email) for n in range(1, cap + 1)]
    with pytest.raises(services.ImportRefused) as refused:
        run(session, csv_file(*rows))
    assert [(e.row, e.field) for e in refused.value.summary.errors] == [(cap + 1, "manager")]
    assert session.scalar(select(func.count()).select_from(Prospect)) == 1
    summary = run(session, csv_file(*rows[:-1]))
    assert summary.allocated == cap - 1


def test_csv_with_bom_and_xlsx(session, factory):
    li = factory.user("manager", "Team A")
    assert run(session, csv_file(line(1, li.email), bom=True)).created == 1
    book = Workbook()
    sheet = book.active
    sheet.append(list(services.COLUMNS))
    sheet.append(["C000002", "客户 二", id_number(2), 13900000002,
                  date(1980, 1, 3), 650000, "high", None, li.email])
    sheet.append([None] * 9)  # a blank row
    sheet.append(["C000003", "客户 三", id_number(3), "13900000003", None, "70,000", "low",
                  "gold", None])
    out = io.BytesIO()
    book.save(out)
    summary = run(session, out.getvalue(), kind="xlsx")
    assert summary.as_dict() == {"created": 2, "updated": 0, "allocated": 1,
                                 "unallocated": 1, "errors": []}
    p = session.scalars(select(Prospect).where(Prospect.customer_no == "C000002")).one()
    assert (p.phone, p.birthday, p.name) == ("13900000002", date(1980, 1, 3), "客户 二")
    book = Workbook()
    book.active.append(["customer_no", "name"])
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(services.ImportRefused) as refused:
        run(session, out.getvalue(), kind="xlsx")
    assert {e.field for e in refused.value.summary.errors} == set(services.COLUMNS) - {
        "customer_no", "name"}
    with pytest.raises(services.ImportRefused) as refused:
        run(session, b"not a workbook", kind="xlsx")
    assert [(e.row, e.field) for e in refused.value.summary.errors] == [(1, "_file")]


def test_a_dry_run_writes_nothing(session, factory):
    li = factory.user("manager", "Team A")
    before = counts(session)
    summary = run(session, csv_file(line(1, li.email), line(2)), dry_run=True)
    assert (summary.created, summary.allocated, summary.unallocated) == (2, 1, 1)
    assert counts(session) == before


def test_imported_rows_equal_what_create_prospect_writes(session, factory):
    """A customer imported with a manager has the rows create_prospect and the one event
    path write for the same customer."""
    li = factory.user("manager", "Team A")
    actor = factory.user("supervisor")
    via_service = create_prospect(session, actor=actor, data={
        "name": "Customer 1", "owner": li.email, "customer_no": "C000001",
        "id_number": id_number(1), "phone": "13900000001", "assets": 650000,
        "potential": "high"})
    expected = _rows(session, via_service.id)
    session.delete(via_service)
    session.commit()
    run(session, csv_file(line(1, li.email)), actor=actor)
    imported = session.scalars(select(Prospect)).one()
    assert _rows(session, imported.id) == expected


def _rows(session, pid: int):
    p = session.get(Prospect, pid)
    prospect = {c.key: getattr(p, c.key) for c in Prospect.__table__.columns if c.key != "id"}
    events = [{c.key: getattr(e, c.key) for c in StageEvent.__table__.columns
               if c.key not in ("id", "prospect_id")}
              for e in session.scalars(select(StageEvent).where(StageEvent.prospect_id == pid))]
    visits = [{c.key: getattr(v, c.key) for c in StageVisit.__table__.columns
               if c.key != "prospect_id"}
              for v in session.scalars(select(StageVisit).where(StageVisit.prospect_id == pid))]
    tasks = sorted(tuple((c.key, getattr(t, c.key)) for c in CadenceTask.__table__.columns
                         if c.key not in ("id", "prospect_id"))
                   for t in session.scalars(select(CadenceTask)
                                            .where(CadenceTask.prospect_id == pid)))
    return prospect, events, visits, tasks


# ---------------------------------------------------------------- the command line

def test_the_command_line(runner, session, factory, tmp_path):
    li = factory.user("manager", "Team A")
    good = tmp_path / "book.csv"
    good.write_bytes(csv_file(line(1, li.email), line(2), bom=True))
    r = runner.invoke(args=["customers", "import", str(good), "--dry-run"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.strip().splitlines()[-1])["created"] == 2
    assert session.scalar(select(func.count()).select_from(Prospect)) == 0
    r = runner.invoke(args=["customers", "import", str(good)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {
        "created": 2, "updated": 0, "allocated": 1, "unallocated": 1, "errors": []}
    assert "importing" not in r.stdout  # no progress bar when the output is not a terminal
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_file(line(3, "nobody@bank.test")))
    r = runner.invoke(args=["customers", "import", str(bad)])
    assert r.exit_code == 1
    last = json.loads(r.stdout.strip().splitlines()[-1])
    assert last["created"] == 0 and last["errors"] == [
        {"row": 2, "field": "manager", "message": services.UNKNOWN_MANAGER}]
    assert json.loads(r.stderr.strip().splitlines()[0])["row"] == 2


# ---------------------------------------------------------------- the API and the template

def test_the_api(client, session, factory):
    li = factory.user("manager", "Team A")
    boss = factory.token(factory.user("supervisor"))
    manager = factory.token(li)
    url = "/api/v1/imports/customers"
    auth = lambda token: {"Authorization": f"Bearer {token}"}  # noqa: E731
    data = csv_file(line(1, li.email), line(2))
    r = client.post(url, data=data, headers=auth(manager), content_type="text/csv")
    assert r.status_code == 403 and r.json["error"]["code"] == "forbidden"
    r = client.post(url, data=data, headers=auth(boss), content_type="application/json")
    assert r.status_code == 415
    r = client.post(url, data=csv_file(line(1, "nobody@bank.test")), headers=auth(boss),
                    content_type="text/csv; charset=utf-8")
    assert r.status_code == 422
    assert r.json["error"]["code"] == "invalid"
    assert r.json["error"]["details"]["errors"] == [
        {"row": 2, "field": "manager", "message": services.UNKNOWN_MANAGER}]
    assert r.json["error"]["details"]["created"] == 0
    r = client.post(url, data=data, headers=auth(boss), content_type="text/csv")
    assert r.status_code == 200, r.json
    assert r.json == {"created": 2, "updated": 0, "allocated": 1, "unallocated": 1,
                      "errors": []}
    book = Workbook()
    book.active.append(list(services.COLUMNS))
    book.active.append(["C000003", "客户 三", id_number(3), "13900000003", None, 70000, "low",
                        None, None])
    out = io.BytesIO()
    book.save(out)
    r = client.post(url + "?dry_run=true", data=out.getvalue(), headers=auth(boss),
                    content_type=services.XLSX_TYPE)
    assert r.status_code == 200 and r.json["unallocated"] == 1
    assert session.scalar(select(func.count()).select_from(BookCustomer)) == 1
    r = client.post(url, data=b"x" * (20 * 1024 * 1024 + 1), headers=auth(boss),
                    content_type="text/csv")
    assert r.status_code == 413
    doc = client.get("/api/v1/openapi.json").json
    assert set(doc["paths"][url]["post"]["requestBody"]["content"]) == {
        "text/csv", services.XLSX_TYPE}


def test_the_template(client, session, factory):
    boss = factory.user("supervisor")
    li = factory.user("manager", "Team A")
    client.post("/login", data={"email": li.email, "password": "secret-pass"})
    assert client.get("/imports/customers/template.csv").status_code == 403
    client.post("/logout")
    client.post("/login", data={"email": boss.email, "password": "secret-pass"})
    r = client.get("/imports/customers/template.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.data.startswith("\ufeff".encode())
    lines = r.data.decode("utf-8-sig").splitlines()
    assert lines[0] == HEADER and len(lines) == 2
    # The example row passes the import's checks.
    assert run(session, r.data).unallocated == 1
