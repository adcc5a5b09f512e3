"""The daily customer-event file: checked whole first (nothing written on any error),
each event once (the same file again, or a row twice, is ignored), each kind's task due
when the workflow says, for the customer's owner; the command line and the API."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from pipeline import clock
from pipeline.aftersale import services
from pipeline.aftersale.models import CustomerEvent
from pipeline.auth.models import AuditEntry
from pipeline.prospects.models import CadenceTask

HEADER = ",".join(services.EVENT_COLUMNS)
SHANGHAI_MIDNIGHT_MAR_10 = datetime(2026, 3, 9, 16, 0, tzinfo=UTC)


def csv_file(*lines: str) -> bytes:
    return ("\n".join([HEADER, *lines]) + "\n").encode()


def run(session, data: bytes, **kw):
    return services.import_events(session, data, kind=kw.pop("kind", "csv"), actor=None, **kw)


def tasks(session) -> list[CadenceTask]:
    return list(session.scalars(select(CadenceTask).where(CadenceTask.kind != "cadence")
                                .order_by(CadenceTask.id)))


@pytest.fixture
def customers(factory):
    li = factory.user("manager", "Team A")
    won = factory.prospect(li, "after_sale", name="Wang Fang", customer_no="C001",
                           assets=650000)
    active = factory.prospect(li, name="Zhao Min", customer_no="C002", assets=90000)
    return li, won, active


def test_each_kind_opens_its_task_for_the_owner(session, customers):
    li, won, active = customers
    summary = run(session, csv_file(
        "C001,maturity,2026-03-10,500000,Fixed deposit 3M",
        "C001,large_outflow,2026-03-02,300000,",
        "C002,tier_drop,2026-03-01,,",
        "C002,repayment_due,2026-03-15,4200.5,Mortgage"))
    assert summary.as_dict() == {"created": 4, "ignored": 0, "errors": []}
    made = tasks(session)
    assert [(t.prospect_id, t.kind, t.assignee_id, t.clock_no) for t in made] == [
        (won.id, "maturity", li.id, 0), (won.id, "retention", li.id, 0),
        (active.id, "retention", li.id, 0), (active.id, "repayment", li.id, 0)]
    # A maturity is due on its day (the bank's), a retention within 2 days of arriving.
    assert made[0].due_at == SHANGHAI_MIDNIGHT_MAR_10
    assert made[0].title == "Fixed deposit 3M · 500,000.00 · 2026-03-10"
    assert made[1].due_at == clock.now() + timedelta(days=2)
    assert made[2].due_at == clock.now() + timedelta(days=2)
    events = session.scalars(select(CustomerEvent).order_by(CustomerEvent.id)).all()
    assert [f"event:{e.id}" for e in events] == [t.key for t in made]
    assert [e.kind for e in events] == [t.source for t in made]
    audit = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "customer_events_imported")).one()
    assert audit.detail == {"created": 4, "ignored": 0, "channel": "cli"}


def test_the_same_file_twice_and_a_row_twice_are_ignored(session, customers):
    data = csv_file("C001,maturity,2026-03-10,500000,Fixed deposit 3M",
                    "C001,maturity,2026-03-10,500000,Fixed deposit 3M",
                    "C001,maturity,2026-03-10,500000,Wealth plan A")
    assert run(session, data).as_dict() == {"created": 2, "ignored": 1, "errors": []}
    assert run(session, data).as_dict() == {"created": 0, "ignored": 3, "errors": []}
    assert len(tasks(session)) == 2
    assert session.scalar(select(func.count()).select_from(CustomerEvent)) == 2


def test_any_bad_row_and_nothing_is_written(session, customers):
    data = csv_file("C001,maturity,2026-03-10,500000,Fixed deposit",
                    "C404,maturity,2026-03-10,1,",
                    "C001,birthday,2026-03-10,,",
                    "C001,maturity,10/03/2026,,",
                    "C001,large_outflow,2026-03-02,-5,")
    with pytest.raises(services.EventsRefused) as refused:
        run(session, data)
    errors = [(e.row, e.field) for e in refused.value.summary.errors]
    assert errors == [(3, "customer_no"), (4, "kind"), (5, "date"), (6, "amount")]
    assert "C404" not in json.dumps(refused.value.summary.as_dict())
    assert tasks(session) == []
    assert session.scalar(select(func.count()).select_from(CustomerEvent)) == 0


def test_a_bad_header_is_refused(session, customers):
    with pytest.raises(services.EventsRefused) as refused:
        run(session, b"customer_no,kind,date\nC001,maturity,2026-03-10\n")
    assert {(e.field) for e in refused.value.summary.errors} == {"amount", "product"}


def test_a_book_customer_event_is_kept_without_a_task(session, customers):
    from pipeline.customers.services import import_customers
    import_customers(session, (
        b"customer_no,name,id_number,phone,birthday,assets,potential,tier,manager\n"
        b"C900,Book Customer,,,,650000,high,,\n"), kind="csv", actor=None)
    assert run(session, csv_file("C900,maturity,2026-03-10,1000,")).created == 1
    assert tasks(session) == []


def test_xlsx_with_dates_and_numbers(session, customers):
    import io
    book = Workbook()
    sheet = book.active
    sheet.append(list(services.EVENT_COLUMNS))
    sheet.append(["C001", "maturity", datetime(2026, 3, 10), 500000, "Fixed deposit"])
    out = io.BytesIO()
    book.save(out)
    assert run(session, out.getvalue(), kind="xlsx").created == 1
    assert tasks(session)[0].due_at == SHANGHAI_MIDNIGHT_MAR_10


def test_command_line(runner, session, customers, tmp_path):
    path = tmp_path / "events.csv"
    path.write_bytes(csv_file("C001,maturity,2026-03-10,500000,Fixed deposit"))
    result = runner.invoke(args=["customers", "events", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1]) == {
        "created": 1, "ignored": 0, "errors": []}
    path.write_bytes(csv_file("C404,maturity,2026-03-10,1,"))
    result = runner.invoke(args=["customers", "events", str(path)])
    assert result.exit_code == 1
    assert json.loads(result.stdout.strip().splitlines()[-1])["errors"] == [
        {"row": 2, "field": "customer_no", "message": services.UNKNOWN_CUSTOMER}]


def test_api_for_supervisors_only(api_for, factory, session, customers):
    li, _won, _active = customers
    body = csv_file("C001,maturity,2026-03-10,500000,Fixed deposit")
    sup = api_for(factory.user("supervisor"))
    headers = {**sup.headers, "Content-Type": "text/csv"}
    r = sup.client.post("/api/v1/imports/customer-events", data=body, headers=headers)
    assert r.status_code == 200, r.json
    assert r.json == {"created": 1, "ignored": 0, "errors": []}
    r = sup.client.post("/api/v1/imports/customer-events", data=body, headers=headers)
    assert r.json == {"created": 0, "ignored": 1, "errors": []}
    r = sup.client.post("/api/v1/imports/customer-events",
                        data=csv_file("C001,maturity,someday,,"), headers=headers)
    assert r.status_code == 422
    assert r.json["error"]["details"]["errors"] == [
        {"row": 2, "field": "date", "message": "Must be a date (YYYY-MM-DD)."}]
    manager = api_for(li)
    r = manager.client.post("/api/v1/imports/customer-events", data=body,
                            headers={**manager.headers, "Content-Type": "text/csv"})
    assert r.status_code == 403


@pytest.mark.parametrize("row", [
    "C001,maturity,2026-03-10,500000,Fixed deposit", "C001,maturity,2026-03-10,,",
    "C001,maturity,2026-03-10,0,x", "C001,tier_drop,2024-02-29,1e3,",
    "C001,maturity,2026-02-30,1,", "C001,maturity,2026-3-10,1,", "C001,Maturity,2026-03-10,1,",
    "C 001,maturity,2026-03-10,1,", "C001,maturity,2026-03-10,nan,",
    "C001,maturity,2026-03-10,1e13,", "C001,maturity,2026-03-10,1,\"" + "p" * 201 + "\""])
def test_the_quick_read_agrees_with_the_schema(row):
    raw, errors = services.book.read_rows(csv_file(row), "csv", services.EVENT_COLUMNS, ())
    [(line, cells)] = raw
    values = {c: services._cell(cells[c]) for c in services.EVENT_COLUMNS}
    values["amount"] = services._amount(values["amount"])
    quick = services._plain(line, values)
    try:
        data = services.EventRow().load(values)
    except services.ValidationError:
        assert quick is None
        return
    expected = services.Event(line, data["customer_no"], data["kind"], data["date"],
                              data["amount"], data["product"])
    assert quick == expected
