"""The set-based event import (PostgreSQL, a CSV file every row of which is plain) writes
the same events and tasks, in the same order, and answers the same summary and refusals as
the row-by-row path it stands in for."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from pipeline.aftersale import services
from pipeline.aftersale.models import CustomerEvent
from pipeline.customers.services import import_customers
from pipeline.prospects.models import CadenceTask
from pipeline.prospects.services import advance_prospect

HEADER = ",".join(services.EVENT_COLUMNS)
HELD = f"{HEADER}\nC001,maturity,2026-03-10,500000,Fixed deposit 3M\n"
# Columns in another order, a BOM, padding, quoted commas, quotes and a line break in a
# product, thousands separators, blanks, a blank line, a row twice, an event already held,
# a lost customer's and an unallocated customer's events, dates before and after now.
FILE = ("\ufeff kind ,customer_no,date,product,AMOUNT\n"
        "maturity,C001,2026-03-10,Fixed deposit 3M,500000\n"
        "large_outflow, C001 ,2026-03-02,,\"300,000.50\"\n"
        "tier_drop,C002,2026-03-01,,\n"
        "\n"
        "repayment_due,C002,2026-03-15,\"Mortgage, \"\"family\"\"\nline two\",4200.5\n"
        "repayment_due,C002,2026-03-15,\"Mortgage, \"\"family\"\"\nline two\",4200.5\n"
        "maturity,C003,2026-04-01,Wealth plan,1e5\n"
        "maturity,C900,2026-03-10,Fixed deposit,1000\n"
        "large_outflow,C002,2026-01-05,Current account,250000\n")


@pytest.fixture
def customers(session, factory):
    li = factory.user("manager", "Team A")
    won = factory.prospect(li, "after_sale", name="Wang Fang", customer_no="C001",
                           assets=650000)
    factory.prospect(li, name="Zhao Min", customer_no="C002", assets=90000)
    lost = factory.prospect(li, name="Qian Li", customer_no="C003", assets=90000)
    advance_prospect(session, lost.id, "lose", actor=li, reason="Moved away")
    import_customers(session, (
        b"customer_no,name,id_number,phone,birthday,assets,potential,tier,manager\n"
        b"C900,Book Customer,,,,650000,high,,\n"), kind="csv", actor=None)
    return won


def run(session, text: str, **kw):
    return services.import_events(session, text.encode(), kind="csv", actor=None, **kw)


def written(session) -> tuple[list, list]:
    """The events and the tasks from events, in id order, each task naming its event by
    its place in the events' order."""
    events = session.scalars(select(CustomerEvent).order_by(CustomerEvent.id)).all()
    place = {f"event:{e.id}": n for n, e in enumerate(events)}
    rows = [(e.event_key, e.customer_no, e.kind, e.day, e.amount, e.product, e.prospect_id,
             e.imported_at) for e in events]
    tasks = session.scalars(select(CadenceTask).where(CadenceTask.key.like("event:%"))
                            .order_by(CadenceTask.id)).all()
    return rows, [(t.prospect_id, place[t.key], t.assignee_kind, t.assignee_id, t.clock_no,
                   t.kind, t.due_at, t.title, t.source, t.created_at, t.done_at)
                  for t in tasks]


def forget(session) -> None:
    session.execute(delete(CadenceTask).where(CadenceTask.key.like("event:%")))
    session.execute(delete(CustomerEvent))
    session.commit()


@pytest.mark.postgres_only
def test_the_same_rows_as_row_by_row(session, customers, monkeypatch):
    plain_runs = []
    real = services._import_plain

    def spy(*args, **kwargs):
        plain_runs.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "_import_plain", spy)
    run(session, HELD)
    dry = run(session, FILE, dry_run=True)
    fast = run(session, FILE)
    fast_rows = written(session)
    again = run(session, FILE)
    assert written(session) == fast_rows
    assert len(plain_runs) == 4
    forget(session)

    monkeypatch.setattr(services, "_plain_csv", lambda data: None)
    run(session, HELD)
    slow_dry = run(session, FILE, dry_run=True)
    slow = run(session, FILE)
    slow_rows = written(session)
    slow_again = run(session, FILE)
    assert len(plain_runs) == 4  # the row-by-row path this time

    assert fast.as_dict() == slow.as_dict() == dry.as_dict() == slow_dry.as_dict() == {
        "created": 6, "ignored": 2, "errors": []}
    assert again.as_dict() == slow_again.as_dict() == {
        "created": 0, "ignored": 8, "errors": []}
    assert fast_rows == slow_rows
    events, tasks = fast_rows
    assert len(events) == 7 and len(tasks) == 5  # the lost and the unallocated: no task
    assert events[3][5] == 'Mortgage, "family"\nline two'
    assert events[1][4] == 300000.5
    assert events[4][6] is None and events[5][6] is None  # lost, unallocated
    assert [t[1] for t in tasks] == [0, 1, 2, 3, 6]


@pytest.mark.postgres_only
def test_the_same_refusal_and_nothing_written(session, customers, monkeypatch):
    bad = FILE + "maturity,C404,2026-03-10,1,\nmaturity,C001,2026-03-11,\"a\nb\",1\n" \
        "tier_drop,C404,2026-03-01,,\n"
    with pytest.raises(services.EventsRefused) as fast:
        run(session, bad)
    assert written(session) == ([], [])
    monkeypatch.setattr(services, "_plain_csv", lambda data: None)
    with pytest.raises(services.EventsRefused) as slow:
        run(session, bad)
    assert fast.value.summary.as_dict() == slow.value.summary.as_dict()
    assert [(e.row, e.field) for e in fast.value.summary.errors] == [
        (13, "customer_no"), (16, "customer_no")]


@pytest.mark.parametrize("row", [
    "C001,maturity,2026-02-30,1,",      # no such day
    "C001,maturity,10/03/2026,1,",      # not ISO
    "C001,birthday,2026-03-10,,",       # not a kind
    "C001,maturity,2026-03-10,-1,",     # below 0
    "C001,maturity,2026-03-10,nan,",    # not a number
    "C001,maturity,2026-03-10,ten,",
    "C0 01,maturity,2026-03-10,1,",     # not a customer number
    ",,,,,extra",                       # text only beyond the named columns
])
def test_a_row_the_schema_must_word_takes_the_row_by_row_path(row):
    good = "C001,maturity,2026-03-10,1,"
    assert services._plain_csv(f"{HEADER}\n{good}\n{row}\n".encode()) is None
    plain = services._plain_csv(f"{HEADER}\n{good}\n\n{good},extra\n".encode())
    assert plain is not None
    assert plain.rows == [(2, "C001", "maturity", "2026-03-10", 1.0, None),
                          (4, "C001", "maturity", "2026-03-10", 1.0, None)]
