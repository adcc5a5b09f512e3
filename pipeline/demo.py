"""Demo branch: a supervisor, teams with leads, managers, and an imported customer book —
about 2,000 customers allocated to the managers, whose prospects are spread over every
stage and the last months (some overdue, paused, lost or won) with their history, stage
records, first-contact cadence tasks and contacts, and a tenth as many again left
unallocated for the allocation page.

The customers come from the importer: the demo writes them as a customer-book file (CSV,
the import's columns and the optional ``area``), and the importer's own check
(:func:`pipeline.customers.services.check_file`: the create command's schema on every row,
the tier from the assets, duplicates, managers and the cap) turns the file into its plan.
The unallocated customers are written as the import writes them
(:func:`~pipeline.customers.services.write_plan`); the allocated ones start their
prospect's life on the day it was drawn, as below.

Going through the services one event at a time costs a transaction and a dozen queries
per event (about a minute for 2,000 prospects). Instead each prospect's life is played
through :class:`Timeline`, which does what the services do — the pure engine's outcome
(``create`` and ``fire``) for every state, clock and task, the record schemas and guards
for every record, the cadence kept by ``Engine.sync_cadence``, each outcome turned into
rows by the functions :func:`pipeline.prospects.events.apply` writes with — and the rows
are then inserted in bulk, in one transaction. A test plays the same timeline through the
services and compares the rows.
"""
from __future__ import annotations

import csv
import io
import logging
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from pipeline import clock, workflows
from pipeline.auth.models import User
from pipeline.auth.services import audit, create_user, hash_password
from pipeline.customers import services as book_services
from pipeline.db import unit_of_work
from pipeline.engine.definition import POTENTIALS, Workflow
from pipeline.engine.identity import MAINLAND, make_id_number
from pipeline.engine.machine import Engine, Outcome, ProspectState
from pipeline.engine.records import dependents, derive, merge, validate_record
from pipeline.prospects.events import STATE_FIELDS, history_values, task_values
from pipeline.prospects.models import (
    CadenceTask,
    Contact,
    Prospect,
    StageEvent,
    StageRecord,
)
from pipeline.prospects.queries import local_day
from pipeline.prospects.services import record_status
from pipeline.reports import visits

# The documented demo sign-in, demo data only.
DEMO_PASSWORD = "demo-password"  # nosec B105
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰建国志红婷浩宇晨欣怡"
TEAMS = ("Team A", "Team B", "Team C")
MANAGERS_PER_TEAM = 4
LOSS_REASONS = ("客户已在他行购买", "客户无意向", "联系不上客户", "客户资金另有安排")
PAUSE_REASONS = ("客户表现出厌烦情绪", "客户出差，下月再联系", "客户家中有事，暂缓联系")
AREAS = ("东城片区", "西城片区", "南湖片区", "北苑片区")  # the branch's areas
# A customer's assets (in 10,000 CNY) and how often each is drawn: about 55 % gold, 30 %
# platinum, 10 % black gold and 5 % diamond by the workflow's thresholds.
ASSETS = ((8, 25), (15, 20), (30, 10), (60, 18), (80, 12), (120, 6), (300, 4), (800, 5))

def examples(workflow: Workflow, *, complete: bool) -> dict[str, tuple[str, dict]]:
    """Each stage's example record from the workflow file: stage key → (record key, values),
    the complete example or the one still being filled in, as stored: a derived field holds
    what its source's example gives (the record a guard reads)."""
    out: dict[str, tuple[str, dict]] = {}
    for stage in workflow.stages:
        for record in stage.records:
            values = record.example_complete if complete else record.example_partial
            if values is not None:
                out[stage.key] = (record.key, dict(values))
                break
    given = {key: values for key, values in out.values()}
    return {stage: (key, derive(workflow.record(key), values, given, {}))
            for stage, (key, values) in out.items()}


# ---------------------------------------------------------------- customers' numbers

class Customer(NamedTuple):
    """A demo customer's numbers: valid, and unique by construction (see :func:`customer`)."""

    customer_no: str
    id_number: str
    phone: str
    birthday: date
    potential: str


_PROVINCES = sorted(MAINLAND)
_COUNTIES = 9000  # county codes 0101 … 9100 within a province
_BIRTHDAYS = (date(1950, 1, 1), 50 * 365)  # born 1950 to 1999
_MOBILE_PREFIXES = ("13", "15", "17", "18", "19")


def customer(n: int, rng: random.Random) -> Customer:
    """The ``n``-th customer of a generated book (``n`` ≥ 0, below 279,000,000).

    ``n`` alone decides the customer number and, through the ID number's sequence digits
    (``n`` mod 1,000) and region (the county and province of ``n`` div 1,000), makes the
    ID number unique; the birthday is drawn from ``rng`` and is the ID number's date of
    birth, with the GB 11643 check digit. The mobile number is drawn (valid, maybe shared)."""
    sequence, block = n % 1000, n // 1000
    region = f"{_PROVINCES[block // _COUNTIES % len(_PROVINCES)]}{101 + block % _COUNTIES:04d}"
    born = _BIRTHDAYS[0] + timedelta(days=rng.randrange(_BIRTHDAYS[1]))
    phone = f"{rng.choice(_MOBILE_PREFIXES)}{rng.randrange(10**9):09d}"
    return Customer(f"CN{n:010d}", make_id_number(region, born, sequence), phone, born,
                    POTENTIALS[0] if rng.random() < 0.3 else POTENTIALS[1])


# ---------------------------------------------------------------- one prospect's life

@dataclass
class Timeline:
    """A prospect played through the engine the way the services play it, in memory.

    ``save`` is :func:`save_record`, ``fire`` is :func:`advance_prospect` (same state, clock,
    history row, version and cadence tasks); nothing touches the database until the rows
    are inserted.
    """

    engine: Engine
    owner: User
    name: str
    tier: str
    start: datetime
    id_number: str | None = None
    phone: str | None = None
    assets: float | None = None
    customer_no: str | None = None
    birthday: date | None = None
    potential: str | None = None
    area: str | None = None
    state: ProspectState = field(init=False)
    events: list[dict] = field(default_factory=list)
    records: dict[str, dict] = field(default_factory=dict)
    record_rows: dict[str, dict] = field(default_factory=dict)
    tasks: list[dict] = field(default_factory=list)
    contacts: list[dict] = field(default_factory=list)
    version: int = 1
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        self._record(self.engine.create(self.start), self.start)

    @property
    def stage(self) -> str:
        return self.state.stage

    def _record(self, outcome: Outcome, at: datetime) -> None:
        """What :func:`pipeline.prospects.events.apply` writes for ``outcome``: the state,
        the history row and the tasks, as rows (the stage visits are rebuilt from the
        history when the rows are inserted)."""
        self.state = outcome.state
        self.updated_at = at
        self.events.append({
            **history_values(outcome, prospect_id=None, actor_id=self.owner.id,
                             owner_id=self.owner.id, team_id=self.owner.team_id, at=at),
            "seq": len(self.events) + 1})
        self.tasks += [{**task_values(t, prospect_id=None, owner_id=self.owner.id, now=at),
                        "done_at": None, "done_by_id": None, "reminded_at": None}
                       for t in outcome.tasks]

    def save(self, record_key: str, data: dict[str, Any], at: datetime) -> None:
        """``save_record``: validate, merge, status, cadence."""
        wf = self.engine.workflow
        record = wf.record(record_key)
        values = validate_record(record, data, now=at)
        customer = {"name": self.name, "phone": self.phone, "id_number": self.id_number,
                    "assets": self.assets}
        merged = derive(record, merge(self.records.get(record_key, {}), values), self.records,
                        customer)
        self.records[record_key] = merged
        self._row(record_key, merged, at)
        for follower in dependents([r for s in wf.stages for r in s.records], record_key):
            if follower.key in self.records:
                followed = derive(follower, self.records[follower.key], self.records, customer)
                if followed != self.records[follower.key]:
                    self.records[follower.key] = followed
                    self._row(follower.key, followed, at)
        if wf.stage(self.state.stage).key == wf.stage_of_record(record_key).key:
            tasks = {t["key"]: t for t in self.tasks if t["clock_no"] == self.state.clock_no}
            synced = self.engine.sync_cadence(
                self.state.stage, {k: (t["due_at"], t["done_at"]) for k, t in tasks.items()},
                merged, at)
            for key, (due, done) in synced.items():
                task = tasks[key]
                if done is not None and task["done_at"] is None:
                    task["done_by_id"] = self.owner.id
                elif done is None:
                    task["done_by_id"] = None
                task["due_at"], task["done_at"] = due, done

    def _row(self, record_key: str, data: dict[str, Any], at: datetime) -> None:
        result = record_status(self.engine, record_key, data)
        self.record_rows[record_key] = {
            "record_key": record_key, "data": data, "completeness": result.completeness,
            "complete": result.complete, "updated_at": at, "updated_by_id": self.owner.id}

    def fire(self, event: str, at: datetime, reason: str | None = None) -> None:
        """``advance_prospect``: the engine's outcome, guards included, recorded."""
        self._record(self.engine.fire(self.state, event, now=at, records=self.records,
                                      reason=reason), at)
        self.version += 1

    def contact(self, kind: str, at: datetime, outcome: str | None = None,
                note: str | None = None) -> None:
        """``log_contact``."""
        self.contacts.append({"user_id": self.owner.id, "kind": kind, "outcome": outcome,
                              "note": note, "at": at, "created_at": at})

    def prospect_row(self) -> dict[str, Any]:
        row = {f: getattr(self.state, f) for f in STATE_FIELDS}
        row.update(workflow_key=self.engine.workflow.key, name=self.name, tier=self.tier,
                   owner_id=self.owner.id, team_id=self.owner.team_id,
                   id_number=self.id_number, phone=self.phone, assets=self.assets,
                   customer_no=self.customer_no, birthday=self.birthday,
                   potential=self.potential, area=self.area, created_at=self.start,
                   updated_at=self.updated_at, version=self.version, warned_clock_no=0)
        return row


def insert_timelines(session: Session, timelines: list[Timeline]) -> list[int]:
    """Insert the timelines' rows in bulk (part of the caller's transaction)."""
    if not timelines:
        return []
    # Core inserts: the ORM's bulk insert would reset the version counter to 1.
    table = Prospect.__table__
    ids = list(session.execute(
        insert(table).returning(table.c.id, sort_by_parameter_order=True),
        [t.prospect_row() for t in timelines]).scalars())
    children: dict[type, list[dict]] = {StageEvent: [], StageRecord: [], CadenceTask: [],
                                        Contact: []}
    for pid, t in zip(ids, timelines):
        children[StageEvent] += [{**e, "prospect_id": pid} for e in t.events]
        children[StageRecord] += [{**r, "prospect_id": pid} for r in t.record_rows.values()]
        children[CadenceTask] += [{**k, "prospect_id": pid} for k in t.tasks]
        children[Contact] += [{**c, "prospect_id": pid} for c in t.contacts]
    for model, rows in children.items():
        for i in range(0, len(rows), 5000):
            session.execute(insert(model.__table__), rows[i:i + 5000])
    visits.rebuild(session, ids)  # the stage visits of the histories written around the services
    return ids


# ---------------------------------------------------------------- the branch

def _iso(value: datetime) -> str:
    return value.isoformat()


def _play(rng: random.Random, engine: Engine, owner: User, now: datetime,
          who: book_services.Row) -> Timeline:
    """The prospect of the imported customer ``who``: its final stage and fate drawn, its
    life played forward to ``now``."""
    wf = engine.workflow
    keys = list(wf.stage_keys)
    target = rng.choices(range(len(keys)), weights=[28, 18, 10, 12, 8, 7, 17])[0]
    fate = rng.random()
    lost = target < len(keys) - 1 and fate < 0.08
    paused = not lost and target < len(keys) - 1 and fate < 0.13
    overdue = not lost and not paused and target < len(keys) - 1 and rng.random() < 0.14
    # Time already spent on the current clock, as a share of its limit.
    limit = wf.limit_days(keys[target]) or 30
    share = rng.uniform(1.05, 1.8) if overdue else rng.uniform(0.05, 0.92)
    ongoing = target == len(keys) - 1  # the last stage (after-sale) has no end
    current_span = timedelta(days=limit * share if not ongoing else rng.uniform(1, 120))
    spans = [timedelta(days=rng.uniform(1.5, 0.75 * (wf.limit_days(k) or 14)))
             for k in keys[:target]]
    if lost:
        current_span = timedelta(days=rng.uniform(0.5, 0.6 * limit))
    back = timedelta(days=rng.uniform(3, 60)) if lost else timedelta(0)
    budget = wf.stage(keys[target]).budget
    if target and budget is not None and wf.stage(keys[target - 1]).budget == budget:
        # Stages that share one clock: the share counts from entering the first of them.
        spans[-1] = current_span * rng.uniform(0.3, 0.7)
        current_span -= spans[-1]
    start = now - back - current_span - sum(spans, timedelta(0))
    t = Timeline(engine, owner, name=who.name, tier=who.tier, start=start,
                 id_number=who.id_number, phone=who.phone, customer_no=who.customer_no,
                 birthday=who.birthday, potential=who.potential, assets=who.assets,
                 area=who.area)
    won_from = {tr.source for tr in wf.transitions if tr.event == "win"}
    when = start
    for i, stage in enumerate(keys[:target]):
        end = when + spans[i]
        _work_stage(rng, t, stage, when, end, complete=True)
        t.fire("win" if stage in won_from else "advance", end)
        when = end
    stage = keys[target]
    stop = when + current_span if lost else now
    if not ongoing:
        _work_stage(rng, t, stage, when, stop, complete=rng.random() < 0.2 and not lost)
    else:
        _after_sale(rng, t, when, now)
    if lost:
        t.fire("lose", stop, rng.choice(LOSS_REASONS))
    elif paused:
        t.fire("pause", when + (stop - when) * rng.uniform(0.3, 0.9), rng.choice(PAUSE_REASONS))
    return t


def _work_stage(rng: random.Random, t: Timeline, stage_key: str, since: datetime,
                until: datetime, *, complete: bool) -> None:
    """The touches and the record of one stage visit between ``since`` and ``until``: a
    stage with a cadence has its steps done in turn (its record's step fields filled), a
    meeting when the record is completed; the others a touch and the stage's example
    record. A number the example gives a date-time field is a share of the visit."""
    span = until - since
    wf = t.engine.workflow
    stage = wf.stage(stage_key)
    found = examples(wf, complete=complete).get(stage_key) or (
        (stage.records[0].key, {}) if stage.records else None)
    if found is None:
        return
    key, values = found
    record = wf.record(key)
    data = {name: (_iso(since + span * value)
                   if record.field(name).type == "datetime" and isinstance(value, int | float)
                   else value) for name, value in values.items()}
    if stage.cadence:
        due: dict[str, datetime] = {}
        for i, step in enumerate(stage.cadence):
            base = due[step.after] if step.after else since
            due[step.key] = base + timedelta(hours=step.offset_hours)
            at = due[step.key] + timedelta(minutes=5)
            if i and (at - since >= span or not (complete or rng.random() < 0.75)):
                break
            if step.done_field:
                data[step.done_field] = _iso(at)
            last = i == len(stage.cadence) - 1
            t.contact("call" if last else "sms", at,
                      rng.choice(["reached", "no_answer", "meeting_booked"]) if last
                      else "reached")
        if complete:
            t.contact("meeting", since + span * 0.8, "meeting_booked")
        t.save(key, data, _booked_by(record, data, since + span * (0.85 if complete else 0.9)))
        return
    if not complete and rng.random() < 0.35:
        return  # not started on its record yet
    t.contact(rng.choice(["meeting", "visit", "call"]), since + span * 0.4,
              rng.choice(["reached", "meeting_booked"]))
    t.save(key, data, _booked_by(record, data, since + span * 0.7))


def _booked_by(record: Any, data: dict[str, Any], at: datetime) -> datetime:
    """When a record is saved: at ``at``, or earlier when it holds something planned (a
    field whose ``when`` is ``upcoming``, e.g. a meeting booked) that ``at`` would put in
    the past — a plan is written down before it happens."""
    planned = [clock.parse(value) for name, value in data.items()
               if isinstance(value, str) and record.field(name) is not None
               and record.field(name).type == "datetime"
               and record.field(name).when == "upcoming"]
    return min([at, *planned])


def _after_sale(rng: random.Random, t: Timeline, since: datetime, now: datetime) -> None:
    """Contacts after the sale, roughly at the tier's frequency (some fall behind)."""
    gap = {"diamond": 30, "black_gold": 30, "platinum": 30, "gold": 90}[t.tier]
    kinds = {"diamond": ["visit"], "black_gold": ["visit", "call"],
             "platinum": ["call", "sms"], "gold": ["call"]}[t.tier]
    behind = rng.random() < 0.15
    at = since + timedelta(days=rng.uniform(3, 10))
    while at < now - timedelta(days=gap if behind else 0):
        for kind in kinds:
            t.contact(kind, at, "reached")
        at += timedelta(days=gap * rng.uniform(0.7, 1.0))


def _today(rng: random.Random, timelines: list[Timeline], managers: list[User],
           now: datetime, tz: str) -> None:
    """Today's calls and meetings, so "my day" shows progress against the norm."""

    start, _end = local_day(now, tz)
    day_start = start + timedelta(hours=9)  # 09:00 local
    if now <= day_start:
        return
    by_owner: dict[int, list[Timeline]] = {}
    for t in timelines:
        if t.state.status in ("active", "won"):
            by_owner.setdefault(t.owner.id, []).append(t)
    for m in managers:
        mine = by_owner.get(m.id) or []
        if not mine:
            continue
        for kind, count in (("call", rng.randrange(4, 23)), ("meeting", rng.randrange(0, 3))):
            for _ in range(count):
                at = day_start + (now - day_start) * rng.random()
                rng.choice(mine).contact(kind, at, rng.choice(["reached", "no_answer"])
                                         if kind == "call" else "reached")


def book_file(rng: random.Random, managers: list[User], allocated: int,
              unallocated: int) -> bytes:
    """The demo's customer book as an import file (CSV with the import's columns and
    ``area``): ``allocated`` customers spread over ``managers`` in turn, then
    ``unallocated`` customers without a manager. The tier is left to the assets."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*book_services.COLUMNS, "area"])
    for n in range(allocated + unallocated):
        who = customer(n, rng)
        manager = managers[n % len(managers)].email if n < allocated else ""
        writer.writerow([who.customer_no,
                         rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                         who.id_number, who.phone, who.birthday.isoformat(),
                         rng.choices([a for a, _ in ASSETS], [w for _, w in ASSETS])[0]
                         * 10_000, who.potential, "", manager,
                         rng.choice(AREAS)])
    return out.getvalue().encode("utf-8")


def load_book(session: Session, data: bytes) -> book_services.Plan:
    """Check the demo's book file with the importer and write its unallocated customers
    as the import does (in the caller's transaction); the plan's new prospects are left
    to the caller. Raises ValueError naming the first error (none is expected)."""
    plan, summary = book_services.check_file(session, data, "csv")
    if summary.errors:
        first = summary.errors[0]
        raise ValueError(f"the demo's book has {len(summary.errors)} errors; row "
                         f"{first.row}, {first.field}: {first.message}")
    book_services.write_plan(session, book_services.Plan(new_book=plan.new_book), actor=None)
    return plan


def seed_demo_branch(session: Session, *, prospects: int = 2000, seed: int = 7,
                     unallocated: int | None = None) -> dict:
    """Create the demo branch (once: a second run adds nothing). Returns a summary.

    ``prospects`` customers are allocated and have a prospect; ``unallocated`` (default a
    tenth of ``prospects``) wait in the unallocated book. Users come from
    :func:`create_user` (each its own transaction); the customers and their rows are
    written in one transaction. Raises ValueError when the managers cannot hold
    ``prospects`` customers under the cap.
    """
    if session.scalar(select(func.count()).select_from(User)):
        return {"created": False, "reason": "the database already has users"}
    engine = workflows.engine()
    cap = engine.workflow.escalation.max_active_per_manager
    if prospects > cap * len(TEAMS) * MANAGERS_PER_TEAM:
        raise ValueError(f"{len(TEAMS) * MANAGERS_PER_TEAM} managers hold at most "
                         f"{cap * len(TEAMS) * MANAGERS_PER_TEAM} customers")
    waiting = prospects // 10 if unallocated is None else unallocated
    logging.getLogger("transitions").setLevel(logging.WARNING)  # one line per event
    # Reproducible demo data, not a secret.
    rng = random.Random(seed)  # nosec B311
    # One hash for every demo account: hashing is slow by design, and they share a password.
    password_hash = hash_password(DEMO_PASSWORD)
    people: list[User] = [create_user(session, "supervisor@demo.bank", role="supervisor",
                                      name="周建华")]  # names are names: the role shows beside them
    managers: list[User] = []
    for t, team in enumerate(TEAMS):
        people.append(create_user(session, f"lead{t + 1}@demo.bank", role="team_lead",
                                  team=team, name=f"{SURNAMES[t]}{GIVEN[t + 20]}{GIVEN[t + 30]}"))
        for m in range(MANAGERS_PER_TEAM):
            n = t * MANAGERS_PER_TEAM + m + 1
            managers.append(create_user(
                session, f"manager{n}@demo.bank", role="manager", team=team,
                name=f"{SURNAMES[n + 2]}{GIVEN[n]}"))
    people += managers
    now = clock.now()
    data = book_file(rng, managers, prospects, waiting)
    with unit_of_work(session):
        for user in people:
            user.password_hash = password_hash
        plan = load_book(session, data)
        timelines = [_play(rng, engine, owner, now, row) for row, owner in plan.new_prospects]
        _today(rng, timelines, managers, now, engine.workflow.timezone)
        insert_timelines(session, timelines)
        audit(session, "customers_imported", actor=people[0], target_type="import",
              detail={"created": prospects + waiting, "updated": 0, "allocated": prospects,
                      "unallocated": waiting, "channel": "demo"})
    counts: dict[str, int] = {}
    for t in timelines:
        counts[t.stage] = counts.get(t.stage, 0) + 1
    overdue = sum(1 for t in timelines if t.state.status == "active" and t.state.due_at
                  and t.state.due_at < now)
    return {"created": True, "prospects": prospects, "unallocated": waiting,
            "by_stage": counts, "overdue": overdue,
            "paused": sum(1 for t in timelines if t.state.status == "paused"),
            "lost": sum(1 for t in timelines if t.state.status == "lost"),
            "won": sum(1 for t in timelines if t.state.status == "won"),
            "supervisor": people[0].email, "password": DEMO_PASSWORD}
