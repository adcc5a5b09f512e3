"""Importing a customer book (CSV or XLSX): the whole file checked first, then written in
one transaction, or nothing.

The file has the header row :data:`COLUMNS`; ``tier`` and ``manager`` (an e-mail address)
may be empty. The header may carry the optional columns :data:`OPTIONAL` after them
(``area``: the branch area the allocation page filters by). Each row is checked by the create command's schema
(:class:`~pipeline.prospects.schemas.CreateProspect`: the ID and mobile number checks, the
birthday against the ID number, a tier or the assets it follows), then against the file
(a customer number or ID number twice) and the database (an unknown manager, one who is
not an active customer manager, a manager over the cap counting what the file adds, an ID
number another customer holds, a customer whose manager is someone else). Any error and
nothing is written: the answer lists every one as ``{"row", "field", "message"}`` — the
row is the file's line number (the header is 1), the message names no value.

Then, in one transaction:

* a new customer with a manager becomes a prospect in the workflow's first stage: the
  outcome of :meth:`Engine.create <pipeline.engine.machine.Engine.create>`, the same for
  every row created at the same moment, turned into rows by the functions
  :func:`pipeline.prospects.events.apply` writes with (``history_values``,
  ``task_values``) and the stage visit it opens, inserted in bulk;
* a new customer without a manager goes to the unallocated book
  (:class:`~pipeline.customers.models.BookCustomer`); a book customer the file now gives
  a manager becomes that manager's prospect and leaves the book (closing any pending
  claims on them);
* an existing customer is updated (name, phone, assets, potential, and the tier unless a
  person set it): a change of tier is the engine's ``retier`` outcome written by
  :func:`~pipeline.prospects.events.apply` (one ``tier_change`` history row); a row that
  changes nothing writes nothing, so importing the same file twice changes nothing;
* one audit entry and one log line with the counts (no personal data).
"""
from __future__ import annotations

import csv
import io
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import any_, bindparam, delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline import clock, workflows
from pipeline.auth.models import User
from pipeline.auth.services import audit
from pipeline.customers.models import BookCustomer, CustomerClaim
from pipeline.db import JSONData, UTCDateTime, unit_of_work
from pipeline.engine.machine import VISIT_ENTER, Engine, Outcome
from pipeline.errors import Invalid
from pipeline.logs import log_event
from pipeline.prospects import queries
from pipeline.prospects.events import (
    STATE_FIELDS,
    history_values,
    task_values,
)
from pipeline.prospects.models import CadenceTask, Prospect, StageEvent, StageVisit
from pipeline.prospects.schemas import CreateProspect
from pipeline.prospects.services import (
    duplicate_customer,
    engine_of,
    lock_managers,
    save_customer,
    tier_from_assets,
    unique_customer_field,
)
from pipeline.validation import REQUIRED

MAX_FILE_BYTES = 20 * 1024 * 1024  # the largest book file the web and the API take
COLUMNS = ("customer_no", "name", "id_number", "phone", "birthday", "assets", "potential",
           "tier", "manager")
OPTIONAL = ("area",)  # columns a file may add after the contract's nine
AREA_LENGTH = 64
CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FILE_FIELD = "_file"
CHUNK = 10000  # rows per bulk statement (and per step of the progress bar)
LOOKUP_CHUNK = 1000  # values per IN list when reading what the database already holds
IMPORT_LOCK = 0x6375_7374  # PostgreSQL advisory lock: one import at a time

# The messages of the checks beyond the create command's schema (English, as the API
# answers; a message names the row's field, never its value).
UNKNOWN_MANAGER = "Unknown user."
NOT_A_MANAGER = "Must be an active customer manager."
AGAIN_IN_FILE = "Appears again in the file (first in row {row})."
ID_HELD = "Another customer (a prospect that is not lost, or the unallocated book) has this " \
          "ID number."
ID_CHANGED = "The customer already has another ID number."
OTHER_MANAGER = "The customer already has another manager; reassign them instead."
OVER_CAP = "The manager would maintain more than {cap} customers."
BAD_HEADER = "The header row must be: " + ",".join(COLUMNS) + "."
MISSING_COLUMN = "This column is missing from the header row."
UNKNOWN_COLUMN = "This column is not one of the file's columns."
NOT_UTF8 = "The file is not UTF-8 text."
NOT_XLSX = "The file is not a readable XLSX workbook."
EMPTY = "The file has no header row."
NUL = "The value contains a NUL character."
TOO_LONG = "At most {n} characters."


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    message: str


@dataclass
class Summary:
    """What an import did (or, checked only, would do)."""

    created: int = 0
    updated: int = 0
    allocated: int = 0
    unallocated: int = 0
    errors: list[RowError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated,
                "allocated": self.allocated, "unallocated": self.unallocated,
                "errors": [asdict(e) for e in self.errors]}


@dataclass
class Row:
    """One checked row of the file."""

    line: int
    customer_no: str
    name: str
    id_number: str | None
    phone: str | None
    birthday: date | None
    assets: float | None
    potential: str | None
    tier: str
    tier_manual: bool
    manager: str | None  # e-mail, lower-case
    area: str | None = None  # the branch area (optional column)


@dataclass
class Plan:
    """What the checked file changes."""

    new_prospects: list[tuple[Row, User]] = field(default_factory=list)
    from_book: list[tuple[Row, User, Any]] = field(default_factory=list)  # (row, owner, book)
    new_book: list[Row] = field(default_factory=list)
    book_updates: list[tuple[Row, Any]] = field(default_factory=list)  # (row, book row)
    prospect_updates: list[tuple[Row, Any]] = field(default_factory=list)

    def summary(self) -> Summary:
        return Summary(
            created=len(self.new_prospects) + len(self.new_book),
            updated=len(self.prospect_updates) + len(self.book_updates) + len(self.from_book),
            allocated=len(self.new_prospects) + len(self.from_book),
            unallocated=len(self.new_book))

    @property
    def writes(self) -> int:
        return (len(self.new_prospects) + len(self.from_book) + len(self.new_book)
                + len(self.book_updates) + len(self.prospect_updates))


class ImportRefused(Invalid):
    """The file has errors: nothing was written. ``summary`` lists them."""

    def __init__(self, summary: Summary) -> None:
        n = len(summary.errors)
        super().__init__(f"the file has {n} error{'s' if n != 1 else ''}; nothing was imported",
                         details=summary.as_dict())
        self.summary = summary


# ---------------------------------------------------------------- reading the file

def kind_of(data: bytes, filename: str | None = None, content_type: str | None = None) -> str:
    """``xlsx`` or ``csv``: from the content type or the file name, else from the content
    (an XLSX workbook is a ZIP archive)."""
    if content_type:
        return "xlsx" if content_type == XLSX_TYPE else "csv"
    if filename and filename.lower().endswith(".xlsx"):
        return "xlsx"
    if filename and filename.lower().endswith(".csv"):
        return "csv"
    return "xlsx" if data[:4] == b"PK\x03\x04" else "csv"


def read_rows(data: bytes, kind: str, columns: tuple[str, ...] = COLUMNS,
              optional: tuple[str, ...] = OPTIONAL
              ) -> tuple[list[tuple[int, dict[str, Any]]], list[RowError]]:
    """The file's rows as ``(line, {column: value})`` (blank rows left out), or the errors
    that make it unreadable (a bad header row, text that is not UTF-8, a broken
    workbook). ``columns`` must all be in the header row, ``optional`` may be (the customer
    book's by default; the customer events file has its own)."""
    try:
        records = list(_xlsx_records(data) if kind == "xlsx" else _csv_records(data))
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        return [], [RowError(line, FILE_FIELD, NOT_UTF8)]
    except Exception:  # noqa: BLE001 - whatever a broken workbook raises, it is unreadable
        if kind != "xlsx":
            raise
        return [], [RowError(1, FILE_FIELD, NOT_XLSX)]
    if not records:
        return [], [RowError(1, FILE_FIELD, EMPTY)]
    header_line, header = records[0]
    names = [str(h).strip().lower() if h is not None else "" for h in header]
    while names and not names[-1]:
        names.pop()
    errors = [RowError(header_line, n or FILE_FIELD, UNKNOWN_COLUMN)
              for n in names if n not in columns and n not in optional]
    errors += [RowError(header_line, c, MISSING_COLUMN) for c in columns if c not in names]
    errors += [RowError(header_line, n, AGAIN_IN_FILE.format(row=header_line))
               for n, count in Counter(names).items()
               if count > 1 and (n in columns or n in optional)]
    if errors:
        return [], errors
    index = {n: i for i, n in enumerate(names)}
    rows = []
    for line, cells in records[1:]:
        if not any(c is not None and str(c).strip() for c in cells):
            continue  # a blank line
        values = {c: None for c in optional}
        values.update({c: cells[i] if i < len(cells) else None for c, i in index.items()})
        rows.append((line, values))
    return rows, []


def _csv_records(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    line = 1
    for record in reader:
        yield line, record
        line = reader.line_num + 1  # a quoted value may span lines


def _xlsx_records(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheet = book.worksheets[0]
        for line, values in enumerate(sheet.iter_rows(values_only=True), 1):
            yield line, list(values)
    finally:
        book.close()


def _text(value: Any) -> str | None:
    """A cell as text: numbers as written (an ID or phone number typed as a number), dates
    as ISO dates; blank is None."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime):
        value = value.date() if value.time() == datetime.min.time() else value
    if isinstance(value, date):
        return value.isoformat()
    out = str(value).strip()
    return out or None


def _number(value: Any) -> Any:
    """The assets cell as a number when it reads as one; otherwise as it is, for the
    schema to refuse."""
    if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    written = str(value).strip()
    if not written:
        return None
    try:
        return float(written.replace(",", ""))
    except ValueError:
        return written


# ---------------------------------------------------------------- checking

def _row_errors(line: int, exc: ValidationError | Invalid) -> list[RowError]:
    messages = exc.messages if isinstance(exc, ValidationError) else exc.details
    if not isinstance(messages, dict):
        messages = {"_row": messages}
    out = []
    for name, texts in messages.items():
        column = "manager" if name == "owner" else ("_row" if name == "_schema" else name)
        for message in texts if isinstance(texts, list) else [texts]:
            out.append(RowError(line, column, str(message)))
    return out


def check_rows(raw: list[tuple[int, dict[str, Any]]], engine: Engine
               ) -> tuple[list[Row], list[RowError]]:
    """Each row through the create command's schema, then the file's own duplicates."""
    schema = CreateProspect()
    rows: list[Row] = []
    errors: list[RowError] = []
    for line, cells in raw:
        values = {c: _text(cells[c]) for c in (*COLUMNS, *OPTIONAL) if c != "assets"}
        if any(v is not None and "\x00" in v for v in values.values()):
            errors += [RowError(line, c, NUL) for c, v in values.items()
                       if v is not None and "\x00" in v]
            continue
        command = {"name": values["name"], "tier": values["tier"],
                   "customer_no": values["customer_no"], "id_number": values["id_number"],
                   "phone": values["phone"], "birthday": values["birthday"],
                   "assets": _number(cells["assets"]), "potential": values["potential"],
                   "owner": values["manager"]}
        try:
            data = schema.load(command)
        except ValidationError as exc:
            errors += _row_errors(line, exc)
            continue
        if data["customer_no"] is None:
            errors.append(RowError(line, "customer_no", REQUIRED))
            continue
        area = values["area"]
        if area is not None and len(area) > AREA_LENGTH:
            errors.append(RowError(line, "area", TOO_LONG.format(n=AREA_LENGTH)))
            continue
        manual = data["tier"] is not None
        try:
            tier = data["tier"] if manual else tier_from_assets(engine, data["assets"])
        except Invalid as exc:
            errors += _row_errors(line, exc)
            continue
        rows.append(Row(line, data["customer_no"], data["name"].strip(), data["id_number"],
                        data["phone"], data["birthday"], data["assets"], data["potential"],
                        tier, manual, data["owner"].lower() if data["owner"] else None,
                        area))
    for column in ("customer_no", "id_number"):
        first: dict[str, int] = {}
        for row in rows:
            value = getattr(row, column)
            if value is None:
                continue
            if value in first:
                errors.append(RowError(row.line, column, AGAIN_IN_FILE.format(row=first[value])))
            else:
                first[value] = row.line
    return rows, errors


def _chunks(values: Iterable[Any], size: int = LOOKUP_CHUNK) -> Iterator[list[Any]]:
    values = sorted(set(values))
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _held(session: Session, columns: list, key: Any, values: Iterable[str],
          *where: Any) -> dict[str, Any]:
    """The rows whose ``key`` is one of ``values`` (an array parameter on PostgreSQL, IN
    lists elsewhere), by that key."""
    out: dict[str, Any] = {}
    conn = session.connection()
    postgres = conn.dialect.name == "postgresql"
    for chunk in _chunks((v for v in values if v is not None),
                         LOOKUP_CHUNK * 20 if postgres else LOOKUP_CHUNK):
        match = key == any_(postgresql.array(chunk)) if postgres else key.in_(chunk)
        for r in conn.execute(select(*columns).where(match, *where)):
            out[getattr(r, key.key)] = r
    return out


_PROSPECT_COLUMNS = [Prospect.id, Prospect.customer_no, Prospect.id_number, Prospect.owner_id,
                     Prospect.name, Prospect.phone, Prospect.assets, Prospect.potential,
                     Prospect.tier, Prospect.tier_manual, Prospect.birthday, Prospect.area]
_BOOK_COLUMNS = [BookCustomer.id, BookCustomer.customer_no, BookCustomer.id_number,
                 BookCustomer.name, BookCustomer.phone, BookCustomer.assets,
                 BookCustomer.potential, BookCustomer.tier, BookCustomer.tier_manual,
                 BookCustomer.birthday, BookCustomer.area]


def plan_import(session: Session, rows: list[Row], engine: Engine
                ) -> tuple[Plan, list[RowError]]:
    """What ``rows`` change, checked against the database: managers, the cap, customers
    and ID numbers already held."""
    errors: list[RowError] = []
    emails = {r.manager for r in rows if r.manager}
    managers: dict[str, User] = {}
    for chunk in _chunks(emails):
        for user in session.scalars(select(User).where(func.lower(User.email).in_(chunk))):
            managers[user.email.lower()] = user
    not_lost = Prospect.status != "lost"
    numbers = [r.customer_no for r in rows]
    ids = [r.id_number for r in rows]
    prospects = _held(session, _PROSPECT_COLUMNS, Prospect.customer_no, numbers, not_lost)
    book = _held(session, _BOOK_COLUMNS, BookCustomer.customer_no, numbers)
    id_holders = {**_held(session, [BookCustomer.id_number, BookCustomer.customer_no],
                          BookCustomer.id_number, ids),
                  **_held(session, [Prospect.id_number, Prospect.customer_no],
                          Prospect.id_number, ids, not_lost)}
    plan = Plan()
    for row in rows:
        owner = None
        if row.manager:
            owner = managers.get(row.manager)
            if owner is None:
                errors.append(RowError(row.line, "manager", UNKNOWN_MANAGER))
            elif owner.role != "manager" or not owner.active:
                errors.append(RowError(row.line, "manager", NOT_A_MANAGER))
                owner = None
        holder = id_holders.get(row.id_number) if row.id_number else None
        if holder is not None and holder.customer_no != row.customer_no:
            errors.append(RowError(row.line, "id_number", ID_HELD))
            continue
        held = prospects.get(row.customer_no)
        if held is not None:
            if row.id_number and held.id_number and held.id_number != row.id_number:
                errors.append(RowError(row.line, "id_number", ID_CHANGED))
            elif owner is not None and owner.id != held.owner_id:
                errors.append(RowError(row.line, "manager", OTHER_MANAGER))
            elif _prospect_changes(row, held, engine):
                plan.prospect_updates.append((row, held))
            continue
        if row.manager and owner is None:
            continue  # already refused
        listed = book.get(row.customer_no)
        if listed is not None:
            if row.id_number and listed.id_number and listed.id_number != row.id_number:
                errors.append(RowError(row.line, "id_number", ID_CHANGED))
            elif owner is not None:
                plan.from_book.append((row, owner, listed))
            elif _book_changes(row, listed):
                plan.book_updates.append((row, listed))
        elif owner is not None:
            plan.new_prospects.append((row, owner))
        else:
            plan.new_book.append(row)
    errors += _over_cap(session, plan, engine)
    return plan, errors


def _over_cap(session: Session, plan: Plan, engine: Engine) -> list[RowError]:
    cap = engine.workflow.escalation.max_active_per_manager
    added = [(row, owner) for row, owner in plan.new_prospects] + \
            [(row, owner) for row, owner, _ in plan.from_book]
    owners = {owner.id for _, owner in added}
    lock_managers(session, owners)
    counts = queries.maintained_counts(session, owners)
    errors = []
    for row, owner in sorted(added, key=lambda pair: pair[0].line):
        counts[owner.id] += 1
        if counts[owner.id] > cap:
            errors.append(RowError(row.line, "manager", OVER_CAP.format(cap=cap)))
    return errors


def _merged(row: Row, held: Any) -> dict[str, Any]:
    """The customer's fields once the row is applied: a value the file leaves empty
    keeps the one held."""
    return {"name": row.name,
            "id_number": row.id_number or held.id_number,
            "birthday": row.birthday or held.birthday,
            "phone": row.phone or held.phone,
            "assets": row.assets if row.assets is not None else held.assets,
            "potential": row.potential or held.potential,
            "area": row.area or held.area}


def _prospect_changes(row: Row, held: Any, engine: Engine) -> dict[str, Any]:
    """The columns ``row`` changes on the prospect ``held`` (tier and tier_manual only when
    the tier was not set by hand)."""
    new = _merged(row, held)
    if not held.tier_manual:
        new["tier"], new["tier_manual"] = row.tier, row.tier_manual
    return {k: v for k, v in new.items() if getattr(held, k) != v}


def _book_changes(row: Row, held: Any) -> dict[str, Any]:
    new = {**_merged(row, held), "tier": row.tier, "tier_manual": row.tier_manual}
    return {k: v for k, v in new.items() if getattr(held, k) != v}


# ---------------------------------------------------------------- the import

Progress = Callable[[int], None]


def check_file(session: Session, data: bytes, kind: str) -> tuple[Plan, Summary]:
    """Read and check the whole file: the plan and the summary it would give (with every
    error; nothing is written)."""
    engine = workflows.engine(workflows.DEFAULT_KEY)
    raw, errors = read_rows(data, kind)
    if errors:
        return Plan(), Summary(errors=errors)
    rows, errors = check_rows(raw, engine)
    plan, more = plan_import(session, rows, engine)
    errors += more
    if errors:
        order = (*COLUMNS, *OPTIONAL)
        return Plan(), Summary(errors=sorted(errors, key=lambda e: (e.row, order.index(
            e.field) if e.field in order else len(order))))
    return plan, plan.summary()


def import_customers(session: Session, data: bytes, *, kind: str, actor: User | None,
                     dry_run: bool = False, channel: str = "cli",
                     progress: Progress | None = None,
                     on_plan: Callable[[Plan], None] | None = None) -> Summary:
    """Import the customer book in ``data`` (``kind``: ``csv`` or ``xlsx``), as ``actor``
    (None on the command line). Returns the summary; raises :class:`ImportRefused` (422,
    nothing written) when the file has errors, Conflict (409, ``duplicate_customer``) when
    a concurrent write took one of its customers. ``dry_run`` checks only. One
    transaction; ``progress`` is called with the number of rows written as they are,
    ``on_plan`` with the plan once the file is checked."""
    started = time.perf_counter()
    with unit_of_work(session):
        if not dry_run and session.get_bind().dialect.name == "postgresql":
            # One import at a time: the checks and the writes see the same book.
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK})
        plan, summary = check_file(session, data, kind)
        if summary.errors:
            session.rollback()
            raise ImportRefused(summary)
        if on_plan is not None:
            on_plan(plan)
        if dry_run:
            session.rollback()
            return summary
        try:
            write_plan(session, plan, actor=actor, progress=progress)
        except IntegrityError as exc:
            column = unique_customer_field(exc)
            if column is None:
                raise
            raise duplicate_customer(column) from None
        counts = {k: v for k, v in summary.as_dict().items() if k != "errors"}
        audit(session, "customers_imported", actor=actor, target_type="import",
              detail={**counts, "channel": channel})
    log_event("customers_import", actor_id=actor.id if actor else None, channel=channel,
              **counts, duration_ms=round((time.perf_counter() - started) * 1000, 3))
    return summary


def write_plan(session: Session, plan: Plan, *, actor: User | None,
               progress: Progress | None = None) -> None:
    """Write a checked plan in the caller's transaction."""
    now = clock.now()
    engine = workflows.engine(workflows.DEFAULT_KEY)
    actor_id = actor.id if actor else None
    report = progress or (lambda n: None)
    for i in range(0, len(plan.prospect_updates), CHUNK):
        _update_prospects(session, plan.prospect_updates[i:i + CHUNK], actor, now)
        report(len(plan.prospect_updates[i:i + CHUNK]))
    for i in range(0, len(plan.book_updates), CHUNK):
        chunk = plan.book_updates[i:i + CHUNK]
        session.execute(update(BookCustomer.__table__).where(
            BookCustomer.__table__.c.id == bindparam("b_id")), [
            {"b_id": held.id, **_merged(row, held), "tier": row.tier,
             "tier_manual": row.tier_manual, "updated_at": now} for row, held in chunk])
        report(len(chunk))
    allocated = [(row, owner, None) for row, owner in plan.new_prospects] + plan.from_book
    if plan.from_book:
        for ids in _chunks(held.id for _, _, held in plan.from_book):
            session.execute(delete(BookCustomer.__table__).where(
                BookCustomer.__table__.c.id.in_(ids)))
        # Allocated by the file: the managers' pending claims on them are closed.
        for numbers in _chunks(row.customer_no for row, _, _ in plan.from_book):
            session.execute(update(CustomerClaim.__table__).where(
                CustomerClaim.__table__.c.customer_no.in_(numbers),
                CustomerClaim.__table__.c.status == "pending").values(
                status="closed", decided_at=now, decided_by_id=actor_id))
    outcome = engine.create(now)
    for i in range(0, len(allocated), CHUNK):
        chunk = allocated[i:i + CHUNK]
        insert_created(session, engine, outcome, [
            (_merged(row, held) if held is not None else _merged(row, row), row, owner)
            for row, owner, held in chunk], actor_id=actor_id, now=now)
        report(len(chunk))
    for i in range(0, len(plan.new_book), CHUNK):
        chunk = plan.new_book[i:i + CHUNK]
        bulk_insert(session, BookCustomer.__table__, [{
            "customer_no": row.customer_no, "workflow_key": engine.workflow.key,
            **_merged(row, row), "tier": row.tier, "tier_manual": row.tier_manual,
            "imported_at": now, "updated_at": now} for row in chunk])
        report(len(chunk))


def _copier(column: Any) -> Callable[[Any], Any]:
    if isinstance(column.type, UTCDateTime):
        return lambda v: None if v is None else clock.as_utc(v).replace(tzinfo=None)
    if isinstance(column.type, JSONData):
        from psycopg.types.json import Jsonb  # PostgreSQL only (the postgres extra)

        return lambda v: None if v is None else Jsonb(v)
    return lambda v: v


def bulk_insert(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in the session's
    transaction: PostgreSQL's COPY (a hundred thousand customers' rows in seconds rather
    than a minute of INSERTs), executemany elsewhere."""
    if not rows:
        return
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    columns = list(rows[0])
    convert = [(name, _copier(table.c[name])) for name in columns]
    driver = conn.connection.driver_connection
    with driver.cursor() as cursor, cursor.copy(
            f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([f(row[name]) for name, f in convert])


def _new_ids(session: Session, table: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` and answer their ids, in order: ids drawn from the table's sequence
    and the rows copied on PostgreSQL; one INSERT … RETURNING elsewhere."""
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return list(session.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), rows).scalars())
    ids = list(conn.execute(text(
        "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
        {"table": table.name, "n": len(rows)}).scalars())
    bulk_insert(session, table, [{"id": i, **row} for i, row in zip(ids, rows, strict=True)])
    return ids


def insert_created(session: Session, engine: Engine, outcome: Outcome,
                   customers: list[tuple[dict[str, Any], Row, User]], *,
                   actor_id: int | None, now: datetime) -> list[int]:
    """Insert new prospects that ``outcome`` (:meth:`Engine.create` at ``now``) created:
    the rows :func:`pipeline.prospects.services.create_prospect` writes through
    :func:`~pipeline.prospects.events.apply` — the prospect with the outcome's state, the
    history row, the stage visit it opens, the cadence tasks — as a few bulk statements."""
    if outcome.visit != VISIT_ENTER or outcome.escalations or outcome.owner_id is not None:
        raise ValueError("a bulk creation writes outcomes that open one stage visit only")
    state = {f: getattr(outcome.state, f) for f in STATE_FIELDS}
    table = Prospect.__table__
    ids = _new_ids(session, table, [{
        **state, **fields, "customer_no": row.customer_no,
        "workflow_key": engine.workflow.key, "tier": row.tier,
        "tier_manual": row.tier_manual, "owner_id": owner.id, "team_id": owner.team_id,
        "warned_clock_no": 0, "escalated_clock_no": 0, "created_at": now,
        "updated_at": now, "version": 1} for fields, row, owner in customers])
    events, visits, tasks = [], [], []
    for pid, (_, _, owner) in zip(ids, customers, strict=True):
        events.append({**history_values(outcome, prospect_id=pid, actor_id=actor_id,
                                        owner_id=owner.id, team_id=owner.team_id, at=now),
                       "seq": 1})
        visits.append({"prospect_id": pid, "start_seq": 1, "stage": outcome.to_stage,
                       "start_at": now, "end_at": None, "seconds": None, "exit": None,
                       "won": outcome.recorded_as == "win", "stalled": False,
                       "owner_id": owner.id, "team_id": owner.team_id})
        tasks += [task_values(t, prospect_id=pid, owner_id=owner.id, now=now)
                  for t in outcome.tasks]
    bulk_insert(session, StageEvent.__table__, events)
    bulk_insert(session, StageVisit.__table__, visits)
    bulk_insert(session, CadenceTask.__table__, tasks)
    from pipeline.messages.services import queue_auto_sms

    queue_auto_sms(session, ids, now)  # the SMS the one path's hook queues for one
    return ids


def _update_prospects(session: Session, updates: list[tuple[Row, Any]], actor: User | None,
                      now: datetime) -> None:
    """Existing customers, each through the one path: locked, changed, and a change of tier
    written as the engine's ``retier`` outcome."""
    locked = {p.id: p for p in session.scalars(
        select(Prospect).where(Prospect.id.in_([held.id for _, held in updates]))
        .with_for_update())}
    for row, held in updates:
        prospect = locked[held.id]
        engine = engine_of(prospect)
        changes = _prospect_changes(row, prospect, engine)
        tier = changes.pop("tier", prospect.tier)
        manual = changes.pop("tier_manual", prospect.tier_manual)
        for name, value in changes.items():
            setattr(prospect, name, value)
        save_customer(session, prospect, engine, tier, manual, actor=actor, now=now)


# ---------------------------------------------------------------- the template

EXAMPLE = {"customer_no": "CN0000000001", "name": "王芳", "id_number": "110101198506150019",
           "phone": "13800138000", "birthday": "1985-06-15", "assets": "650000",
           "potential": "high", "tier": "", "manager": ""}


def template_csv() -> bytes:
    """The import's template: UTF-8 with a BOM (spreadsheets then read the Chinese right),
    the header row and one example row."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerow([EXAMPLE[c] for c in COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
