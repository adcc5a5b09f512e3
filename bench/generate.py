"""Bank-scale data: a province on PostgreSQL (COPY) and a branch on SQLite (executemany).

Every prospect's life is drawn first as a history — ``create`` then ``advance``/``win``
chains with ``pause``/``resume`` pairs, ``back`` and ``advance`` again, some ``lose`` — with
strictly increasing times, and its state (stage, status, clock fields) is then *replayed*
from that history with the workflow engine's own clock arithmetic
(:meth:`Engine.transition`, the code ``Engine.fire`` runs after its guards). Firing the ``transitions`` machine for two million events would cost several
minutes; tests/bench replays every generated history of a small province through
``Engine.fire`` itself and compares the states.

The data is what the sweep leaves behind at :data:`NOW`: every visit past its warning
time is marked warned, every overdue visit has its open escalation (raised to level 2
after two days), overdue first-contact steps are reminded and after-sale customers carry
the end of their contact period in ``due_at``. A sweep at :data:`NOW` therefore finds
nothing to do, which is what the idle-sweep benchmark measures.

Reproducible: the same :class:`Scale` and seed give the same rows.
"""
from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline import workflows
from pipeline.customers import services as book
from pipeline.demo import (
    ASSETS,
    GIVEN,
    LOSS_REASONS,
    PAUSE_REASONS,
    SURNAMES,
    customer,
    examples,
)
from pipeline.engine.definition import TIERS
from pipeline.engine.machine import EVENT_STATUSES, Engine, ProspectState, copy_state
from pipeline.escalations import rules
from pipeline.prospects.services import record_status

log = logging.getLogger(__name__)

# Monday 16 November 2026, 10:00 in Shanghai: mid-month and mid-quarter, so no after-sale
# contact period ends within the hours the sweep benchmarks move the clock forward.
NOW = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)
PASSWORD = "bench-password"
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
TIER_WEIGHTS = (5, 10, 30, 55)  # of the definition's TIERS, in their order
# Where the open prospects stand (index into the stage keys); after-sale customers are won.
STAGE_WEIGHTS = (18, 13, 10, 12, 9, 8, 30)
PAUSED_SHARE = 0.04
OVERDUE_SHARE = 0.12
COMPLETE_SHARE = 0.25   # the current stage's records are complete (ready to advance)
PAUSE_IN_VISIT = 0.45   # a passed stage visit had a pause/resume pair
BACK_IN_VISIT = 0.18    # a passed stage visit went back a stage and came forward again
BEHIND_SHARE = 0.15     # after-sale customers who missed last period's contact frequency
CUSTOMER_SEED = 7_919   # the customers' draw, apart from the lives'

# Each stage's example record from the workflow file, complete and still being filled in.
COMPLETE = examples(workflows.workflow(), complete=True)
PARTIAL = examples(workflows.workflow(), complete=False)
# Every stage's record complete: a history fired through the engine passes every guard.
ALL_RECORDS_FOR_FIRING = {"contact_log": {"meeting_booked_at": "2026-01-01T00:00:00+00:00"},
                          **dict(COMPLETE.values())}

COLUMNS: dict[str, tuple[str, ...]] = {
    "teams": ("id", "name", "lead_id"),
    "users": ("id", "email", "name", "role", "team_id", "password_hash", "locale", "timezone",
              "active", "created_at"),
    "prospects": ("id", "workflow_key", "name", "tier", "owner_id", "team_id", "stage",
                  "status", "stage_entered_at", "clock_started_at", "due_at", "warn_at",
                  "paused_at", "paused_seconds", "clock_no", "warned_clock_no",
                  "escalated_clock_no", "lost_reason",
                  "id_number", "phone", "assets", "customer_no", "birthday", "potential",
                  "created_at", "updated_at", "version"),
    "stage_events": ("id", "prospect_id", "seq", "event", "from_stage", "to_stage",
                     "from_status", "to_status", "actor_id", "owner_id", "team_id", "at",
                     "reason", "data"),
    "stage_records": ("id", "prospect_id", "record_key", "data", "completeness", "complete",
                      "updated_at", "updated_by_id"),
    "cadence_tasks": ("id", "prospect_id", "key", "assignee_kind", "assignee_id", "clock_no",
                      "due_at", "done_at", "done_by_id", "reminded_at", "created_at"),
    "contacts": ("id", "prospect_id", "user_id", "kind", "outcome", "note", "at",
                 "created_at"),
    "escalations": ("id", "prospect_id", "kind", "level", "status", "stage", "clock_no",
                    "dedupe_key", "team_id", "owner_id", "due_at", "opened_at", "raised_at",
                    "reason", "decision", "decided_by_id", "decided_at", "note",
                    "extend_days", "new_owner_id"),
}
BULK = ("prospects", "stage_events", "stage_records", "cadence_tasks", "contacts",
        "escalations")


@dataclass(frozen=True)
class Scale:
    teams: int
    managers_per_team: int
    open_per_manager: int   # active + paused + won prospects on each manager's board
    lost_share: float = 0.06  # lost prospects on top, as a share of the open ones
    seed: int = 20261116

    @property
    def managers(self) -> int:
        return self.teams * self.managers_per_team


PROVINCE = Scale(teams=100, managers_per_team=10, open_per_manager=250)
BRANCH = Scale(teams=3, managers_per_team=4, open_per_manager=208)
# The sizes ``python -m bench --scale`` knows by name (open prospects; lost ones on top).
SIZES = {"25k": 25_000, "250k": 250_000, "2500k": 2_500_000}


def scale_for(size: int) -> Scale:
    """The bank with about ``size`` open prospects: the province's managers (250 open
    prospects each, ten to a team) in as many teams as it takes, so a manager's and a team's
    board hold the same cards at every size. 250,000 is :data:`PROVINCE` itself."""
    per_team = PROVINCE.managers_per_team * PROVINCE.open_per_manager
    scale = replace(PROVINCE, teams=max(1, round(size / per_team)))
    if scale.managers * ID_BLOCK > MAX_ID:
        raise ValueError(f"{size:,} prospects need more than {MAX_ID // ID_BLOCK:,} managers")
    return scale


def size_label(size: int) -> str:
    """``25000`` → ``25k``, ``2500000`` → ``2500k``: the suffix of the size's database."""
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


def parse_sizes(text: str) -> list[int]:
    """``"25000,250k"`` → ``[25000, 250000]`` (numbers, or labels of :data:`SIZES`)."""
    sizes = []
    for part in text.replace("_", "").split(","):
        part = part.strip().lower()
        if not part:
            continue
        if part.endswith("k") and part[:-1].isdigit():
            value = int(part[:-1]) * 1000
        elif part.isdigit():
            value = int(part)
        else:
            raise ValueError(f"not a number of prospects: {part!r}")
        if value < PROVINCE.managers_per_team * PROVINCE.open_per_manager:
            raise ValueError(f"{value:,} prospects is less than one team")
        scale_for(value)  # within the id space
        sizes.append(value)
    if not sizes:
        raise ValueError("no size given")
    return sorted(set(sizes))


def size_url(url: str, size: int) -> str:
    """The database of one size beside ``url``'s: its name with ``_25k``, ``_250k`` …"""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return u.set(database=f"{u.database}_{size_label(size)}").render_as_string(
        hide_password=False)


def note_generation(url: str, result: dict[str, Any]) -> None:
    """Keep how long ``url``'s generation took in the database's comment, for a later
    ``--reuse`` run to report."""
    import psycopg

    _, name = admin_url(url)
    text = json.dumps({k: result[k] for k in ("seconds", "load_seconds")})
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        conn.execute(f'COMMENT ON DATABASE "{name}" IS {_quote(text)}')


def noted_generation(url: str) -> dict[str, Any]:
    """What :func:`note_generation` kept (empty when nothing was)."""
    import psycopg

    with psycopg.connect(conninfo(url)) as conn:
        text = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                            "WHERE datname = current_database()").fetchone()[0]
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def database_bytes(url: str) -> int:
    """``pg_database_size`` of ``url``'s database."""
    import psycopg

    with psycopg.connect(conninfo(url)) as conn:
        return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]


# ---------------------------------------------------------------- the engine's arithmetic

def replay(engine: Engine, history: list[tuple[str, datetime, str | None]],
           state: ProspectState | None = None) -> ProspectState:
    """The state a history leads to: each event's outcome by :meth:`Engine.transition`,
    the engine's own arithmetic once guards have passed (no guards, no machine).

    ``history`` is ``[(event, at, reason), ...]`` starting with ``create`` (or continuing
    from ``state``).
    """
    for event, at, reason in history:
        if event == "create":
            state = engine.create(at).state
        else:
            state = engine.transition(state, event, now=at, reason=reason).state
    return state


# ---------------------------------------------------------------- one prospect

@dataclass
class Life:
    """One prospect: its history and what the services would have stored for it."""

    history: list[tuple[str, datetime, str | None]]
    state: ProspectState
    tier: str
    records: dict[str, tuple[dict, bool]] = field(default_factory=dict)  # key -> (data, done)
    first_contact_at: datetime | None = None   # entry of the current first-contact visit
    behind: bool = False


def _u(rng: random.Random, lo: float, hi: float) -> timedelta:
    return timedelta(days=rng.uniform(lo, hi))


def draw_life(rng: random.Random, engine: Engine, *, lost: bool = False) -> Life:
    """A history ending at :data:`NOW` (or, when ``lost``, lost some weeks before)."""
    wf = engine.workflow
    keys = wf.stage_keys
    last = len(keys) - 1
    target = rng.choices(range(len(keys)), weights=STAGE_WEIGHTS)[0]
    if lost and target == last:
        target = rng.randrange(last)
    won = target == last
    paused = not lost and not won and rng.random() < PAUSED_SHARE
    overdue = not lost and not won and not paused and rng.random() < OVERDUE_SHARE
    t = datetime(2020, 1, 1, tzinfo=UTC)  # relative: shifted to end at NOW below
    hist: list[tuple[str, datetime, str | None]] = [("create", t, None)]

    def visit(stage: str, spent: timedelta) -> None:
        nonlocal t
        if rng.random() < PAUSE_IN_VISIT:
            t += spent * 0.3
            hist.append(("pause", t, rng.choice(PAUSE_REASONS)))
            t += _u(rng, 0.5, 6)
            hist.append(("resume", t, None))
            t += spent * 0.7
        else:
            t += spent

    for i in range(target):
        stage = keys[i]
        limit = wf.limit_days(stage) or 14
        share = 0.35 if wf.stage(stage).budget else 0.75
        visit(stage, _u(rng, 0.5, share * limit))
        # Back a stage and forward again (never back into first contact, whose cadence
        # would start over).
        if i > 1 and rng.random() < BACK_IN_VISIT:
            hist.append(("back", t, "需要补充上一阶段资料"))
            t += _u(rng, 0.3, 2.5)
            hist.append(("advance", t, None))
            t += _u(rng, 0.3, 0.3 * limit)
        t += timedelta(minutes=rng.uniform(1, 90))
        hist.append(("win" if keys[i] == "close" else "advance", t, None))
    stage = keys[target]
    if won:
        end = t + _u(rng, 1, 420)
    else:
        state = replay(engine, hist)
        limit = wf.limit_days(stage)
        span = timedelta(days=limit)
        if lost:
            t += _u(rng, 0.2, 0.7 * limit)
            hist.append(("lose", t, rng.choice(LOSS_REASONS)))
            end = t + _u(rng, 2, 90)
        elif paused:
            t = max(t + timedelta(minutes=10), state.due_at - span * rng.uniform(0.2, 0.95))
            hist.append(("pause", t, rng.choice(PAUSE_REASONS)))
            end = t + _u(rng, 0.5, 20)
        else:
            share = rng.uniform(1.02, 1.9) if overdue else rng.uniform(0.02, 0.97)
            # Elapsed share of the clock (from clock_started_at, e.g. learn's entry for the
            # decision maker's shared budget); at least a few minutes after the last event.
            end = max(state.due_at - span * (1 - share), t + timedelta(minutes=10))
    shift = NOW - end
    history = [(e, at + shift, r) for e, at, r in hist]
    # Calendar-day clocks are invariant under a shift of every time: replay the relative
    # history once (continuing from the state worked out above) and shift the result.
    if won:
        rel = replay(engine, hist)
    elif lost or paused:
        rel = replay(engine, hist[-1:], state)
    else:
        rel = state
    final = copy_state(rel)
    for name in ("stage_entered_at", "clock_started_at", "due_at", "warn_at", "paused_at"):
        value = getattr(final, name)
        if value is not None:
            setattr(final, name, value + shift)
    life = Life(history, final, rng.choices(TIERS, weights=TIER_WEIGHTS)[0])
    # Records: every passed stage's complete, the current one's complete for some.
    reached = keys.index(life.state.stage)
    for i in range(min(reached + 1, last)):
        stage = keys[i]
        done = i < reached or (not lost and rng.random() < COMPLETE_SHARE)
        if stage == "first_contact":
            continue  # the contact log is written per prospect below
        if not done and rng.random() < 0.35:
            continue  # the current stage's record not started yet
        life.records[(COMPLETE if done else PARTIAL)[stage][0]] = (
            (COMPLETE if done else PARTIAL)[stage][1], done)
    life.first_contact_at = history[0][1]
    life.behind = won and rng.random() < BEHIND_SHARE
    return life


# ---------------------------------------------------------------- the rows

# Ids of one manager's rows in each table: index * ID_BLOCK + 1 … (a manager has about
# 2,000 history rows, the most of any table). Every id stays below MAX_ID: the customer
# numbers and ID numbers drawn from a prospect's id are unique below 279,000,000.
ID_BLOCK = 20_000
MAX_ID = 279_000_000


class Ids:
    """Row ids from a block per manager, so managers can be generated in any order or in
    parallel and still give the same rows."""

    def __init__(self, base: int) -> None:
        self.base = base
        self.next: dict[str, int] = {}

    def __call__(self, table: str) -> int:
        n = self.next.get(table, 0) + 1
        if n >= ID_BLOCK:  # pragma: no cover - far beyond a manager's 250 open prospects
            raise OverflowError(f"more than {ID_BLOCK} {table} rows for one manager")
        self.next[table] = n
        return self.base + n


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)


_TEMPLATES: dict[int, RecordTemplates] = {}


def _templates(engine: Engine) -> RecordTemplates:
    return _TEMPLATES.setdefault(id(engine), RecordTemplates(engine))


class RecordTemplates:
    """The JSON text, completeness and completion of each record template, computed once
    with the product's own ``record_status``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.cache: dict[int, tuple[str, float, bool]] = {}

    def __call__(self, key: str, data: dict) -> tuple[str, float, bool]:
        hit = self.cache.get(id(data))
        if hit is None:
            status = record_status(self.engine, key, data)
            hit = self.cache[id(data)] = (json.dumps(data, ensure_ascii=False),
                                          status.completeness, status.complete)
        return hit


def users_rows(scale: Scale, password_hash: str, domain: str
               ) -> tuple[list[tuple], list[tuple], list[dict]]:
    """Teams, users and the managers (dicts with id, team_id) of ``scale``."""
    teams, users, managers = [], [], []
    uid = 1
    users.append((uid, f"supervisor@{domain}", "支行行长 周", "supervisor", None, password_hash,
                  None, "Asia/Shanghai", True, NOW - 400 * DAY))
    for t in range(1, scale.teams + 1):
        uid += 1
        lead = uid
        teams.append((t, f"Team {t:03d}", lead))
        users.append((lead, f"lead{t}@{domain}", f"团队主管 {t:03d}", "team_lead", t,
                      password_hash, None, "Asia/Shanghai", True, NOW - 400 * DAY))
        for m in range(scale.managers_per_team):
            uid += 1
            n = (t - 1) * scale.managers_per_team + m + 1
            users.append((uid, f"manager{n}@{domain}", f"客户经理 {n:04d}", "manager", t,
                          password_hash, None, "Asia/Shanghai", True, NOW - 400 * DAY))
            managers.append({"id": uid, "team_id": t, "lead_id": lead, "index": n - 1})
    return teams, users, managers


def prospect_rows(scale: Scale, managers: list[dict], engine: Engine
                  ) -> Iterator[tuple[str, tuple]]:
    """Yield ``(table, row)`` for every bulk row of every prospect of ``managers``, each
    prospect's row before its children. Rows are tuples in :data:`COLUMNS` order."""
    for owner in managers:
        yield from manager_rows(scale, owner, engine)


def customers(rng: random.Random, first_pid: int, count: int, engine: Engine
              ) -> list[book.Row]:
    """The customers of prospects ``first_pid`` … ``first_pid + count - 1`` as rows of a
    customer-book file, checked by the importer's own row check
    (:func:`pipeline.customers.services.check_rows`: the create command's schema, the tier
    from the assets by the workflow's thresholds). The numbers come from the demo's
    :func:`~pipeline.demo.customer`, unique by the prospect's id."""
    raw = []
    for i in range(count):
        who = customer(first_pid + i, rng)
        assets = rng.choices([a for a, _ in ASSETS], [w for _, w in ASSETS])[0] * 10_000
        raw.append((i + 2, {"customer_no": who.customer_no, "name": _name(rng),
                            "id_number": who.id_number, "phone": who.phone,
                            "birthday": who.birthday.isoformat(), "assets": float(assets),
                            "potential": who.potential, "tier": None, "manager": None,
                            "area": None}))
    rows, errors = book.check_rows(raw, engine)
    if errors:
        raise ValueError(f"a generated customer fails the import's check: {errors[0]}")
    return rows


def manager_rows(scale: Scale, owner: dict, engine: Engine) -> Iterator[tuple[str, tuple]]:
    """One manager's prospects and their rows, from a generator seeded by the scale's seed
    and the manager's position (``owner["index"]``)."""
    rng = random.Random(scale.seed * 100_003 + owner["index"])
    ids = Ids(owner["index"] * ID_BLOCK)
    templates = _templates(engine)
    wf = engine.workflow
    tz = wf.timezone
    cadence = wf.stage("first_contact").cadence
    level2 = wf.escalation.level2_after_days
    freq = wf.stage("after_sale").contact_frequency
    dest = {(t.event, t.source): t.dest for t in wf.transitions}
    next_due = {kind: rules.next_check(NOW, kind, tz) for kind in ("month", "quarter")}
    lost_n = round(scale.open_per_manager * scale.lost_share)
    count = scale.open_per_manager + lost_n
    people = customers(random.Random(scale.seed * 100_003 + owner["index"] + CUSTOMER_SEED),
                       ids.base + 1, count, engine)
    for k in range(count):
        life = draw_life(rng, engine, lost=k >= scale.open_per_manager)
        who = people[k]
        life.tier = who.tier  # the import's: from the customer's assets
        s = life.state
        pid = ids("prospects")
        uid, team = owner["id"], owner["team_id"]
        created, last_at = life.history[0][1], life.history[-1][1]
        warned = s.clock_no if s.warn_at is not None and s.warn_at <= NOW else 0
        # Overdue active visits get their stage escalation below.
        escalated = s.clock_no if (s.status == "active" and s.due_at is not None
                                   and s.due_at < NOW) else 0
        due = s.due_at
        if s.status == "won":
            due = next_due[freq[life.tier].period]
        yield "prospects", (
            pid, wf.key, who.name, life.tier, uid, team, s.stage, s.status,
            s.stage_entered_at, s.clock_started_at, due, s.warn_at, s.paused_at,
            s.paused_seconds, s.clock_no, warned, escalated, s.lost_reason,
            who.id_number, who.phone, who.assets, who.customer_no, who.birthday,
            who.potential, created, last_at, len(life.history))
        prev_stage = prev_status = None
        for seq, (event, at, reason) in enumerate(life.history, 1):
            if event == "create":
                to_stage, to_status = wf.stage_keys[0], "active"
            else:
                to_stage = dest[(event, prev_stage)] or prev_stage
                to_status = EVENT_STATUSES[event][1] or prev_status
            yield "stage_events", (
                ids("stage_events"), pid, seq, event, prev_stage, to_stage, prev_status,
                to_status, uid, uid, team, at, reason, None)
            prev_stage, prev_status = to_stage, to_status
        # The first-contact contact log and cadence of the current (or only) visit.
        entry = life.first_contact_at
        in_first = s.stage == "first_contact"
        fc_clock = s.clock_no if in_first else 1
        # Touches made while the visit ran (up to the pause or the loss, or now).
        until = last_at if in_first and s.status != "active" else NOW
        first_done = not in_first or (s.status != "lost" and rng.random() < COMPLETE_SHARE)
        log_data: dict[str, str] = {}
        due_times: dict[str, datetime] = {}
        for step in cadence:
            base = due_times[step.after] if step.after else entry
            due_times[step.key] = base + timedelta(hours=step.offset_hours)
            when = due_times[step.key]
            done = when <= until and (first_done or rng.random() < 0.6)
            if done:
                log_data[step.done_field] = when.isoformat()
                yield "contacts", (ids("contacts"), pid, uid,
                                   "sms" if "sms" in step.key else "call", "reached",
                                   None, when, when)
            yield "cadence_tasks", (
                ids("cadence_tasks"), pid, step.key, step.assignee,
                uid if step.assignee == "owner" else None, fc_clock, when,
                when if done else None, uid if done else None,
                when + timedelta(minutes=5) if not done and when <= NOW else None, entry)
        booked = entry + timedelta(days=4)
        if not in_first or (first_done and "call_at" in log_data and booked <= until):
            log_data["meeting_booked_at"] = booked.isoformat()
        status = record_status(engine, "contact_log", log_data)
        yield "stage_records", (ids("stage_records"), pid, "contact_log",
                                json.dumps(log_data), status.completeness, status.complete,
                                min(entry + timedelta(days=3), until), uid)
        for key, (data, _done) in life.records.items():
            text, completeness, complete = templates(key, data)
            yield "stage_records", (ids("stage_records"), pid, key, text, completeness,
                                    complete, s.stage_entered_at + timedelta(hours=2), uid)
        if life.records:  # the meeting the current stage's record was taken in
            met = min(s.stage_entered_at + timedelta(hours=1), last_at)
            yield "contacts", (ids("contacts"), pid, uid, "meeting", "reached", None, met, met)
        if s.status == "won":
            yield from _after_sale(rng, ids, pid, uid, life, freq[life.tier].period, tz)
            if life.behind and s.stage_entered_at <= rules.previous_period(
                    rules.period_containing(NOW, freq[life.tier].period, tz), tz).start:
                period = rules.previous_period(
                    rules.period_containing(NOW, freq[life.tier].period, tz), tz)
                opened = period.end + timedelta(minutes=rng.uniform(1, 5))
                yield "escalations", _escalation(
                    ids("escalations"), pid, "contact_overdue", s, team, uid,
                    f"contact:{pid}:{period.label}", period.end, opened, level2,
                    f"{period.label}: contact frequency not met")
        elif s.status == "active" and s.due_at is not None and s.due_at < NOW:
            opened = min(s.due_at + timedelta(minutes=rng.uniform(0.5, 5)), NOW)
            yield "escalations", _escalation(
                ids("escalations"), pid, "stage_overdue", s, team, uid,
                f"stage:{pid}:{s.clock_no}", s.due_at, opened, level2, None)


def _escalation(eid: int, pid: int, kind: str, s: ProspectState, team: int, uid: int,
                key: str, due: datetime, opened: datetime, level2: int,
                reason: str | None) -> tuple:
    # The sweep raises an undecided escalation to level 2 after ``level2`` days.
    level = 2 if opened + timedelta(days=level2) <= NOW else 1
    raised = min(opened + timedelta(days=level2, minutes=3), NOW)
    return (eid, pid, kind, level, "open", s.stage, s.clock_no, key, team, uid, due, opened,
            raised if level == 2 else None, reason, None, None, None, None, None, None)


def _after_sale(rng: random.Random, ids: Ids, pid: int, uid: int, life: Life, period: str,
                tz: str) -> Iterator[tuple[str, tuple]]:
    """Contacts of the last two periods at the tier's frequency (none in the last full
    period for customers who fell behind)."""
    kinds = {"diamond": ("visit",), "black_gold": ("visit", "call"),
             "platinum": ("call", "sms"), "gold": ("call",)}[life.tier]
    current = rules.period_containing(NOW, period, tz)
    previous = rules.previous_period(current, tz)
    for p in (previous, current):
        if p is previous and life.behind:
            continue
        start = max(p.start, life.state.stage_entered_at)
        stop = min(p.end, NOW)
        if stop <= start:
            continue
        for kind in kinds:
            at = start + (stop - start) * rng.uniform(0.05, 0.95)
            yield "contacts", (ids("contacts"), pid, uid, kind, "reached", None, at, at)


# ---------------------------------------------------------------- PostgreSQL (COPY)

def admin_url(url: str) -> tuple[str, str]:
    """(URL of the server's ``postgres`` database, database name) for a psycopg URL."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return u.set(database="postgres").render_as_string(hide_password=False), u.database


def conninfo(url: str) -> str:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return u.set(drivername="postgresql").render_as_string(hide_password=False)


def recreate_postgres(url: str) -> None:
    import psycopg

    admin, name = admin_url(url)
    with psycopg.connect(conninfo(admin), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def password_hash() -> str:
    from pipeline.auth.services import hash_password

    return hash_password(PASSWORD)


def generate_postgres(url: str, scale: Scale = PROVINCE, *, workers: int = 2
                      ) -> dict[str, Any]:
    """A fresh database at ``url`` (dropped if it exists), migrated, filled by COPY.

    ``workers`` processes each generate a share of the managers and COPY their rows on
    their own connections (the database parses one share while Python draws the other).
    Plain indexes are dropped for the load and rebuilt after it; foreign keys are not
    checked row by row during the load (``session_replication_role = replica``: the rows
    are consistent by construction, and tests/bench checks them at small scale).
    """
    import multiprocessing

    import psycopg

    from pipeline.cli import upgrade

    started = time.perf_counter()
    recreate_postgres(url)
    upgrade(url)
    teams, users, managers = users_rows(scale, password_hash(), "province.bank")
    with psycopg.connect(conninfo(url)) as conn, conn.cursor() as cur:
        cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
                    " AND tablename = ANY(%s) AND indexdef NOT LIKE 'CREATE UNIQUE%%'",
                    ([*BULK, "stage_visits"],))
        plain = cur.fetchall()
        for name, _ in plain:
            cur.execute(f'DROP INDEX "{name}"')
        cur.execute("SET session_replication_role = replica")
        _copy(cur, "teams", [(t, n, lead) for t, n, lead in teams])
        _copy(cur, "users", users)
    shares = [(url, scale, managers[i::workers]) for i in range(workers)]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers) as pool:
        results = pool.map(_load_share, shares)
    counts: dict[str, int] = {}
    for result in results:
        for table, n in result.items():
            counts[table] = counts.get(table, 0) + n
    fill_visits(url)  # before the indexes come back, stage_visits' own among them
    loaded = time.perf_counter() - started
    with psycopg.connect(conninfo(url)) as conn, conn.cursor() as cur:
        cur.execute("SET maintenance_work_mem = '256MB'")
        for _, definition in plain:
            cur.execute(definition)
        for table in ("teams", "users", *BULK):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"COALESCE((SELECT max(id) FROM {table}), 1))")
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    # Complaints about the customers just loaded (one per 50 customers of each manager).
    from bench.complaint_data import add_complaints

    counts["complaints"] = add_complaints(url, seed=scale.seed)
    counts.update(teams=len(teams), users=len(users))
    return {"counts": counts, "load_seconds": round(loaded, 1),
            "seconds": round(time.perf_counter() - started, 1)}


def fill_visits(url: str) -> None:
    """``stage_visits`` from the loaded history and escalations, by the product's own
    INSERT … SELECT (the services keep the table from then on). Foreign keys are not
    checked row by row, as for the load."""
    from sqlalchemy.engine import make_url

    from pipeline.db import make_engine
    from pipeline.reports import visits

    engine = make_engine(make_url(url).set(drivername="postgresql+psycopg")
                         .render_as_string(hide_password=False))
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        visits.rebuild(conn)
    engine.dispose()


def _load_share(args: tuple[str, Scale, list[dict]]) -> dict[str, int]:
    """One worker: COPY the rows of some managers, one connection per table."""
    import psycopg

    url, scale, managers = args
    logging.getLogger("transitions").setLevel(logging.WARNING)
    engine = workflows.engine()
    counts = {t: 0 for t in BULK}
    with ExitStack() as stack:
        conns = {t: stack.enter_context(psycopg.connect(conninfo(url))) for t in BULK}
        with ExitStack() as copying:
            copies = {}
            for table, conn in conns.items():
                conn.execute("SET session_replication_role = replica")
                copies[table] = copying.enter_context(conn.cursor().copy(
                    f"COPY {table} ({', '.join(COLUMNS[table])}) FROM STDIN"))
            for table, row in prospect_rows(scale, managers, engine):
                copies[table].write_row(row)
                counts[table] += 1
        for conn in conns.values():
            conn.commit()
    return counts


def _copy(cur: Any, table: str, rows: list[tuple]) -> None:
    with cur.copy(f"COPY {table} ({', '.join(COLUMNS[table])}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


# ---------------------------------------------------------------- SQLite (executemany)

def generate_sqlite(url: str, scale: Scale = BRANCH, *, domain: str = "branch.bank"
                    ) -> dict[str, Any]:
    """The same rows for a small ``scale`` in the (new, migrated) SQLite database at
    ``url``, inserted with executemany in one transaction."""
    from sqlalchemy import insert

    from pipeline.cli import upgrade
    from pipeline.db import make_engine
    from pipeline.models import Base
    from pipeline.reports import visits

    started = time.perf_counter()
    upgrade(url)
    engine = workflows.engine()
    teams, users, managers = users_rows(scale, password_hash(), domain)
    rows: dict[str, list[dict]] = {t: [] for t in BULK}
    for table, row in prospect_rows(scale, managers, engine):
        rows[table].append(dict(zip(COLUMNS[table], row)))
    for table in ("stage_records",):
        for r in rows[table]:
            r["data"] = json.loads(r["data"])
    tables = Base.metadata.tables
    db = make_engine(url)
    with db.begin() as conn:
        conn.execute(insert(tables["teams"]),
                     [dict(zip(COLUMNS["teams"], (t, n, None))) for t, n, _ in teams])
        conn.execute(insert(tables["users"]), [dict(zip(COLUMNS["users"], u)) for u in users])
        for t, _, lead in teams:
            conn.execute(tables["teams"].update().where(tables["teams"].c.id == t)
                         .values(lead_id=lead))
        for table in BULK:
            if rows[table]:
                conn.execute(insert(tables[table]), rows[table])
        visits.rebuild(conn)  # the stage visits of the history just inserted
    db.dispose()
    counts = {t: len(r) for t, r in rows.items()}
    counts.update(teams=len(teams), users=len(users))
    return {"counts": counts, "seconds": round(time.perf_counter() - started, 1)}
