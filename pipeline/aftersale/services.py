"""After-sale writes: the bank's daily customer-event file and the birthday tasks.

The customer-event file (CSV or XLSX, header row :data:`EVENT_COLUMNS`) is read like the
customer book (:func:`pipeline.customers.services.read_rows`) and checked whole first:
each row by :class:`EventRow`, each customer number against the book (a prospect, or the
unallocated book). Any error and nothing is written; the answer lists every one as
``{"row", "field", "message"}`` (the message names no value).

Then, in one transaction, each event not yet held (its ``event_key``: customer number,
kind, date, product and amount) is kept, and an event of a customer a manager maintains
opens the task the workflow's ``customer_care.events`` names, for the owner: a maturity or
a repayment due on its date, a retention due ``retention.within_days`` after it arrives.
An event already held — imported before, or twice in the file — is ignored, so the same
file imported again changes nothing. One audit entry and one log line with the counts.

Birthdays: :func:`make_birthday_tasks` gives each customer (active or after-sale) with a
birthday today, in the workflow's time zone, one birthday task for that year; the sweep
calls it, and a second call the same day makes nothing.
"""
from __future__ import annotations

import csv
import io
import math
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from marshmallow import ValidationError, validates_schema
from marshmallow.fields import List
from sqlalchemy import (
    String,
    any_,
    bindparam,
    extract,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from pipeline import clock, workflows
from pipeline.aftersale.models import EVENT_KEY_MAX, Campaign, CustomerEvent
from pipeline.auth.models import User
from pipeline.auth.services import audit
from pipeline.customers import services as book
from pipeline.customers.models import BookCustomer
from pipeline.db import unit_of_work
from pipeline.engine import identity
from pipeline.engine.definition import CUSTOMER_EVENT_KINDS, TIERS, CustomerCare, Workflow
from pipeline.errors import Forbidden, Invalid
from pipeline.logs import log_event
from pipeline.prospects.models import CadenceTask, Prospect
from pipeline.prospects.queries import scope
from pipeline.prospects.schemas import CustomerNo
from pipeline.sql import insert_ignoring_duplicates
from pipeline.validation import Command, Day, Message, Number, OneOf, Range, Text, load

EVENT_COLUMNS = ("customer_no", "kind", "date", "amount", "product")
PRODUCT_MAX = 200
CHUNK = 10000
EVENTS_LOCK = 0x6576_6e74  # PostgreSQL advisory lock: one event import at a time
UNKNOWN_CUSTOMER = "No customer of the book has this customer number."
NO_CARE = "The workflow makes no after-sale tasks."
ALIVE = ("active", "paused", "won")  # a customer a manager maintains (not lost)
BIRTHDAY_STATUSES = ("active", "won")


class EventRow(Command):
    """One row of the customer-event file."""

    customer_no = CustomerNo(required=True, max_length=identity.CUSTOMER_NO_MAX)
    kind = Text(required=True, validate=OneOf(CUSTOMER_EVENT_KINDS))
    date = Day(required=True)
    amount = Number(load_default=None, validate=Range(min=0, max=identity.ASSETS_MAX))
    product = Text(load_default=None, max_length=PRODUCT_MAX)


@dataclass
class EventSummary:
    """What an event import did (or, checked only, would do)."""

    created: int = 0
    ignored: int = 0
    errors: list[book.RowError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "ignored": self.ignored,
                "errors": [asdict(e) for e in self.errors]}


class EventsRefused(Invalid):
    """The file has errors: nothing was written. ``summary`` lists them."""

    def __init__(self, summary: EventSummary) -> None:
        n = len(summary.errors)
        super().__init__(f"the file has {n} error{'s' if n != 1 else ''}; nothing was imported",
                         details=summary.as_dict())
        self.summary = summary


@dataclass(frozen=True)
class Event:
    line: int
    customer_no: str
    kind: str
    day: date
    amount: float | None
    product: str | None

    @property
    def key(self) -> str:
        return event_key(self.customer_no, self.kind, self.day.isoformat(), self.product,
                         self.amount)


def event_key(customer_no: str, kind: str, day: str, product: str | None,
              amount: float | None) -> str:
    """What makes an event the same event: customer number, kind, ISO date, product and
    amount to the cent."""
    text_amount = "" if amount is None else f"{amount:.2f}"
    return "|".join((customer_no, kind, day, product or "", text_amount))[:EVENT_KEY_MAX]


def _chunks(values: Any, size: int = 1000) -> Any:
    values = sorted(set(values))
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _matching(session: Session, column: Any, values: Any) -> Any:
    """``column`` is one of ``values``, a chunk at a time: one array parameter per 20,000
    values on PostgreSQL (an IN list, or an ARRAY[...] of that many parameters, costs more
    to build and send than the query), IN lists of 1,000 elsewhere."""
    if session.get_bind().dialect.name == "postgresql":
        for chunk in _chunks(values, 20000):
            yield column == any_(bindparam("values", chunk,
                                           type_=postgresql.ARRAY(String())))
    else:
        for chunk in _chunks(values):
            yield column.in_(chunk)


def care_of(wf: Workflow) -> CustomerCare:
    if wf.care is None:
        raise Invalid(NO_CARE, details={"workflow": [NO_CARE]})
    return wf.care


def _cell(value: Any) -> Any:
    """A cell as the schema reads it: text stripped (blank is None), dates as ISO dates,
    numbers as they are."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value.strip() or None
    return value


def _amount(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value.replace(",", ""))
        except ValueError:
            return value
    return value


_PLAIN_NO = re.compile(rf"[A-Za-z0-9-]{{1,{identity.CUSTOMER_NO_MAX}}}")
_PLAIN_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_KINDS = frozenset(CUSTOMER_EVENT_KINDS)


def _plain(line: int, values: dict[str, Any]) -> Event | None:
    """A row :class:`EventRow` would take as it is, read without it (a daily file has a
    million rows; the schema costs most of their check); None for any other row, which
    then goes through the schema for its messages."""
    number, kind, day, amount, product = (values[c] for c in EVENT_COLUMNS)
    if not (isinstance(number, str) and _PLAIN_NO.fullmatch(number) and kind in _KINDS
            and isinstance(day, str) and _PLAIN_DAY.fullmatch(day)):
        return None
    if amount is not None and not (isinstance(amount, (int, float))
                                   and not isinstance(amount, bool)
                                   and 0 <= amount <= identity.ASSETS_MAX
                                   and math.isfinite(amount)):
        return None
    if product is not None and (not isinstance(product, str) or len(product) > PRODUCT_MAX
                                or "\x00" in product):
        return None
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        return None
    return Event(line, number, kind, parsed, None if amount is None else float(amount),
                 product)


def check_events(raw: list[tuple[int, dict[str, Any]]]
                 ) -> tuple[list[Event], list[book.RowError]]:
    """Each row as :class:`EventRow` loads it (its messages for a bad row)."""
    schema = EventRow()
    events: list[Event] = []
    errors: list[book.RowError] = []
    for line, cells in raw:
        values = {c: _cell(cells[c]) for c in EVENT_COLUMNS}
        if isinstance(values["customer_no"], (int, float)) \
                and not isinstance(values["customer_no"], bool):
            values["customer_no"] = str(int(values["customer_no"]))
        values["amount"] = _amount(values["amount"])
        plain = _plain(line, values)
        if plain is not None:
            events.append(plain)
            continue
        nul = [c for c, v in values.items() if isinstance(v, str) and "\x00" in v]
        if nul:
            errors += [book.RowError(line, c, book.NUL) for c in nul]
            continue
        try:
            data = schema.load(values)
        except ValidationError as exc:
            for name, texts in exc.messages.items():
                for message in texts if isinstance(texts, list) else [texts]:
                    errors.append(book.RowError(line, "_row" if name == "_schema" else name,
                                                str(message)))
            continue
        events.append(Event(line, data["customer_no"], data["kind"], data["date"],
                            data["amount"], (data["product"] or "").strip() or None))
    return events, errors


def _customers(session: Session, numbers: set[str]) -> tuple[dict[str, Any], set[str]]:
    """The prospects that are not lost of ``numbers`` (id, owner, workflow), and the numbers
    the book knows otherwise (the unallocated book, or only lost prospects)."""
    held: dict[str, Any] = {}
    known: set[str] = set()
    for match in _matching(session, Prospect.customer_no, numbers):
        for r in session.execute(select(Prospect.customer_no, Prospect.id, Prospect.owner_id,
                                        Prospect.workflow_key, Prospect.status).where(match)):
            if r.status in ALIVE:
                held[r.customer_no] = r
            known.add(r.customer_no)
    for match in _matching(session, BookCustomer.customer_no, numbers):
        known.update(session.scalars(select(BookCustomer.customer_no).where(match)))
    return held, known


def local_start(day: date, tz: str) -> datetime:
    """The UTC moment ``day`` starts in zone ``tz``."""
    return datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(tz)).astimezone(clock.UTC)


def import_events(session: Session, data: bytes, *, kind: str, actor: User | None,
                  dry_run: bool = False, channel: str = "cli") -> EventSummary:
    """Import the customer-event file in ``data`` (``kind``: ``csv`` or ``xlsx``) as
    ``actor`` (None on the command line). Returns the summary; raises
    :class:`EventsRefused` (422, nothing written) when the file has errors. ``dry_run``
    checks only. One transaction."""
    started = time.perf_counter()
    wf = workflows.workflow(workflows.DEFAULT_KEY)
    care = care_of(wf)
    with unit_of_work(session):
        if not dry_run and session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENTS_LOCK})
        plain = _plain_csv(data) if kind == "csv" and _copies(session) else None
        if plain is not None:
            summary = _import_plain(session, plain, care, wf.timezone, dry_run=dry_run)
            if dry_run:
                session.rollback()
                return summary
        else:
            summary = _import_checked(session, data, kind, care, wf.timezone,
                                      dry_run=dry_run)
            if dry_run:
                return summary
        audit(session, "customer_events_imported", actor=actor, target_type="import",
              detail={"created": summary.created, "ignored": summary.ignored,
                      "channel": channel})
    log_event("customer_events_import", actor_id=actor.id if actor else None,
              channel=channel, created=summary.created, ignored=summary.ignored,
              duration_ms=round((time.perf_counter() - started) * 1000, 3))
    return summary


def _copies(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _refuse(session: Session, errors: list[book.RowError]) -> None:
    session.rollback()
    raise EventsRefused(EventSummary(errors=sorted(errors, key=lambda e: (e.row, e.field))))


def _import_checked(session: Session, data: bytes, kind: str, care: CustomerCare, tz: str,
                    *, dry_run: bool) -> EventSummary:
    """Any file, row by row: read, each row checked (the schema's messages for a bad one),
    the customers and the events already held looked up, then the new events and their
    tasks written in chunks. ``dry_run`` rolls back and only counts."""
    raw, errors = book.read_rows(data, kind, EVENT_COLUMNS, ())
    events, row_errors = check_events(raw) if not errors else ([], [])
    errors += row_errors
    held, known = _customers(session, {e.customer_no for e in events})
    errors += [book.RowError(e.line, "customer_no", UNKNOWN_CUSTOMER)
               for e in events if e.customer_no not in held and e.customer_no not in known]
    if errors:
        _refuse(session, errors)
    fresh: dict[str, Event] = {}
    for e in events:
        fresh.setdefault(e.key, e)
    for match in _matching(session, CustomerEvent.event_key, fresh):
        for key in session.scalars(select(CustomerEvent.event_key).where(match)):
            fresh.pop(key, None)
    summary = EventSummary(created=len(fresh), ignored=len(events) - len(fresh))
    if dry_run:
        session.rollback()
        return summary
    now = clock.now()
    new = list(fresh.values())
    for i in range(0, len(new), CHUNK):
        _write_events(session, new[i:i + CHUNK], held, care, tz, now)
    return summary


@dataclass
class PlainFile:
    """A CSV event file every row of which :class:`EventRow` takes as it is: per row its
    line, customer number, kind, ISO date, amount and product (blank rows left out)."""

    rows: list[tuple[int, str, str, str, float | None, str | None]]


def _plain_csv(data: bytes) -> PlainFile | None:
    """The rows of a CSV file read as :func:`pipeline.customers.services.read_rows` and
    :func:`check_events` read them, when the header is the event columns and every row is
    one :func:`_plain` would take; None for any other file, which then takes the row-by-row
    path for its messages. A tight loop over the CSV reader: a daily file has a million
    rows."""
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    reader = csv.reader(io.StringIO(content, newline=""))
    header = next(reader, None)
    if header is None:
        return None
    names = [h.strip().lower() for h in header]
    while names and not names[-1]:
        names.pop()
    if sorted(names) != sorted(EVENT_COLUMNS):
        return None
    width = len(names)
    at = [names.index(c) for c in EVENT_COLUMNS]
    days: dict[str, bool] = {}
    rows = []
    append = rows.append
    line = reader.line_num + 1
    for record in reader:
        if len(record) < width:
            record = record + [""] * (width - len(record))
        number, kind, day, amount, product = (record[i].strip() for i in at)
        if not (number or kind or day or amount or product):
            if any(c.strip() for c in record):
                return None  # text only beyond the named columns: the schema words it
            line = reader.line_num + 1
            continue
        if kind not in _KINDS or not _PLAIN_NO.fullmatch(number):
            return None
        if day not in days:
            days[day] = _is_day(day)
        if not days[day]:
            return None
        if amount:
            try:
                value: float | None = float(amount.replace(",", ""))
            except ValueError:
                return None
            if not (math.isfinite(value) and 0 <= value <= identity.ASSETS_MAX):
                return None
        else:
            value = None
        if product:
            if len(product) > PRODUCT_MAX or "\x00" in product:
                return None
        else:
            product = None
        append((line, number, kind, day, value, product))
        line = reader.line_num + 1
    return PlainFile(rows)


def _is_day(text_: str) -> bool:
    if not _PLAIN_DAY.fullmatch(text_):
        return False
    try:
        date.fromisoformat(text_)
    except ValueError:
        return False
    return True


# The import's temporary table (dropped at commit), named literally in the statements.
_STAGE = text("""
    CREATE TEMPORARY TABLE customer_events_staged (
        line integer, event_key varchar, customer_no varchar, kind varchar, day date,
        amount double precision, product varchar, task_kind varchar, due_at timestamp,
        title varchar) ON COMMIT DROP""")
_UNSTAGE = text("DROP TABLE IF EXISTS customer_events_staged")
_COPY_STAGED = ("COPY customer_events_staged (line, event_key, customer_no, kind, day, "
                "amount, product, task_kind, due_at, title) FROM STDIN (FORMAT csv)")
_ANALYZE_STAGED = text("ANALYZE customer_events_staged")
_UNKNOWN = text("""
    SELECT DISTINCT s.customer_no FROM customer_events_staged s
     WHERE NOT EXISTS (SELECT 1 FROM prospects p WHERE p.customer_no = s.customer_no)
       AND NOT EXISTS (SELECT 1 FROM book_customers b WHERE b.customer_no = s.customer_no)""")
_COUNT_NEW = text("""
    SELECT count(*) FROM customer_events_staged s
     WHERE NOT EXISTS (SELECT 1 FROM customer_events e WHERE e.event_key = s.event_key)""")
# The new events in the file's order, each with the customer's prospect that is not lost
# (at most one: uq_prospects_customer_no), then a task for each of those with a prospect,
# in the events' order; ON CONFLICT keeps the unique key the judge even without the lock.
_WRITE = text("""
    WITH new AS (
        INSERT INTO customer_events (event_key, customer_no, kind, day, amount, product,
                                     prospect_id, imported_at)
        SELECT s.event_key, s.customer_no, s.kind, s.day, s.amount, s.product, p.id, :now
          FROM customer_events_staged s
          LEFT JOIN prospects p ON p.customer_no = s.customer_no AND p.status = ANY(:alive)
         WHERE NOT EXISTS (SELECT 1 FROM customer_events e WHERE e.event_key = s.event_key)
         ORDER BY s.line
        ON CONFLICT (event_key) DO NOTHING
        RETURNING id, event_key, prospect_id
    ), tasks AS (
        INSERT INTO cadence_tasks (prospect_id, key, assignee_kind, assignee_id, clock_no,
                                   kind, due_at, title, source, created_at)
        SELECT new.prospect_id, 'event:' || new.id, 'owner', p.owner_id, 0, s.task_kind,
               s.due_at, s.title, s.kind, :now
          FROM new
          JOIN customer_events_staged s ON s.event_key = new.event_key
          JOIN prospects p ON p.id = new.prospect_id
         ORDER BY new.id
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM new), (SELECT count(*) FROM tasks)""").bindparams(
    bindparam("now", type_=CustomerEvent.__table__.c.imported_at.type),
    bindparam("alive", list(ALIVE), type_=postgresql.ARRAY(String())))


def _import_plain(session: Session, plain: PlainFile, care: CustomerCare, tz: str, *,
                  dry_run: bool) -> EventSummary:
    """A plain CSV file (:func:`_plain_csv`) on PostgreSQL, set-based: the first row of each
    event copied into a temporary table with its key, task kind, due time and title (as
    :func:`_write_events` makes them), the customer numbers the book does not know found
    by one query (then nothing is written), and the new events and their tasks written by
    one statement. The same rows as the row-by-row path, in the same order."""
    now = clock.now()
    rows = plain.rows
    first: dict[str, tuple] = {}
    for row in rows:
        _line, number, kind, day, amount, product = row
        first.setdefault(event_key(number, kind, day, product, amount), row)
    # The joins and the sort of a million staged rows in memory (one import at a time:
    # EVENTS_LOCK); JIT compiling costs more than it saves. Both end with the transaction.
    session.execute(select(func.set_config("jit", "off", True),
                           func.set_config("work_mem", "256MB", True)))
    # A savepoint-wrapped caller (tests) may still hold the table of an earlier import.
    session.execute(_UNSTAGE)
    session.execute(_STAGE)
    dues: dict[tuple[str, str], str] = {}
    driver = session.connection().connection.driver_connection
    with driver.cursor() as cursor, cursor.copy(_COPY_STAGED) as copy:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")  # \r and \n in a value quoted
        for n, (key, (line, number, kind, day, amount, product)) in enumerate(first.items()):
            task_kind = care.events[kind]
            due = dues.get((task_kind, day))
            if due is None:
                due = dues[task_kind, day] = str(event_task_due(
                    care, task_kind, date.fromisoformat(day), tz, now).replace(tzinfo=None))
            writer.writerow((line, key, number, kind, day, amount, product, task_kind, due,
                             title_of(product, amount, day)))
            if n % 20000 == 19999:
                copy.write(out.getvalue())
                out.seek(0)
                out.truncate()
        copy.write(out.getvalue())
    session.execute(_ANALYZE_STAGED)
    unknown = set(session.scalars(_UNKNOWN))
    if unknown:
        _refuse(session, [book.RowError(line, "customer_no", UNKNOWN_CUSTOMER)
                          for line, number, *_ in rows if number in unknown])
    if dry_run:
        created = session.execute(_COUNT_NEW).scalar_one()
    else:
        created, _tasks = session.execute(_WRITE, {"now": now}).one()
    return EventSummary(created=created, ignored=len(rows) - created)


def event_task_due(care: CustomerCare, task_kind: str, day: date, tz: str,
                   now: datetime) -> datetime:
    """When an event's task is due: a retention ``within_days`` after the event arrives
    (or after its day, if that is later); any other on the event's day."""
    start = local_start(day, tz)
    if task_kind == care.retention_task:
        return max(start, now) + timedelta(days=care.retention_days)
    return start


def event_title(event: Event) -> str | None:
    """The one-line reason a task from an event carries: product, amount, date."""
    return title_of(event.product, event.amount, event.day.isoformat())


def title_of(product: str | None, amount: float | None, day: str) -> str | None:
    parts = [product, f"{amount:,.2f}" if amount is not None else None, day]
    return " · ".join(p for p in parts if p)[:200] or None


def _write_events(session: Session, events: list[Event], held: dict[str, Any],
                  care: CustomerCare, tz: str, now: datetime) -> None:
    """The events, then their tasks (each task's key names its event: ``event:<id>``),
    copied in bulk (:func:`pipeline.customers.services.bulk_insert`: COPY on PostgreSQL)
    with one lookup of the new ids by key: an INSERT … RETURNING in the rows' order is
    sent row by row on SQLite."""
    ce = CustomerEvent.__table__
    book.bulk_insert(session, ce, [
        {"event_key": e.key, "customer_no": e.customer_no, "kind": e.kind, "day": e.day,
         "amount": e.amount, "product": e.product,
         "prospect_id": held[e.customer_no].id if e.customer_no in held else None,
         "imported_at": now} for e in events])
    tasked = {e.key: e for e in events if e.customer_no in held}
    if not tasked:
        return
    ids: dict[str, int] = {}
    for match in _matching(session, ce.c.event_key, tasked):
        ids.update((key, event_id) for event_id, key in session.execute(
            select(ce.c.id, ce.c.event_key).where(match)))
    tasks = []
    for key, e in tasked.items():  # in the file's order
        customer = held[e.customer_no]
        task_kind = care.events[e.kind]
        tasks.append({"prospect_id": customer.id, "key": f"event:{ids[key]}",
                      "assignee_kind": "owner", "assignee_id": customer.owner_id,
                      "clock_no": 0, "kind": task_kind,
                      "due_at": event_task_due(care, task_kind, e.day, tz, now),
                      "title": event_title(e), "source": e.kind, "created_at": now})
    book.bulk_insert(session, CadenceTask.__table__, tasks)


# ---------------------------------------------------------------- birthdays

def birthday_key(year: int) -> str:
    return f"birthday:{year}"


def make_birthday_tasks(session: Session, now: datetime) -> int:
    """A birthday task, due today, for each customer an owner maintains (active or
    after-sale) whose birthday is today in the workflow's time zone (29 February counts on
    28 February in other years). Once a year per customer: the task's key holds the year,
    and a key already there is skipped. Part of the caller's transaction; returns how
    many tasks it made."""
    made = 0
    for key, engine in workflows.all_engines().items():
        wf = engine.workflow
        if wf.care is None:
            continue
        today = now.astimezone(ZoneInfo(wf.timezone)).date()
        days = [(today.month, today.day)]
        if (today.month, today.day) == (2, 28) and not _leap(today.year):
            days.append((2, 29))
        due = local_start(today, wf.timezone)
        p = Prospect.__table__
        for month, day in days:
            rows = session.execute(
                select(p.c.id, p.c.owner_id).where(
                    p.c.workflow_key == key, p.c.status.in_(BIRTHDAY_STATUSES),
                    p.c.birthday.is_not(None), extract("month", p.c.birthday) == month,
                    extract("day", p.c.birthday) == day)).all()
            for i in range(0, len(rows), CHUNK):
                values = [{"prospect_id": r.id, "key": birthday_key(today.year),
                           "assignee_kind": "owner", "assignee_id": r.owner_id,
                           "clock_no": 0, "kind": "birthday", "due_at": due,
                           "created_at": now} for r in rows[i:i + CHUNK]]
                made += len(session.execute(
                    insert_ignoring_duplicates(session, CadenceTask).values(values)
                    .returning(CadenceTask.id)).all())
    return made


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


# ---------------------------------------------------------------- campaigns

CAMPAIGN_STATUSES = ("active", "won")  # the customers a campaign reaches: held, not paused
CAMPAIGNERS = ("team_lead", "supervisor", "admin")
NO_CUSTOMER = "No customer in your scope matches."


class CreateCampaign(Command):
    """A campaign (:func:`create_campaign`): the market event, the day to contact the
    customers by, and who they are (any of tiers, assets from, product held)."""

    name = Text(required=True, max_length=200)
    due_on = Day(required=True)
    note = Text(load_default=None, max_length=2000)
    tiers = List(Text(validate=OneOf(TIERS)), load_default=list)
    min_assets = Number(load_default=None, validate=Range(min=0, max=identity.ASSETS_MAX))
    product = Text(load_default=None, max_length=PRODUCT_MAX, metadata={
        "description": "customers with an imported event of a product whose name contains "
                       "this"})

    @validates_schema(skip_on_field_errors=True)
    def _not_past(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["due_on"] < clock.now().date() - timedelta(days=1):
            raise ValidationError(Message(PAST_DAY), "due_on")


PAST_DAY = "The day to contact the customers by has passed."


def _reached(stmt: Any, actor: User, criteria: dict[str, Any]) -> Any:
    """``stmt`` (a select from the prospects) narrowed to the customers a campaign with
    ``criteria`` reaches in ``actor``'s scope."""
    p = Prospect
    stmt = scope(stmt.where(p.status.in_(CAMPAIGN_STATUSES)), actor)
    if criteria.get("tiers"):
        stmt = stmt.where(p.tier.in_(criteria["tiers"]))
    if criteria.get("min_assets") is not None:
        stmt = stmt.where(p.assets >= criteria["min_assets"])
    if criteria.get("product"):
        text_ = criteria["product"].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(p.id.in_(select(CustomerEvent.prospect_id).where(
            CustomerEvent.product.ilike(f"%{text_}%", escape="\\"))))
    return stmt


def create_campaign(session: Session, *, actor: User, data: Any) -> Campaign:
    """Name a market event and give each affected customer's owner a campaign task due on
    ``due_on`` (:class:`CreateCampaign`). A team lead reaches the team's customers, a
    supervisor the branch's. Raises Forbidden for a manager, Invalid naming each bad field
    (``_schema`` when no customer matches). One transaction."""
    if actor.role not in CAMPAIGNERS:
        raise Forbidden("only a team lead or a supervisor starts a campaign")
    command = load(CreateCampaign, data)
    with unit_of_work(session):
        criteria = {"tiers": list(command["tiers"]), "min_assets": command["min_assets"],
                    "product": command["product"]}
        now = clock.now()
        wf = workflows.workflow(workflows.DEFAULT_KEY)
        campaign = Campaign(name=command["name"].strip(), note=command["note"],
                            due_on=command["due_on"],
                            team_id=actor.team_id if actor.role == "team_lead" else None,
                            created_by_id=actor.id, criteria=criteria, customers=0,
                            created_at=now)
        session.add(campaign)
        session.flush()
        # One INSERT ... SELECT of a task per customer reached, in id order (a province's
        # quarter of a million customers in one statement, none of them sent to Python).
        t, p = CadenceTask.__table__, Prospect
        stamp = t.c.created_at.type

        def constant(value: Any, column: Any) -> Any:
            return literal(value, type_=column.type)

        tasks = _reached(select(
            p.id, constant(campaign_key(campaign.id), t.c.key),
            constant("campaign", t.c.kind), constant("owner", t.c.assignee_kind),
            p.owner_id, constant(0, t.c.clock_no),
            literal(local_start(command["due_on"], wf.timezone), type_=stamp),
            constant(campaign.name[:200], t.c.title), literal(now, type_=stamp)),
            actor, criteria).order_by(p.id)
        reached = len(session.execute(insert(t).from_select(
            ["prospect_id", "key", "kind", "assignee_kind", "assignee_id", "clock_no",
             "due_at", "title", "created_at"], tasks).returning(t.c.id)).all())
        if not reached:
            raise Invalid("no customer matches the campaign",
                          details={"_schema": [Message(NO_CUSTOMER)]})
        campaign.customers = reached
        audit(session, "campaign_created", actor=actor, target_type="campaign",
              target_id=campaign.id, detail={"customers": reached})
    log_event("campaign_created", campaign_id=campaign.id, actor_id=actor.id,
              customers=reached)
    return campaign


def campaign_key(campaign_id: int) -> str:
    return f"campaign:{campaign_id}"
