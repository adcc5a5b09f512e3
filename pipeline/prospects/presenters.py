"""What the customer manager's pages show, worked out in Python: names and labels in the
reader's language, stage clocks, the board's cards, and the prospect page's context.

Views parse a request, call one service or query and hand the result to a function
here; everything here reads the request only for its language, time zone and viewer.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, g, url_for
from flask_babel import format_datetime, ngettext
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape

from pipeline import clock, labels, workflows
from pipeline.engine.definition import EVENTS, Workflow
from pipeline.engine.guards import GUARDS, option_bounds
from pipeline.engine.machine import EngineError
from pipeline.engine.records import prefilled
from pipeline.errors import ServiceError
from pipeline.prospects import forms as F
from pipeline.prospects import queries, services
from pipeline.prospects.models import CADENCE
from pipeline.prospects.privacy import mask, sees_personal_data
from pipeline.prospects.schemas import RETENTION_OUTCOMES
from pipeline.prospects.stage_clock import clock_reading
from pipeline.web import current_locale

NORM_CALLS = 20  # a manager's daily norm (PROCESS.md): 20 calls and 2 meetings
NORM_MEETINGS = 2


# ---------------------------------------------------------------- per-request answers

def per_request(fn):
    """Memoise a helper whose answer depends only on its (hashable) arguments and the
    request's locale: a board renders hundreds of cards that ask the same questions
    (labels, move options, problem texts), and each translation lookup costs more than
    the card's own markup."""
    @functools.wraps(fn)
    def memo(*args: Any) -> Any:
        cache = g.setdefault("_view_memo", {})
        key = (fn.__name__, *args)
        try:
            return cache[key]
        except KeyError:
            value = cache[key] = fn(*args)
            return value
    return memo


class Answers(dict):
    """``answers[key]`` is ``fn(key)``, worked out on the first ask only."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        super().__init__()
        self.fn = fn

    def __missing__(self, key: Any) -> Any:
        value = self[key] = self.fn(key)
        return value


# ---------------------------------------------------------------- names and labels

def workflow(key: str | None = None) -> Workflow:
    return workflows.workflow(key or workflows.DEFAULT_KEY)


def user_tz() -> str:
    return getattr(current_user, "timezone", None) or current_app.config["PIPELINE_TIMEZONE"]


@per_request
def tier_label(tier: str) -> str:
    return labels.label(labels.TIERS, tier)


def stage_name(key: str, wf: Workflow | None = None) -> str:
    try:
        return (wf or workflow()).stage(key).name.get(current_locale())
    except KeyError:
        return key


def record_name(key: str, wf: Workflow | None = None) -> str:
    record = (wf or workflow()).record(key)
    return record.name.get(current_locale()) if record else key


def field_label(record_key: str | None, field_key: str | None,
                wf: Workflow | None = None) -> str:
    record = (wf or workflow()).record(record_key) if record_key else None
    field = record.field(field_key) if record and field_key else None
    return field.label.get(current_locale()) if field else (field_key or "")


def status_label(status: str) -> str:
    return labels.label(labels.STATUSES, status)


def event_label(event: str) -> str:
    return labels.label(labels.EVENT_ACTIONS, event)


def history_label(event: str, data: dict | None = None,
                  people: dict[int, str] | None = None) -> str:
    # Escalation decisions write their own events (an abandon is a "lose"); a tier change
    # says from which tier to which, a change of owner from whom to whom.
    return labels.history_text(labels.PROSPECT_HISTORY, event, data, people)


def upkeep_name(prospect: Any, wf: Workflow) -> str | None:
    """The name of the customer's cell of the workflow's tiering grid (asset size ×
    potential: very high … low), when the assets and the potential are known."""
    if wf.tiering is None or prospect.assets is None or prospect.potential is None:
        return None
    return wf.tiering.cell(prospect.assets, prospect.potential).name.get(current_locale())


def assignee_label(task: Any) -> str:
    return labels.label(labels.ASSIGNEES, task.assignee_kind)


def when(value: datetime | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    """A UTC time in the user's zone (Asia/Shanghai unless the user chose another)."""
    return format_datetime(value, fmt) if value else "—"


# ---------------------------------------------------------------- stage clocks

def time_left(due: datetime | None, status: str, now: datetime | None = None) -> tuple[str, str]:
    """("3 days left" / "2 days overdue", css class) for a stage clock."""
    kind, num, css = clock_reading(due, status, now or clock.now())
    return (_time_phrase(kind, num) if kind else ""), css


def next_contact(period_end: datetime) -> str:
    """An after-sale card's next contact: due by the last day of the contact period."""
    return _("Next contact by %(day)s",
             day=when(period_end - timedelta(seconds=1), "yyyy-MM-dd"))


@per_request
def _time_phrase(kind: str, num: int) -> str:
    # A board's cards share a few dozen of these: each is translated once per request.
    if kind == "paused":
        return _("Paused")
    if kind == "days_left":
        return ngettext("%(num)d day left", "%(num)d days left", num)
    if kind == "hours_left":
        return ngettext("%(num)d hour left", "%(num)d hours left", num)
    if kind == "days_overdue":
        return ngettext("%(num)d day overdue", "%(num)d days overdue", num)
    return ngettext("%(num)d hour overdue", "%(num)d hours overdue", num)


# ---------------------------------------------------------------- problems and refusals

def problem_text(problem: Any, wf: Workflow | None = None) -> str:
    """A guard's problem in the user's language, named by the workflow's labels."""
    if wf is None and not isinstance(problem, dict):  # engine Problems are frozen: hashable
        return _problem_text(problem)
    return _problem_text.__wrapped__(problem, wf)


@per_request
def _problem_text(problem: Any, wf: Workflow | None = None) -> str:
    wf = wf or workflow()
    code = getattr(problem, "code", None) or problem.get("code")
    record = getattr(problem, "record", None) if not isinstance(problem, dict) \
        else problem.get("record")
    field = getattr(problem, "field", None) if not isinstance(problem, dict) \
        else problem.get("field")
    rname = record_name(record, wf) if record else ""
    if code == "field_required":
        return _("%(record)s: “%(field)s” is needed", record=rname,
                 field=field_label(record, field, wf))
    if code == "incomplete":
        rec = wf.record(record)
        need = float(rec.params.get("min", 0.7)) if rec else 0.7
        return _("%(record)s must be at least %(need)s complete", record=rname,
                 need=f"{need:.0%}")
    if code == "options_count":
        rec = wf.record(record)
        low, high = option_bounds(rec) if rec else (1, 1_000)
        return _("%(record)s: offer %(low)s to %(high)s options", record=rname,
                 low=low, high=high)
    if code == "risk_mismatch":
        return _("%(record)s: the product's risk rating is above the customer's risk "
                 "tolerance", record=rname)
    if code == "reason_required":
        return _("A reason is required.")
    if code == "cadence_not_tried":
        return _("%(record)s: “%(field)s” is not done yet", record=rname,
                 field=field_label(record, field, wf))
    return getattr(problem, "message", None) or str(problem)


def error_text(exc: ServiceError) -> str:
    """A service refusal in the user's language."""
    if exc.code == "transition_refused":
        missing = exc.details.get("missing") or []
        return _("Not yet: %(missing)s",
                 missing="; ".join(problem_text(p) for p in missing))
    messages = {
        "stale_version": _("Someone changed this prospect meanwhile; look again and retry."),
        "prospect_lost": _("The prospect is lost; reopen it first."),
        "event_not_allowed": _("That move is not possible now."),
        "unknown_event": _("That move is not possible now."),
        "over_capacity": _("That customer manager already maintains the most customers "
                           "allowed."),
        "duplicate_customer": _("This customer already has a manager: a prospect that is "
                                "not lost has the same customer number or ID number."),
        "forbidden": _("You may not do that."),
        "stale_task": _("This task belongs to an earlier stage visit."),
        "not_found": _("Not found."),
    }
    if exc.code in messages:
        return messages[exc.code]
    if exc.details:
        fields = ", ".join(sorted(k for k in exc.details if k != "missing"))
        return _("Please check: %(fields)s", fields=fields)
    return exc.message


def missing_records(exc: ServiceError) -> list[str]:
    """The records a refused transition waits for, in the workflow's order."""
    if exc.code != "transition_refused":
        return []
    return [m["record"] for m in exc.details.get("missing") or [] if m.get("record")]


def needs_reason(exc: ServiceError) -> bool:
    """Whether the workflow refused an event for want of a reason."""
    return exc.code == "transition_refused" and any(
        m.get("code") == "reason_required" for m in exc.details.get("missing") or [])


def reason_beside_field(form: F.EventForm, exc: ServiceError) -> bool:
    """An event refused for want of a reason says so beside the form's reason field."""
    if not needs_reason(exc):
        return False
    form.reason.errors = [*form.reason.errors, _("Give a reason.")]
    return True


def status_problems(rec: Any, data: dict) -> list:
    """What a record still lacks for its guard (the workflow's ``complete_when``)."""

    return GUARDS[rec.complete_when](rec, data or {})


# ---------------------------------------------------------------- moves

def move_options(prospect: Any) -> list[tuple[str, str]]:
    """(stage key, label) of the board moves a card offers: next stage, previous stage."""
    if prospect.status != "active":
        return []
    return _move_options(prospect.workflow_key, prospect.stage)


@per_request
def _move_options(workflow_key: str, stage: str) -> list[tuple[str, str]]:
    wf = workflow(workflow_key)
    keys = wf.stage_keys
    i = keys.index(stage)
    out = []
    nxt = next((t.dest for t in wf.transitions if t.source == stage
                and t.event in ("advance", "win") and t.dest), None)
    if nxt:
        out.append((nxt, "→ " + stage_name(nxt, wf)))
    back = next((t.dest for t in wf.transitions if t.source == stage
                 and t.event == "back" and t.dest), None)
    if back and i > 0:
        out.append((back, "← " + _("back to %(stage)s", stage=stage_name(back, wf))))
    return out


def moved_message(prospect: Any) -> str:
    return _("%(name)s moved to %(stage)s.", name=prospect.name,
             stage=stage_name(prospect.stage))


def template_helpers() -> dict[str, Any]:
    """The helpers the workspace's templates call."""
    return {"stage_name": stage_name, "record_name": record_name, "field_label": field_label,
            "when": when, "time_left": time_left, "problem_text": problem_text,
            "mask": mask, "tier_label": tier_label,
            "kind_label": lambda k: labels.label(labels.CONTACT_KINDS, k),
            "outcome_label": lambda o: labels.label(labels.CONTACT_OUTCOMES, o) if o else "",
            "event_label": event_label,
            "value_label": F.value_label, "status_label": status_label,
            "move_options": move_options, "workflow": workflow,
            "status_problems": status_problems, "history_label": history_label,
            "assignee_label": assignee_label, "source_label": source_label,
            "potential_label": lambda v: labels.label(labels.POTENTIALS, v)}


# ---------------------------------------------------------------- board cards

# Marks other domains put on a customer's card (e.g. open complaints), registered at app
# start: name -> callable(card ids) -> {id: text}; each is one query per set of cards.
CARD_MARKS: dict[str, Callable[[list[int]], dict[int, str]]] = {}
# Parts other domains write into each card (e.g. the manager's SMS button), registered at
# app start: a factory(session, prospects, viewer id, back-to URL) answering an object whose
# ``html(prospect)`` is the card's part, built once per set of cards.
CARD_PARTS: dict[str, Callable[..., Any]] = {}


def card_marks(ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    if not ids:
        return out
    for marks in CARD_MARKS.values():
        for pid, text in marks(ids).items():
            out.setdefault(pid, []).append(text)
    return out


# The pages of cases that have their own (a complaint's): workflow key -> callable(id) -> URL.
CASE_PAGES: dict[str, Callable[[int], str]] = {}


class CardWriter:
    """Writes board cards' markup, each card with its no-script move form (CSRF token,
    return address ``back_to``); one writer serves a page's columns.

    Written here rather than by a template macro: a board shows a few hundred cards, and a
    macro's cost per value it writes out (a context lookup, an escape, a Markup object) and
    per helper it calls (a context call; for each label a lookup of the request's locale)
    was most of the board's time. Here the questions the cards share (labels, phrases,
    move options, problem texts) are answered once per page, already escaped, and only
    what is each card's own (name, phone, owner) is escaped per card. Everything that comes
    from data or the catalogues goes through ``escape``; ids, versions and the fixed class
    names are the app's own.
    """

    def __init__(self, back_to: str) -> None:
        e = escape
        self.now = clock.now()
        self.show_owner = current_user.role != "manager"
        self.detail_url = id_url("prospects.detail")
        self.move_url = id_url("prospects.move")
        self.token, self.back_to, self.move = e(generate_csrf()), e(back_to), e(_("Move"))
        self.move_label = e(_("Move %(name)s to"))
        self.tiers = Answers(lambda tier: e(tier_label(tier)))
        self.flags = Answers(lambda status: e(status_label(status)))
        self.phrases = Answers(lambda key: e(_time_phrase(*key)))
        self.owners = Answers(e)
        self.options = Answers(lambda key: Markup("".join(  # nosec B704: values escaped
            f'<option value="{e(k)}">{e(label)}</option>'
            for k, label in _move_options(*key))))
        self.counts = Answers(lambda num: e(ngettext("%(num)d record missing",
                                                     "%(num)d records missing", num)))
        self.titles = Answers(lambda problems: e("; ".join(problem_text(p)
                                                           for p in problems)))

    def __call__(self, cards: list[queries.Card]) -> Markup:
        self.prepare(cards)
        return self.cards(cards)

    def prepare(self, cards: list[queries.Card]) -> None:
        """Read what other domains add to these cards (marks, parts): once for a page's
        columns together, not once per column."""
        from pipeline.db import get_session

        prospects = [c.prospect for c in cards]
        self.parts = [part(get_session(), prospects, current_user.id, self.back_to.unescape())
                      for part in CARD_PARTS.values()]
        self.marks = card_marks([c.prospect.id for c in cards])

    def cards(self, cards: list[queries.Card]) -> Markup:
        """The markup of ``cards``, all of them among the last :meth:`prepare`'s."""
        out: list[str] = []
        for card in cards:
            self.write(card, out)
        return Markup("".join(out))  # nosec B704: write() escapes every value it writes

    def write(self, card: queries.Card, out: list[str]) -> None:
        e, p = escape, card.prospect
        status, active, name = p.status, p.status == "active", e(p.name)
        classes = " is-overdue" if card.overdue else " is-due-soon" if card.due_soon else ""
        if status == "paused" or status == "lost":
            classes += " is-" + status
        head, tail = self.detail_url
        out.append(
            f'<li class="kcard{classes}" id="card-{p.id}" data-id="{p.id}" '
            f'data-stage="{e(p.stage)}" data-version="{p.version}" data-testid="card"'
            f'{_DRAGGABLE if active and self.options[p.workflow_key, p.stage] else ""}>\n'
            f'  <div class="kcard-head">\n'
            f'    <a class="kcard-name" href="{head}{p.id}{tail}">{name}</a>\n'
            f'    <span class="tier tier-{e(p.tier)}">{self.tiers[p.tier]}</span>\n'
            f'  </div>\n')
        if self.show_owner:
            out.append(f'  <div class="kcard-owner muted">{self.owners[p.owner_name]}</div>\n')
        if p.phone:
            out.append(f'  <div class="kcard-phone muted" data-testid="masked-phone">'
                       f'{e(mask(p.phone))}</div>\n')
        out.extend(part.html(p) for part in self.parts)  # e.g. the manager's SMS button
        out.append('  <div class="kcard-flags">\n')
        for mark in getattr(self, "marks", {}).get(p.id, ()):
            out.append(f'    <span class="flag flag-mark" data-testid="card-mark">{e(mark)}'
                       f'</span>\n')
        if not active:
            out.append(f'    <span class="flag flag-{status}">{self.flags[status]}</span>\n')
            if status == "won" and p.due_at is not None:
                # The sweep keeps in due_at the end of the after-sale contact period it
                # judges next: the tier's (or cell's) contacts are due by its last day.
                out.append(f'    <span class="due due-left" data-testid="next-contact">'
                           f'{e(next_contact(p.due_at))}</span>\n')
        else:
            kind, num, css = clock_reading(p.due_at, status, self.now)
            if kind:
                mark = _OVERDUE_MARK if card.overdue else ">"
                out.append(f'    <span class="due due-{css}" data-testid="due"{mark}'
                           f'{self.phrases[kind, num]}</span>\n')
        if card.missing_records:
            out.append(f'    <span class="flag flag-missing" '
                       f'title="{self.titles[tuple(card.missing)]}" data-testid="missing">'
                       f'{self.counts[len(card.missing_records)]}</span>\n')
        out.append('  </div>\n')
        if active and (choices := self.options[p.workflow_key, p.stage]):
            head, tail = self.move_url
            out.append(
                f'  <form class="move-form" method="post" action="{head}{p.id}{tail}">\n'
                f'    <input type="hidden" name="csrf_token" value="{self.token}">\n'
                f'    <input type="hidden" name="version" value="{p.version}">\n'
                f'    <input type="hidden" name="next" value="{self.back_to}">\n'
                f'    <label class="visually-hidden" for="move-{p.id}">'
                f'{self.move_label % {"name": name}}</label>\n'
                f'    <select name="to" id="move-{p.id}" data-testid="move-select">{choices}'
                f'</select>\n'
                f'    <button type="submit" class="secondary small">{self.move}</button>\n'
                f'  </form>\n')
        out.append('</li>')


_DRAGGABLE = ' draggable="true"'
_OVERDUE_MARK = ' data-overdue><span aria-hidden="true">⚠ </span>'


def id_url(endpoint: str) -> tuple[Markup, Markup]:
    """``url_for(endpoint, prospect_id=n)`` for many ``n`` at the price of one, escaped:
    the parts before and after the id of the URL built around a stand-in id."""
    head, _marker, tail = url_for(endpoint, prospect_id=_URL_MARKER).partition(
        str(_URL_MARKER))
    return escape(head), escape(tail)


_URL_MARKER = 918273645546372819


def board_page(board: queries.Board, back_to: str) -> dict[str, Markup]:
    """Each column's cards, written (their marks and parts read once for the page)."""
    write = CardWriter(back_to)
    write.prepare([card for c in board.columns for card in c.cards])
    return {c.stage: write.cards(c.cards) for c in board.columns}


def card_html(card: queries.Card, back_to: str) -> str:
    """One card's markup, for the board's script to put in place after a move."""
    return str(CardWriter(back_to)([card]))


# ---------------------------------------------------------------- the prospect page

def hidden_fields(show_personal: bool):
    """Personal fields are left out of the forms of a viewer who may not see them, so a
    masked value can never be saved over the real one; derived fields are out of every
    form (shown, never typed: they hold another record's value)."""
    def of(record: Any) -> tuple[str, ...]:
        return tuple(f.key for f in record.fields
                     if f.derived or (f.personal and not show_personal))
    return of


def source_label(f: Any, wf: Workflow | None = None) -> str:
    """Where a derived field's value comes from: the record and field, in the reader's
    language."""
    record_key, _dot, field_key = (f.source or "").partition(".")
    return _("From %(record)s: %(field)s", record=record_name(record_key, wf),
             field=field_label(record_key, field_key, wf))


def starting_data(record: Any, data: dict, records: dict, prospect: Any) -> dict:
    """What a record's form shows: its stored data, with values known elsewhere (the
    customer's own fields, another record's) where it has none (data entered once)."""
    return prefilled(record, data, records, services.customer_of(prospect))


def record_forms(page: queries.ProspectPage, wf: Workflow, *, show_personal: bool,
                 bound: dict[str, F.RecordForm] | None = None) -> dict[str, F.RecordForm]:
    out = {}
    hidden_for = hidden_fields(show_personal)
    for stage in wf.stages:
        for record in stage.records:
            if bound and record.key in bound:
                out[record.key] = bound[record.key]
                continue
            out[record.key] = F.build_record_form(
                record, current_locale(), user_tz(), starting_data(
                    record, page.records.get(record.key, {}), page.records, page.prospect),
                hidden=hidden_for(record), version=page.prospect.version)
    return out


def event_form(event: str, version: int, formdata: Any = None,
               wf: Workflow | None = None) -> F.EventForm:
    form = F.EventForm(formdata=formdata, prefix=event)
    form.event.data = event
    if event == "lose" and wf is not None and wf.lost_reasons:
        form.offer_categories(wf.lost_reasons, current_locale())
    if formdata is None:
        form.version.data = str(version)
    return form


def _event_possible(engine: Any, state: Any, event: str) -> bool:

    try:
        engine.check_allowed(state, event)
    except EngineError:
        return False
    return True


def detail_page(page: queries.ProspectPage, *, bound: dict[str, F.RecordForm] | None = None,
                event_forms: dict[str, F.EventForm] | None = None,
                contact_form: F.ContactForm | None = None,
                customer_form: F.CustomerForm | None = None) -> dict[str, Any]:
    """The prospect page's context: path, what is missing, the events that can fire (each
    with its form; ``advance``/``win`` may show disabled), the record forms, the contact
    form. Forms the request bound (with their errors) replace the fresh ones."""
    p = page.prospect
    wf = workflow(p.workflow_key)
    engine = workflows.engine(p.workflow_key)
    state = services.state_of(p)
    missing = engine.missing(state, page.records)
    available = engine.available_events(state, page.records)
    show_personal = sees_personal_data(current_user, p)
    statuses = {r.key: services.record_status(engine, r.key, page.records.get(r.key, {}))
                for s in wf.stages for r in s.records}
    events = [e for e in EVENTS if _event_possible(engine, state, e)]
    forms = {e: (event_forms or {}).get(e) or event_form(e, p.version, wf=wf) for e in events}
    cadence = {c.key: c for s in wf.stages for c in s.cadence}
    return dict(
        page=page, p=p, wf=wf, state=state, missing=missing,
        available=available, events=events, event_forms=forms,
        record_forms=record_forms(page, wf, show_personal=show_personal, bound=bound),
        statuses=statuses, show_personal=show_personal, cadence=cadence,
        contact_form=contact_form or F.ContactForm(formdata=None),
        customer_form=customer_form or F.CustomerForm.for_prospect(p),
        upkeep=upkeep_name(p, wf),
        task_form=F.TaskForm(formdata=None), now=clock.now(),
        stage_index=wf.stage_keys.index(p.stage), tz=user_tz(),
        cadence_tasks=[t for t in page.tasks if t.kind == CADENCE],
        care_tasks=sorted((t for t in page.tasks if t.kind != CADENCE),
                          key=lambda t: (t.done_at is not None, t.due_at)),
        task_kind=lambda t: task_kind_name(t, wf, cadence), task_reason=task_reason,
        left=bool(page.history) and page.history[-1].event == "leave")


def record_page(prospect: Any, rec: Any, form: F.RecordForm, then: str | None, back_to: str,
                data: dict[str, Any]) -> dict[str, Any]:
    """The context of one record's form (its page or the board's dialog); ``data`` is the
    record as stored, which the form's status line reads."""
    status_of = services.record_status(workflows.engine(prospect.workflow_key), rec.key, data)
    action = url_for("prospects.record", prospect_id=prospect.id, record_key=rec.key,
                     then=then or None, next=back_to)
    return {"p": prospect, "rec": rec, "form": form, "then": then, "back_to": back_to,
            "status": status_of, "action": action, "show_personal":
            sees_personal_data(current_user, prospect), "records_done": status_of.complete}


def saved_message(record_key: str, result: Any, wf: Workflow) -> str:
    """What a save did: complete, or what the record still lacks in the stage's own words
    (the share of fields filled says nothing when the guard wants something else)."""
    name = record_name(record_key, wf)
    if result.complete:
        return _("%(record)s saved; it is complete.", record=name)
    missing = "; ".join(problem_text(p, wf) for p in status_problems(
        wf.record(record_key), result.data))
    return _("%(record)s saved, not complete yet: %(missing)s", record=name, missing=missing)


def saved_category(result: Any) -> str:
    """The flash category of a save: success only when the record is complete."""
    return "success" if result.complete else "info"


# ---------------------------------------------------------------- my day

# The order of My day's groups: what the seeds say to meet first comes first.
TASK_GROUPS = ("retention", "callback", "maturity", "repayment", "birthday", "campaign")


def task_kind_name(task: Any, wf: Workflow, cadence: dict[str, Any]) -> str:
    """A task's kind in the reader's language: a first-contact step by its name, the
    lead's call, an after-sale kind by the workflow's name for it."""
    locale = current_locale()
    if task.kind == CADENCE:
        step = cadence.get(task.key)
        if step is not None:
            return step.name.get(locale)
        return _("Team lead's call") if task.key == "lead_call" else task.key
    if wf.care is not None and task.kind in wf.care.tasks:
        return wf.care.tasks[task.kind].get(locale)
    return task.kind


def task_reason(task: Any) -> str:
    """The one-line reason a task shows: the event that made it and its product, amount
    and date, or the note it carries."""
    parts = []
    if task.source:
        parts.append(labels.label(labels.CUSTOMER_EVENTS, task.source))
    if task.title:
        parts.append(task.title)
    return " · ".join(parts)


def task_groups(items: list[Any], wf: Workflow, cadence: dict[str, Any]
                ) -> list[tuple[str, str, list[Any]]]:
    """``items`` (My day's tasks) as (kind, its name, its tasks) in :data:`TASK_GROUPS`'
    order, the first-contact steps last, grouped by step."""
    groups: dict[str, list[Any]] = {}
    for item in items:
        key = item.task.key if item.task.kind == CADENCE else item.task.kind
        groups.setdefault(key, []).append(item)
    order = {k: i for i, k in enumerate(TASK_GROUPS)}
    return [(key, task_kind_name(found[0].task, wf, cadence), found)
            for key, found in sorted(groups.items(), key=lambda kv: (
                order.get(kv[0], len(order)), kv[1][0].task.due_at))]


def my_day_page(day: Any) -> dict[str, Any]:
    """Today's figures against the norm, the tasks grouped by kind, and deadlines."""
    calls = day.activity.get("call", 0)
    meetings = day.activity.get("meeting", 0) + day.activity.get("visit", 0)
    wf = workflow()
    cadence = {c.key: c for s in wf.stages for c in s.cadence}
    return dict(day=day, calls=calls, meetings=meetings,
                norm_calls=NORM_CALLS, norm_meetings=NORM_MEETINGS,
                cadence=cadence, task_form=F.TaskForm(formdata=None),
                overdue_groups=task_groups(day.overdue_tasks, wf, cadence),
                today_groups=task_groups(day.today_tasks, wf, cadence),
                upcoming_groups=task_groups(day.upcoming, wf, cadence),
                task_reason=task_reason,
                retention_kind=wf.care.retention_task if wf.care else None,
                retention_outcomes=labels.choices(labels.RETENTION_OUTCOMES,
                                                  RETENTION_OUTCOMES),
                now=clock.now(), wf=wf,
                calls_pct=min(math.floor(100 * calls / NORM_CALLS), 100),
                meetings_pct=min(math.floor(100 * meetings / NORM_MEETINGS), 100))
