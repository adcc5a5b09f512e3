"""Load and validate workflow files (``workflows/*.yaml``) into frozen dataclasses.

Every error names the file and the key at fault; nothing half-valid is returned.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

EVENTS = ("advance", "win", "lose", "no_meeting", "back", "pause", "resume", "reopen",
          "extend", "new_round", "leave")
# Who may do what a workflow gives to a role (an extension of a case's limit).
ROLES = ("manager", "team_lead", "supervisor", "admin")
# The kind of the escalation a case past its limit gets (per workflow).
OVERDUE_KINDS = ("stage_overdue", "complaint_overdue")
STATUSES = ("active", "paused", "won", "lost")
TIERS = ("diamond", "black_gold", "platinum", "gold")
POTENTIALS = ("high", "low")  # a customer's potential, one axis of seed 000's tiering grid
ASSET_LEVELS = ("high", "low")  # the other axis: assets from the tiering's high_assets up, or not
FIELD_TYPES = (
    "string", "text", "integer", "number", "boolean", "date", "datetime",
    "choice", "string_list", "list",
)
# What a string field holds, checked as the product checks the customer's own numbers.
FIELD_FORMATS = ("mobile", "id_number", "phone")
# When a date-time field's moment may lie: ``past`` for something done (not in the
# future), ``upcoming`` for something planned (not before the day it is entered).
FIELD_WHEN = ("past", "upcoming")
# What a field's ``from`` may name on the customer (the prospect's own columns); anything
# else it names is ``<record key>.<field key>`` of the same workflow.
CUSTOMER_SOURCES = ("name", "phone", "id_number", "birthday", "assets", "customer_no")
CONTACT_KINDS = ("call", "sms", "visit", "meeting", "wechat", "email")
CONTACT_OUTCOMES = ("reached", "no_answer", "meeting_booked", "declined", "call_back", "other")
DECISIONS = ("continue", "reassign", "abandon")  # a team lead's, on an escalation
# The day's work besides the first-contact cadence (the workflow's customer_care section
# names each kind and says which customer event makes which).
TASK_KINDS = ("callback", "birthday", "maturity", "repayment", "retention", "campaign")
CUSTOMER_EVENT_KINDS = ("maturity", "large_outflow", "tier_drop", "repayment_due")
PERIODS = ("month", "quarter")
CALENDARS = ("calendar_days", "working_days")
LANGS = ("en", "zh_CN")


class WorkflowError(ValueError):
    """A workflow file is invalid; the message names the file and the key."""

    def __init__(self, source: str, key: str, message: str) -> None:
        self.source, self.key, self.problem = source, key, message
        super().__init__(f"{source}: {key}: {message}")


@dataclass(frozen=True)
class Text:
    en: str
    zh_CN: str

    def get(self, locale: str | None) -> str:
        return self.zh_CN if (locale or "").startswith("zh") else self.en

    def as_dict(self) -> dict[str, str]:
        return {"en": self.en, "zh_CN": self.zh_CN}


@dataclass(frozen=True)
class Field:
    key: str
    type: str
    label: Text
    choices: tuple[str, ...] | None = None
    suggestions: tuple[str, ...] | None = None
    personal: bool = False  # masked outside the owner's own view
    counts: bool = True  # counts towards the record's completeness
    max_items: int | None = None
    format: str | None = None  # one of FIELD_FORMATS (string fields)
    min: float | None = None  # bounds of an integer or number field, both included
    max: float | None = None
    when: str | None = None  # one of FIELD_WHEN (date-time fields)
    # Where the field's value is already known: ``customer.<column>`` or ``<record>.<field>``.
    # The form starts from it; a ``derived`` field is never typed: it always holds it.
    source: str | None = None
    derived: bool = False


@dataclass(frozen=True)
class Record:
    key: str
    name: Text
    fields: tuple[Field, ...]
    complete_when: str
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # Example values (a complete record and one still being filled in) for demo data; a
    # number given for a date-time field is a share of the stage visit's time.
    example_complete: Mapping[str, Any] | None = None
    example_partial: Mapping[str, Any] | None = None

    def field(self, key: str) -> Field | None:
        for f in self.fields:
            if f.key == key:
                return f
        return None


@dataclass(frozen=True)
class CadenceStep:
    key: str
    name: Text
    after: str | None  # the step whose time this one counts from (None: stage entry)
    offset_hours: int
    assignee: str  # institution | owner | team_lead
    done_field: str | None  # contact_log field that marks it done
    # The message template the step uses (an SMS it sends, or the script of a call), how
    # an SMS step is sent (``auto``: queued when the visit starts; ``click``: by its
    # assignee from the card), and the field whose value cancels the step (a reply).
    template: str | None = None
    send: str | None = None
    cancelled_by: str | None = None


@dataclass(frozen=True)
class Frequency:
    period: str  # month | quarter
    require: Mapping[str, int]  # contact kind (or "any") -> minimum count


@dataclass(frozen=True)
class Upkeep:
    """How often a cell of the tiering grid is maintained (维护频率)."""

    name: Text  # e.g. very high
    frequency: Frequency


@dataclass(frozen=True)
class Tiering:
    """Tiers by assets under management (CNY) and upkeep by asset size × potential.

    ``thresholds`` maps each tier to the assets it starts at (included), highest tier
    first; the lowest tier's threshold is where the branch's book starts, and assets below
    it are still in the lowest tier. ``high_assets`` separates high from low assets (it
    counts as high); ``upkeep[asset level][potential]`` is the cell's contact frequency.
    """

    thresholds: Mapping[str, float]
    high_assets: float
    upkeep: Mapping[str, Mapping[str, Upkeep]]

    @property
    def book_starts(self) -> float:
        """The assets the lowest tier starts at."""
        return min(self.thresholds.values())

    def tier_for(self, assets: float) -> str:
        """The tier of a customer with ``assets``: the highest tier whose threshold they
        reach, else the lowest tier."""
        _check_assets(assets)
        tiers = list(self.thresholds)
        for tier in tiers:
            if assets >= self.thresholds[tier]:
                return tier
        return tiers[-1]

    def asset_level(self, assets: float) -> str:
        """``high`` from ``high_assets`` up, else ``low``."""
        _check_assets(assets)
        return "high" if assets >= self.high_assets else "low"

    def cell(self, assets: float, potential: str) -> Upkeep:
        """The grid cell of ``assets`` and ``potential`` (``high`` or ``low``)."""
        if potential not in POTENTIALS:
            raise ValueError(f"potential must be one of {', '.join(POTENTIALS)}")
        return self.upkeep[self.asset_level(assets)][potential]

    def frequency_for(self, assets: float, potential: str) -> Frequency:
        """The contact frequency of the cell of ``assets`` and ``potential``."""
        return self.cell(assets, potential).frequency


@dataclass(frozen=True)
class CallCap:
    """At most ``per_month`` contacts of ``kind`` in one calendar month (the workflow's
    time zone) to a customer whose assets exceed the tiering's ``high_assets``."""

    kind: str
    per_month: int


@dataclass(frozen=True)
class CustomerCare:
    """The after-sale work a workflow makes (section ``customer_care``): the task kinds and
    their names, which task each customer event opens, the days a retention task is due
    within, the days ahead a maturity shows as upcoming, and the call cap."""

    tasks: Mapping[str, Text]
    events: Mapping[str, str]  # customer event kind -> task kind
    retention_task: str  # the kind the sweep escalates when not done in time
    retention_days: int
    upcoming_days: int
    call_cap: CallCap | None = None


def _check_assets(assets: float) -> None:
    if isinstance(assets, bool) or not isinstance(assets, (int, float, Decimal)) \
            or not assets >= 0:
        raise ValueError("assets must be a number of at least 0")


@dataclass(frozen=True)
class Stage:
    key: str
    name: Text
    limit_days: int | None
    budget: str | None
    records: tuple[Record, ...]
    cadence: tuple[CadenceStep, ...] = ()
    contact_frequency: Mapping[str, Frequency] = field(
        default_factory=lambda: MappingProxyType({})
    )


@dataclass(frozen=True)
class Transition:
    event: str
    source: str
    dest: str | None  # None: internal (the stage stays)
    guards: tuple[str, ...]


@dataclass(frozen=True)
class EscalationPolicy:
    warn_at: float = 0.8
    level2_after_days: int = 2
    continue_days: int = 7
    lead_call_after_days: int = 2
    max_active_per_manager: int = 250
    overdue_kind: str = "stage_overdue"  # the kind of the escalation at the limit
    # The lead's call after no_meeting: due lead_call_after_days (and at most
    # lead_call_within_days) after the manager's call step, with its script template.
    lead_call_within_days: int = 3
    lead_call_after_step: str | None = None
    lead_call_script: str | None = None


@dataclass(frozen=True)
class Extension:
    """One extension of a case's limit: to ``to_days`` from the clock's start, fired (event
    ``extend``, with a reason) by one of the roles ``by``."""

    to_days: int
    by: tuple[str, ...]


@dataclass(frozen=True)
class CaseLimit:
    """One limit for the whole case (section ``case_limit``): ``days`` from the case's
    start, whatever the stage; the clock does not restart when the case moves between
    stages. ``extensions`` are taken in order, each at most once."""

    days: int
    extensions: tuple[Extension, ...] = ()


# Messages to customers (the first-contact SMS and call scripts, seed 004). A template's
# text names the values it needs as {placeholder}; an SMS goes out in ``Messages.locale``.
PLACEHOLDERS = ("customer_name", "customer_title", "manager_name", "manager_phone", "branch",
                "lead_name")
TEMPLATE_KINDS = ("sms", "script")
SEND_MODES = ("auto", "click")


def placeholders_of(text: str) -> list[str]:
    """The placeholders ``text`` names, in order. Raises ValueError for a brace that opens
    no placeholder, a positional ``{}``, a format spec or conversion, or an unknown name."""
    import string

    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"is not a valid template: {exc}") from None
    names = []
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        if not name:
            raise ValueError("has an empty placeholder {}")
        if spec or conversion:
            raise ValueError(f"placeholder {{{name}}} takes no format")
        if name not in PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {{{name}}} (known: {', '.join(PLACEHOLDERS)})")
        names.append(name)
    return names


@dataclass(frozen=True)
class MessageTemplate:
    key: str
    kind: str  # sms | script
    name: Text
    text: Text


@dataclass(frozen=True)
class Messages:
    """The workflow's SMS and call scripts, and what fills them in."""

    locale: str  # the language an SMS goes out in
    branch: Text  # the branch that signs and is named in messages
    reply_field: str | None  # the record field that logs the customer's reply
    opt_out_words: tuple[str, ...]  # a reply of one of these opts the customer out
    title_field: str | None  # the record field whose value chooses the customer's title
    titles: Mapping[str, Text]  # that field's value -> title
    default_title: Text
    max_segments: int  # an SMS template may not need more segments
    templates: Mapping[str, MessageTemplate]


@dataclass(frozen=True)
class LostReason:
    """A category of why a prospect was lost (the lose event's ``reason_category``); the
    free-text reason stays beside it."""

    key: str
    name: Text


@dataclass(frozen=True)
class Workflow:
    key: str
    name: Text
    source: str
    calendar: str
    holiday_country: str
    timezone: str
    stages: tuple[Stage, ...]
    budgets: Mapping[str, int]
    transitions: tuple[Transition, ...]
    escalation: EscalationPolicy
    tiering: Tiering | None = None  # None: this workflow does not tier its customers
    messages: Messages | None = None  # None: this workflow sends no messages
    care: CustomerCare | None = None  # None: no after-sale tasks beyond the cadence
    case_limit: CaseLimit | None = None  # None: each stage (or budget) has its own clock
    # Named facts a report reads from the records: name -> (record key, field key).
    dimensions: Mapping[str, tuple[str, str]] = field(
        default_factory=lambda: MappingProxyType({}))
    # The lose event's reason categories, in the order the form offers them (empty: only
    # the free-text reason).
    lost_reasons: tuple[LostReason, ...] = ()

    @property
    def stage_keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.stages)

    def stage(self, key: str) -> Stage:
        for s in self.stages:
            if s.key == key:
                return s
        raise KeyError(key)

    def index(self, key: str) -> int:
        return self.stage_keys.index(key)

    def limit_days(self, stage_key: str) -> int | None:
        """The days of the clock a stage runs on (its shared budget's, if it has one)."""
        stage = self.stage(stage_key)
        if self.case_limit is not None:
            return self.case_limit.days
        if stage.budget:
            return self.budgets[stage.budget]
        return stage.limit_days

    def record(self, key: str) -> Record | None:
        for s in self.stages:
            for r in s.records:
                if r.key == key:
                    return r
        return None

    def stage_of_record(self, key: str) -> Stage | None:
        for s in self.stages:
            if any(r.key == key for r in s.records):
                return s
        return None

    def transitions_for(self, event: str, source: str) -> tuple[Transition, ...]:
        return tuple(t for t in self.transitions if t.event == event and t.source == source)


# --------------------------------------------------------------------------- loading

class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, message: str) -> WorkflowError:
        return WorkflowError(self.source, key, message)

    def mapping(self, value: Any, key: str) -> dict:
        if not isinstance(value, dict):
            raise self.fail(key, "must be a mapping")
        return value

    def seq(self, value: Any, key: str) -> list:
        if not isinstance(value, list):
            raise self.fail(key, "must be a list")
        return value

    def string(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "must be a non-empty string")
        return value

    def text(self, value: Any, key: str) -> Text:
        if isinstance(value, str):
            return Text(value, value)
        m = self.mapping(value, key)
        missing = [lang for lang in LANGS if not isinstance(m.get(lang), str) or not m[lang]]
        if missing:
            raise self.fail(key, f"needs a name in {', '.join(missing)}")
        return Text(m["en"], m["zh_CN"])

    def positive_number(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
                or value == float("inf"):
            raise self.fail(key, f"must be a positive amount, not {value!r}")
        return value

    def positive_int(self, value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.fail(key, f"must be a positive number of days, not {value!r}")
        return value

    def only(self, m: dict, allowed: set[str], key: str) -> None:
        unknown = sorted(set(m) - allowed)
        if unknown:
            raise self.fail(f"{key}.{unknown[0]}", "is not a known key")


def load_workflow(path: str | Path, guards: Mapping[str, Any] | None = None) -> Workflow:
    """Read and validate one workflow file.

    Raises WorkflowError naming the file and key for anything invalid: YAML syntax, an
    unknown guard, stage, field type or event, a limit that is not a positive number of
    days, a transition to nowhere.
    """
    from pipeline.engine.guards import GUARDS

    guards = GUARDS if guards is None else guards
    path = Path(path)
    r = _Reader(str(path))
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise r.fail("(file)", "does not exist") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        raise r.fail(where, f"is not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_workflow(raw, str(path), guards)


def parse_workflow(raw: Any, source: str, guards: Mapping[str, Any]) -> Workflow:
    r = _Reader(source)
    top = r.mapping(raw, "(top)")
    r.only(top, {"key", "name", "calendar", "holiday_country", "timezone", "budgets",
                 "stages", "transitions", "escalation", "tiering", "customer_care",
                 "case_limit", "dimensions", "messages", "lost_reasons"}, "(top)")
    key = r.string(top.get("key"), "key")
    calendar = top.get("calendar", "calendar_days")
    if calendar not in CALENDARS:
        raise r.fail("calendar", f"must be one of {', '.join(CALENDARS)}")
    budgets = {
        r.string(k, "budgets"): r.positive_int(v, f"budgets.{k}")
        for k, v in r.mapping(top.get("budgets", {}), "budgets").items()
    }
    stages_raw = r.seq(top.get("stages"), "stages")
    if not stages_raw:
        raise r.fail("stages", "needs at least one stage")
    stages: list[Stage] = []
    seen_records: set[str] = set()
    messages = _messages(r, top["messages"]) if "messages" in top else None
    templates = messages.templates if messages else {}
    for i, s in enumerate(stages_raw):
        stages.append(_stage(r, s, f"stages[{i}]", budgets, guards, seen_records, templates))
    keys = [s.key for s in stages]
    dup = {k for k in keys if keys.count(k) > 1}
    if dup:
        raise r.fail("stages", f"stage key {min(dup)!r} appears twice")
    used_budgets = {s.budget for s in stages if s.budget}
    for b in budgets:
        if b not in used_budgets:
            raise r.fail(f"budgets.{b}", "is not used by any stage")
    transitions = _transitions(r, top.get("transitions"), keys, guards)
    case_limit = _case_limit(r, top.get("case_limit"), stages, transitions)
    esc = r.mapping(top.get("escalation", {}), "escalation")
    r.only(esc, {"warn_at", "level2_after_days", "continue_days", "lead_call_after_days",
                 "max_active_per_manager", "overdue_kind", "lead_call_within_days",
                 "lead_call_after_step", "lead_call_script"}, "escalation")
    warn_at = esc.get("warn_at", 0.8)
    if isinstance(warn_at, bool) or not isinstance(warn_at, (int, float)) or not 0 < warn_at < 1:
        raise r.fail("escalation.warn_at", "must be a share between 0 and 1")
    policy = EscalationPolicy(
        warn_at=float(warn_at),
        level2_after_days=r.positive_int(esc.get("level2_after_days", 2),
                                         "escalation.level2_after_days"),
        continue_days=r.positive_int(esc.get("continue_days", 7), "escalation.continue_days"),
        lead_call_after_days=r.positive_int(esc.get("lead_call_after_days", 2),
                                            "escalation.lead_call_after_days"),
        max_active_per_manager=r.positive_int(esc.get("max_active_per_manager", 250),
                                              "escalation.max_active_per_manager"),
        overdue_kind=_overdue_kind(r, esc.get("overdue_kind", "stage_overdue")),
        lead_call_within_days=r.positive_int(
            esc.get("lead_call_within_days", max(3, _int_or(esc.get("lead_call_after_days")))),
            "escalation.lead_call_within_days"),
        lead_call_after_step=esc.get("lead_call_after_step"),
        lead_call_script=esc.get("lead_call_script"),
    )
    _check_messages(r, policy, messages, stages)
    _check_sources(r, stages)
    return Workflow(
        key=key,
        name=r.text(top.get("name", key), "name"),
        source=source,
        calendar=calendar,
        holiday_country=str(top.get("holiday_country", "CN")),
        timezone=str(top.get("timezone", "Asia/Shanghai")),
        stages=tuple(stages),
        budgets=MappingProxyType(budgets),
        transitions=transitions,
        escalation=policy,
        tiering=_tiering(r, top["tiering"]) if "tiering" in top else None,
        care=_care(r, top["customer_care"]) if "customer_care" in top else None,
        case_limit=case_limit,
        dimensions=_dimensions(r, top.get("dimensions", {}), stages),
        messages=messages,
        lost_reasons=_lost_reasons(r, top.get("lost_reasons", [])),
    )


def _lost_reasons(r: _Reader, value: Any) -> tuple[LostReason, ...]:
    """``lost_reasons``: a list of ``{key, name: {en, zh_CN}}``, keys unique."""
    out: list[LostReason] = []
    for i, item in enumerate(r.seq(value, "lost_reasons")):
        where = f"lost_reasons[{i}]"
        m = r.mapping(item, where)
        r.only(m, {"key", "name"}, where)
        key = r.string(m.get("key"), f"{where}.key")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", key):
            raise r.fail(f"{where}.key", "must be lower-case letters, digits and _")
        if any(x.key == key for x in out):
            raise r.fail(f"{where}.key", f"lost reason {key!r} appears twice")
        out.append(LostReason(key, r.text(m.get("name"), f"{where}.name")))
    return tuple(out)


def _source(r: _Reader, value: Any, where: str) -> str | None:
    if value is None:
        return None
    text = r.string(value, where)
    head, _dot, tail = text.partition(".")
    if not tail or (head == "customer" and tail not in CUSTOMER_SOURCES):
        raise r.fail(where, "from names customer.<one of "
                            f"{', '.join(CUSTOMER_SOURCES)}> or <record>.<field>")
    return text


def _check_sources(r: _Reader, stages: Any) -> None:
    """Every ``from`` that names a record field names one of this workflow's, not itself."""
    known = {(rec.key, f.key) for s in stages for rec in s.records for f in rec.fields}
    for s in stages:
        for rec in s.records:
            for f in rec.fields:
                if f.source is None or f.source.startswith("customer."):
                    continue
                pair = tuple(f.source.split(".", 1))
                if pair not in known or pair == (rec.key, f.key):
                    raise r.fail(f"stages.{s.key}.records.{rec.key}.fields.{f.key}.from",
                                 f"no other record field {f.source!r} in this workflow")


def _int_or(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _check_messages(r: _Reader, policy: EscalationPolicy, messages: Messages | None,
                    stages: list[Stage]) -> None:
    """The lead's call and the messages name steps, templates and fields that exist."""
    templates = messages.templates if messages else {}
    if policy.lead_call_within_days < policy.lead_call_after_days:
        raise r.fail("escalation.lead_call_within_days", "must be at least lead_call_after_days")
    step = policy.lead_call_after_step
    if step is not None and not any(c.key == step for st in stages for c in st.cadence):
        raise r.fail("escalation.lead_call_after_step", f"unknown cadence step {step!r}")
    script = policy.lead_call_script
    if script is not None and (script not in templates or templates[script].kind != "script"):
        raise r.fail("escalation.lead_call_script", f"unknown script template {script!r}")
    if messages is None:
        return
    for name, key in (("reply_field", messages.reply_field),
                      ("titles.field", messages.title_field)):
        if key is not None and not any(rec.field(key) for st in stages for rec in st.records):
            raise r.fail(f"messages.{name}", f"unknown field {key!r}")


def _messages(r: _Reader, raw: Any) -> Messages:
    """The ``messages`` section: templates whose placeholders are all known, in both
    languages, and what fills them in."""
    where = "messages"
    m = r.mapping(raw, where)
    r.only(m, {"locale", "branch", "reply_field", "opt_out_words", "titles", "max_segments",
               "templates"}, where)
    locale = m.get("locale", "zh_CN")
    if locale not in LANGS:
        raise r.fail(f"{where}.locale", f"must be one of {', '.join(LANGS)}")
    words = tuple(r.string(w, f"{where}.opt_out_words")
                  for w in r.seq(m.get("opt_out_words", []), f"{where}.opt_out_words"))
    titles = r.mapping(m.get("titles", {}), f"{where}.titles")
    r.only(titles, {"field", "values", "default"}, f"{where}.titles")
    values = {str(k): r.text(v, f"{where}.titles.values.{k}") for k, v in
              r.mapping(titles.get("values", {}), f"{where}.titles.values").items()}
    templates: dict[str, MessageTemplate] = {}
    for key, spec in r.mapping(m.get("templates"), f"{where}.templates").items():
        tw = f"{where}.templates.{key}"
        t = r.mapping(spec, tw)
        r.only(t, {"kind", "name", "text"}, tw)
        kind = t.get("kind", "sms")
        if kind not in TEMPLATE_KINDS:
            raise r.fail(f"{tw}.kind", f"must be one of {', '.join(TEMPLATE_KINDS)}")
        text = r.text(t.get("text"), f"{tw}.text")
        for lang in LANGS:
            try:
                placeholders_of(getattr(text, lang))
            except ValueError as exc:
                raise r.fail(f"{tw}.text.{lang}", str(exc)) from None
        templates[str(key)] = MessageTemplate(
            str(key), kind, r.text(t.get("name", str(key)), f"{tw}.name"), text)
    default = titles.get("default")
    return Messages(
        locale=locale,
        branch=r.text(m.get("branch"), f"{where}.branch"),
        reply_field=m.get("reply_field"),
        opt_out_words=words,
        title_field=titles.get("field"),
        titles=MappingProxyType(values),
        default_title=r.text(default, f"{where}.titles.default") if default else Text("", ""),
        max_segments=r.positive_int(m.get("max_segments", 3), f"{where}.max_segments"),
        templates=MappingProxyType(templates),
    )


def _overdue_kind(r: _Reader, kind: Any) -> str:
    if kind not in OVERDUE_KINDS:
        raise r.fail("escalation.overdue_kind", f"must be one of {', '.join(OVERDUE_KINDS)}")
    return kind


def _case_limit(r: _Reader, raw: Any, stages: list[Stage],
                transitions: tuple[Transition, ...]) -> CaseLimit | None:
    """The whole-case limit, its extensions, and what it rules out: a stage of such a
    workflow has no clock of its own and no cadence (its visits share the case's clock)."""
    extending = [t for t in transitions if t.event == "extend"]
    if raw is None:
        if extending:
            raise r.fail("transitions", "the event 'extend' needs a case_limit with extensions")
        return None
    where = "case_limit"
    m = r.mapping(raw, where)
    r.only(m, {"days", "extensions"}, where)
    days = r.positive_int(m.get("days"), f"{where}.days")
    extensions: list[Extension] = []
    last = days
    for i, e in enumerate(r.seq(m.get("extensions", []), f"{where}.extensions")):
        ew = f"{where}.extensions[{i}]"
        em = r.mapping(e, ew)
        r.only(em, {"to_days", "by"}, ew)
        to_days = r.positive_int(em.get("to_days"), f"{ew}.to_days")
        if to_days <= last:
            raise r.fail(f"{ew}.to_days", f"must be more than {last} days")
        by = em.get("by")
        by = [by] if isinstance(by, str) else r.seq(by, f"{ew}.by")
        if not by or any(role not in ROLES for role in by):
            raise r.fail(f"{ew}.by", f"must name roles among {', '.join(ROLES)}")
        extensions.append(Extension(to_days, tuple(by)))
        last = to_days
    if extensions and not extending:
        raise r.fail(f"{where}.extensions", "need an 'extend' transition to be used")
    for s in stages:
        if s.limit_days is not None or s.budget is not None:
            raise r.fail(f"stages.{s.key}.limit_days",
                         "a stage of a workflow with a case_limit has no clock of its own")
        if s.cadence:
            raise r.fail(f"stages.{s.key}.cadence",
                         "a stage of a workflow with a case_limit has no cadence")
    return CaseLimit(days, tuple(extensions))


def _dimensions(r: _Reader, raw: Any, stages: list[Stage]) -> Mapping[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for name, spec in r.mapping(raw, "dimensions").items():
        where = f"dimensions.{name}"
        m = r.mapping(spec, where)
        r.only(m, {"record", "field"}, where)
        record = next((rec for s in stages for rec in s.records if rec.key == m.get("record")),
                      None)
        if record is None:
            raise r.fail(f"{where}.record", f"unknown record {m.get('record')!r}")
        if record.field(m.get("field")) is None:
            raise r.fail(f"{where}.field", f"unknown field {m.get('field')!r} of {record.key}")
        out[str(name)] = (record.key, m["field"])
    return MappingProxyType(out)


def _care(r: _Reader, raw: Any) -> CustomerCare:
    where = "customer_care"
    m = r.mapping(raw, where)
    r.only(m, {"tasks", "events", "retention", "upcoming_days", "call_cap"}, where)
    names = r.mapping(m.get("tasks"), f"{where}.tasks")
    tasks: dict[str, Text] = {}
    for kind in TASK_KINDS:
        if kind not in names:
            raise r.fail(f"{where}.tasks.{kind}", "is missing: every task kind needs a name")
        tasks[kind] = r.text(names[kind], f"{where}.tasks.{kind}")
    for kind in names:
        if kind not in TASK_KINDS:
            raise r.fail(f"{where}.tasks.{kind}", f"unknown task kind (known: "
                         f"{', '.join(TASK_KINDS)})")
    given = r.mapping(m.get("events"), f"{where}.events")
    events: dict[str, str] = {}
    for kind in CUSTOMER_EVENT_KINDS:
        task = given.get(kind)
        if task not in TASK_KINDS:
            raise r.fail(f"{where}.events.{kind}", "must name the task kind it opens")
        events[kind] = task
    for kind in given:
        if kind not in CUSTOMER_EVENT_KINDS:
            raise r.fail(f"{where}.events.{kind}", f"unknown customer event (known: "
                         f"{', '.join(CUSTOMER_EVENT_KINDS)})")
    retention = r.mapping(m.get("retention"), f"{where}.retention")
    r.only(retention, {"task", "within_days"}, f"{where}.retention")
    if retention.get("task") not in TASK_KINDS:
        raise r.fail(f"{where}.retention.task", "must name a task kind")
    cap = None
    if "call_cap" in m:
        cm = r.mapping(m["call_cap"], f"{where}.call_cap")
        r.only(cm, {"kind", "per_month"}, f"{where}.call_cap")
        if cm.get("kind") not in CONTACT_KINDS:
            raise r.fail(f"{where}.call_cap.kind", "unknown contact kind")
        per_month = cm.get("per_month")
        if isinstance(per_month, bool) or not isinstance(per_month, int) or per_month <= 0:
            raise r.fail(f"{where}.call_cap.per_month", "must be a positive whole number")
        cap = CallCap(kind=cm["kind"], per_month=per_month)
    return CustomerCare(
        tasks=MappingProxyType(tasks), events=MappingProxyType(events),
        retention_task=retention["task"],
        retention_days=r.positive_int(retention.get("within_days"),
                                      f"{where}.retention.within_days"),
        upcoming_days=r.positive_int(m.get("upcoming_days", 7), f"{where}.upcoming_days"),
        call_cap=cap)


def _tiering(r: _Reader, raw: Any) -> Tiering:
    where = "tiering"
    m = r.mapping(raw, where)
    r.only(m, {"thresholds", "high_assets", "upkeep"}, where)
    given = r.mapping(m.get("thresholds"), f"{where}.thresholds")
    for tier in given:
        if tier not in TIERS:
            raise r.fail(f"{where}.thresholds.{tier}", f"unknown tier (known: {', '.join(TIERS)})")
    thresholds: dict[str, float] = {}
    above: str | None = None
    for tier in TIERS:  # highest first
        key = f"{where}.thresholds.{tier}"
        if tier not in given:
            raise r.fail(key, "is missing: every tier needs the assets it starts at")
        amount = r.positive_number(given[tier], key)
        if above is not None and amount >= thresholds[above]:
            raise r.fail(key, f"must be below {above}'s threshold ({thresholds[above]:,})")
        thresholds[tier], above = amount, tier
    high = r.positive_number(m.get("high_assets"), f"{where}.high_assets")
    cells = r.mapping(m.get("upkeep"), f"{where}.upkeep")
    upkeep: dict[str, Mapping[str, Upkeep]] = {}
    for level in cells:
        if level not in ASSET_LEVELS:
            raise r.fail(f"{where}.upkeep.{level}",
                         f"unknown asset level (known: {', '.join(ASSET_LEVELS)})")
    for level in ASSET_LEVELS:
        row = r.mapping(cells.get(level), f"{where}.upkeep.{level}")
        for potential in row:
            if potential not in POTENTIALS:
                raise r.fail(f"{where}.upkeep.{level}.{potential}",
                             f"unknown potential (known: {', '.join(POTENTIALS)})")
        out: dict[str, Upkeep] = {}
        for potential in POTENTIALS:
            cw = f"{where}.upkeep.{level}.{potential}"
            if potential not in row:
                raise r.fail(cw, "is missing: every cell of the grid needs its frequency")
            spec = r.mapping(row[potential], cw)
            out[potential] = Upkeep(
                name=r.text(spec.get("name", f"{level}/{potential}"), f"{cw}.name"),
                frequency=_frequency(r, spec, cw, extra=("name",)))
        upkeep[level] = MappingProxyType(out)
    return Tiering(thresholds=MappingProxyType(thresholds), high_assets=high,
                   upkeep=MappingProxyType(upkeep))


def _frequency(r: _Reader, raw: Any, where: str, extra: tuple[str, ...] = ()) -> Frequency:
    """A contact frequency: ``period`` (month or quarter) and the contacts it ``require``s
    by kind (``any``: contacts of any kind)."""
    fm = r.mapping(raw, where)
    r.only(fm, {"period", "require", *extra}, where)
    if fm.get("period") not in PERIODS:
        raise r.fail(f"{where}.period", f"must be one of {', '.join(PERIODS)}")
    req = r.mapping(fm.get("require"), f"{where}.require")
    if not req:
        raise r.fail(f"{where}.require", "needs at least one contact kind")
    for kind, n in req.items():
        if kind != "any" and kind not in CONTACT_KINDS:
            raise r.fail(f"{where}.require.{kind}", "unknown contact kind")
        r.positive_int(n, f"{where}.require.{kind}")
    return Frequency(fm["period"], MappingProxyType(dict(req)))


def _stage(r: _Reader, raw: Any, where: str, budgets: dict, guards: Mapping,
           seen_records: set[str], templates: Mapping[str, MessageTemplate]) -> Stage:
    s = r.mapping(raw, where)
    r.only(s, {"key", "name", "limit_days", "budget", "records", "cadence",
               "contact_frequency"}, where)
    key = r.string(s.get("key"), f"{where}.key")
    where = f"stages.{key}"
    limit = s.get("limit_days")
    budget = s.get("budget")
    if budget is not None:
        if budget not in budgets:
            raise r.fail(f"{where}.budget", f"unknown budget {budget!r}")
        if limit is not None:
            raise r.fail(f"{where}.limit_days", "a stage on a shared budget has no own limit")
    elif limit is not None:
        limit = r.positive_int(limit, f"{where}.limit_days")
    records = []
    for j, rec in enumerate(r.seq(s.get("records", []), f"{where}.records")):
        record = _record(r, rec, f"{where}.records[{j}]", guards)
        if record.key in seen_records:
            raise r.fail(f"{where}.records.{record.key}", "record key appears twice")
        seen_records.add(record.key)
        records.append(record)
    cadence = []
    cadence_keys: set[str] = set()
    for j, c in enumerate(r.seq(s.get("cadence", []), f"{where}.cadence")):
        cm = r.mapping(c, f"{where}.cadence[{j}]")
        ckey = r.string(cm.get("key"), f"{where}.cadence[{j}].key")
        cw = f"{where}.cadence.{ckey}"
        r.only(cm, {"key", "name", "after", "offset_hours", "assignee", "done_field",
                    "template", "send", "cancelled_by"}, cw)
        after = cm.get("after")
        if after is not None and after not in cadence_keys:
            raise r.fail(f"{cw}.after", f"unknown or later cadence step {after!r}")
        offset = cm.get("offset_hours", 0)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise r.fail(f"{cw}.offset_hours", "must be a whole number of hours ≥ 0")
        assignee = cm.get("assignee", "owner")
        if assignee not in ("institution", "owner", "team_lead"):
            raise r.fail(f"{cw}.assignee", "must be institution, owner or team_lead")
        done_field = cm.get("done_field")
        if done_field is not None and not any(rec.field(done_field) for rec in records):
            raise r.fail(f"{cw}.done_field", f"unknown field {done_field!r} in this stage")
        template, send = cm.get("template"), cm.get("send")
        if template is not None and template not in templates:
            raise r.fail(f"{cw}.template", f"unknown message template {template!r}")
        if send is not None:
            if send not in SEND_MODES:
                raise r.fail(f"{cw}.send", f"must be one of {', '.join(SEND_MODES)}")
            if template is None or templates[template].kind != "sms":
                raise r.fail(f"{cw}.send", "only a step with an SMS template is sent")
            if done_field is None:
                raise r.fail(f"{cw}.send", "a step that is sent needs a done_field")
        cancelled_by = cm.get("cancelled_by")
        if cancelled_by is not None and not any(rec.field(cancelled_by) for rec in records):
            raise r.fail(f"{cw}.cancelled_by", f"unknown field {cancelled_by!r} in this stage")
        cadence_keys.add(ckey)
        cadence.append(CadenceStep(ckey, r.text(cm.get("name", ckey), f"{cw}.name"), after,
                                   offset, assignee, done_field, template, send, cancelled_by))
    freq: dict[str, Frequency] = {}
    for tier, spec in r.mapping(s.get("contact_frequency", {}),
                                f"{where}.contact_frequency").items():
        fw = f"{where}.contact_frequency.{tier}"
        if tier not in TIERS:
            raise r.fail(fw, f"unknown tier (known: {', '.join(TIERS)})")
        freq[tier] = _frequency(r, spec, fw)
    return Stage(
        key=key,
        name=r.text(s.get("name", key), f"{where}.name"),
        limit_days=limit,
        budget=budget,
        records=tuple(records),
        cadence=tuple(cadence),
        contact_frequency=MappingProxyType(freq),
    )


def _record(r: _Reader, raw: Any, where: str, guards: Mapping) -> Record:
    m = r.mapping(raw, where)
    key = r.string(m.get("key"), f"{where}.key")
    where = where.rsplit(".records", 1)[0] + f".records.{key}"
    r.only(m, {"key", "name", "fields", "complete_when", "params", "example"}, where)
    complete_when = r.string(m.get("complete_when"), f"{where}.complete_when")
    if getattr(guards.get(complete_when), "kind", None) != "record":
        raise r.fail(f"{where}.complete_when", f"unknown record guard {complete_when!r}")
    fields = []
    for k, f in enumerate(r.seq(m.get("fields"), f"{where}.fields")):
        fm = r.mapping(f, f"{where}.fields[{k}]")
        fkey = r.string(fm.get("key"), f"{where}.fields[{k}].key")
        fw = f"{where}.fields.{fkey}"
        r.only(fm, {"key", "type", "label", "choices", "suggestions", "personal", "counts",
                    "max_items", "format", "min", "max", "when", "from", "derived"}, fw)
        ftype = fm.get("type")
        if ftype not in FIELD_TYPES:
            raise r.fail(f"{fw}.type", f"unknown field type {ftype!r}")
        choices = fm.get("choices")
        if ftype == "choice":
            choices = r.seq(choices, f"{fw}.choices")
            if not choices or not all(isinstance(c, str) for c in choices):
                raise r.fail(f"{fw}.choices", "a choice field needs a list of strings")
        elif choices is not None:
            raise r.fail(f"{fw}.choices", "only a choice field has choices")
        sugg = fm.get("suggestions")
        if sugg is not None:
            sugg = tuple(r.seq(sugg, f"{fw}.suggestions"))
        max_items = fm.get("max_items")
        if max_items is not None:
            max_items = r.positive_int(max_items, f"{fw}.max_items")
        fmt, when = fm.get("format"), fm.get("when")
        if fmt is not None and (ftype != "string" or fmt not in FIELD_FORMATS):
            raise r.fail(f"{fw}.format", f"a string field's format is one of "
                                         f"{', '.join(FIELD_FORMATS)}")
        if when is not None and (ftype != "datetime" or when not in FIELD_WHEN):
            raise r.fail(f"{fw}.when", f"a datetime field's when is one of "
                                       f"{', '.join(FIELD_WHEN)}")
        bounds = {}
        for bound in ("min", "max"):
            value = fm.get(bound)
            if value is None:
                continue
            if ftype not in ("integer", "number") or isinstance(value, bool) \
                    or not isinstance(value, (int, float)):
                raise r.fail(f"{fw}.{bound}", "only an integer or number field has bounds, "
                                              "and a bound is a number")
            bounds[bound] = value
        if bounds.get("min") is not None and bounds.get("max") is not None \
                and bounds["min"] > bounds["max"]:
            raise r.fail(f"{fw}.min", "min is above max")
        if any(x.key == fkey for x in fields):
            raise r.fail(fw, "field key appears twice")
        fields.append(Field(
            key=fkey, type=ftype, label=r.text(fm.get("label", fkey), f"{fw}.label"),
            choices=tuple(choices) if choices else None, suggestions=sugg,
            personal=bool(fm.get("personal", False)), counts=bool(fm.get("counts", True)),
            max_items=max_items, format=fmt, when=when, **bounds,
            source=_source(r, fm.get("from"), f"{fw}.from"),
            derived=bool(fm.get("derived", False)),
        ))
        if fields[-1].derived and fields[-1].source is None:
            raise r.fail(f"{fw}.derived", "a derived field needs a from")
    examples = r.mapping(m.get("example", {}), f"{where}.example")
    r.only(examples, {"complete", "partial"}, f"{where}.example")
    example: dict[str, Mapping[str, Any] | None] = {}
    for kind in ("complete", "partial"):
        values = examples.get(kind)
        if values is not None:
            values = r.mapping(values, f"{where}.example.{kind}")
            unknown = sorted(k for k in values if not any(f.key == k for f in fields))
            if unknown:
                raise r.fail(f"{where}.example.{kind}", f"unknown field {unknown[0]!r}")
            values = MappingProxyType(dict(values))
        example[kind] = values
    record = Record(key=key, name=r.text(m.get("name", key), f"{where}.name"),
                    example_complete=example["complete"], example_partial=example["partial"],
                    fields=tuple(fields), complete_when=complete_when,
                    params=MappingProxyType(dict(r.mapping(m.get("params", {}),
                                                           f"{where}.params"))))
    check = getattr(guards[complete_when], "check_params", None)
    if check is not None:
        problem = check(record)
        if problem:
            raise r.fail(f"{where}.params", problem)
    return record


def _transitions(r: _Reader, raw: Any, keys: list[str], guards: Mapping) -> tuple:
    out: list[Transition] = []
    for i, t in enumerate(r.seq(raw, "transitions")):
        tm = r.mapping(t, f"transitions[{i}]")
        event = tm.get("event")
        where = f"transitions[{i}]"
        r.only(tm, {"event", "from", "to", "guards"}, where)
        if event not in EVENTS:
            raise r.fail(f"{where}.event", f"unknown event {event!r} (known: {', '.join(EVENTS)})")
        where = f"transitions[{i}] ({event})"
        sources = tm.get("from")
        if sources == "*":
            sources = list(keys)
        elif isinstance(sources, str):
            sources = [sources]
        sources = r.seq(sources, f"{where}.from")
        for g in r.seq(tm.get("guards", []), f"{where}.guards"):
            if getattr(guards.get(g), "kind", None) != "transition":
                raise r.fail(f"{where}.guards", f"unknown transition guard {g!r}")
        gs = tuple(tm.get("guards", []))
        to = tm.get("to")
        for src in sources:
            if src not in keys:
                raise r.fail(f"{where}.from", f"unknown stage {src!r}")
            if to is None:
                dest = None
            elif to == "next":
                idx = keys.index(src)
                if idx + 1 >= len(keys):
                    raise r.fail(f"{where}.to", f"stage {src!r} has no next stage")
                dest = keys[idx + 1]
            elif to == "previous":
                idx = keys.index(src)
                if idx == 0:
                    raise r.fail(f"{where}.to", f"stage {src!r} has no previous stage")
                dest = keys[idx - 1]
            elif to in keys:
                dest = to
            else:
                raise r.fail(f"{where}.to", f"transition to unknown stage {to!r}")
            if any(x.event == event and x.source == src for x in out):
                raise r.fail(where, f"event {event!r} from {src!r} is defined twice")
            out.append(Transition(event, src, dest, gs))
    return tuple(out)


def load_workflows(directory: str | Path) -> dict[str, Workflow]:
    """Load every ``*.yaml`` in ``directory``; keys must be unique."""
    out: dict[str, Workflow] = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        wf = load_workflow(path)
        if wf.key in out:
            raise WorkflowError(str(path), "key", f"workflow key {wf.key!r} is used twice")
        out[wf.key] = wf
    return out
