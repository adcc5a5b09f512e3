"""Writes of the messages domain. Each public function is one unit of work (or, where it
says so, part of the caller's transaction).

* An SMS of a cadence step goes to the outbox in the transaction of the event that
  causes it: the ``auto`` steps of a visit as it starts (:func:`on_applied`, an
  ``after_apply`` hook of the one event path), a ``click`` step when its assignee sends it
  (:func:`send_step`). The step is done when the worker has handed the SMS to the gateway
  (:func:`mark_sent`), through the step's contact-log field, as a manager's entry would.
* A customer who opted out gets no SMS; a prospect without a phone number neither.
* A reply (a callback of the gateway, :func:`record_reply`) is logged in the workflow's
  reply field, which cancels the steps it names (the call); a reply that is an opt-out
  word opts the customer out.
* The lead's call after no meeting records its outcome through the escalation decision
  (:func:`record_lead_call`).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import String, cast, literal, select, update
from sqlalchemy.orm import Session

from pipeline import clock, workflows
from pipeline.auth.models import Team, User
from pipeline.db import unit_of_work
from pipeline.engine.definition import LANGS, CadenceStep, Messages, MessageTemplate, Workflow
from pipeline.engine.records import merge
from pipeline.errors import Conflict, Forbidden, Invalid, NotFound, parse_id
from pipeline.logs import log_event
from pipeline.messages import text as T
from pipeline.messages.models import SmsMessage, SmsReply, SmsSender, SmsTemplate
from pipeline.prospects import events, queries
from pipeline.prospects.models import CadenceTask, Prospect, StageRecord
from pipeline.sql import insert_ignoring_duplicates
from pipeline.validation import Message

LEAD_CALL_OUTCOMES = {"keep": "continue", "change": "reassign", "abandon": "abandon"}
PHONE_CHARS = frozenset("0123456789+- ")


# ------------------------------------------------------------------ templates

def messages_of(wf: Workflow) -> Messages:
    if wf.messages is None:
        raise NotFound(f"workflow {wf.key} has no messages", code="no_messages")
    return wf.messages


def lang(locale: str | None) -> str:
    """The workflow language of a locale (``zh_Hans_CN`` and ``zh`` are ``zh_CN``)."""
    return "zh_CN" if (locale or "").startswith("zh") else "en"


def template_text(session: Session, wf: Workflow, key: str, locale: str) -> str:
    """The text of template ``key`` in ``locale``: a supervisor's edit, else the file's."""
    locale = lang(locale)
    edited = session.scalar(select(SmsTemplate.text).where(
        SmsTemplate.workflow_key == wf.key, SmsTemplate.key == key,
        SmsTemplate.locale == locale))
    if edited is not None:
        return edited
    return getattr(messages_of(wf).templates[key].text, locale)


@dataclass(frozen=True)
class TemplateCheck:
    """A template text checked: its problem (None when it is fine) and segments."""

    text: str
    problem: str | None
    segments: T.Segments


def check_template(wf: Workflow, template: MessageTemplate, text: str) -> TemplateCheck:
    """Whether ``text`` may be ``template``'s: every placeholder known, and an SMS within
    the workflow's segments (counted with each placeholder as written)."""
    problem = None
    if not text.strip():
        problem = "Write the text."
    else:
        try:
            T.check(text)
        except ValueError as exc:
            problem = f"The text {exc}."
    count = T.segments(text)
    limit = messages_of(wf).max_segments
    if problem is None and template.kind == "sms" and count.count > limit:
        problem = f"The SMS needs {count.count} segments; at most {limit} are allowed."
    return TemplateCheck(text, problem, count)


def save_template(session: Session, workflow_key: str, key: str, *, actor: User,
                  texts: Mapping[str, Any]) -> list[SmsTemplate]:
    """Store a supervisor's texts of template ``key`` (``texts``: locale -> text; a text
    equal to the file's removes the edit). Raises Forbidden for other roles, NotFound
    for an unknown template, Invalid naming each bad locale (nothing is saved). One
    transaction."""
    if actor.role not in ("supervisor", "admin"):
        raise Forbidden("only a supervisor edits message templates")
    wf = workflows.all_engines().get(workflow_key)
    wf = wf.workflow if wf is not None else None
    if wf is None or wf.messages is None or key not in wf.messages.templates:
        raise NotFound("no such template", code="unknown_template")
    template = wf.messages.templates[key]
    errors: dict[str, list] = {}
    for locale in texts:
        if locale not in LANGS:
            errors[locale] = [Message("Unknown language.")]
    for locale in LANGS:
        value = texts.get(locale)
        if value is None:
            continue
        if not isinstance(value, str):
            errors[locale] = [Message("Must be a text.")]
            continue
        problem = check_template(wf, template, value).problem
        if problem:
            errors[locale] = [problem]
    if errors:
        raise Invalid("the template is not valid: " + ", ".join(sorted(errors)),
                      details=errors)
    out = []
    with unit_of_work(session):
        now = clock.now()
        for locale in LANGS:
            value = texts.get(locale)
            if value is None:
                continue
            row = session.scalar(select(SmsTemplate).where(
                SmsTemplate.workflow_key == wf.key, SmsTemplate.key == key,
                SmsTemplate.locale == locale).with_for_update())
            if value == getattr(template.text, locale):
                if row is not None:
                    session.delete(row)
                continue
            if row is None:
                row = SmsTemplate(workflow_key=wf.key, key=key, locale=locale, text=value)
                session.add(row)
            row.text, row.updated_by_id, row.updated_at = value, actor.id, now
            out.append(row)
        session.flush()
    log_event("sms_template_saved", actor_id=actor.id, template=key)
    return out


# ------------------------------------------------------------------ filling in

def manager_phone(session: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    return session.scalar(select(SmsSender.phone).where(SmsSender.user_id == user_id))


def set_manager_phone(session: Session, user: User, phone: str) -> int:
    """Keep ``phone`` as the number ``user`` gives customers, and queue the ``auto`` SMS
    that waited for it (the branch's steps still open on the user's customers); caller's
    transaction. Returns how many were queued."""
    row = session.get(SmsSender, user.id)
    first = row is None
    if row is None:
        session.add(SmsSender(user_id=user.id, phone=phone, updated_at=clock.now()))
    else:
        row.phone, row.updated_at = phone, clock.now()
    if not first:
        return 0
    session.flush()
    auto = {s.key for e in workflows.all_engines().values() for st in e.workflow.stages
            for s in st.cadence if s.send == "auto"}
    waiting = list(session.scalars(select(CadenceTask.prospect_id).join(
        Prospect, Prospect.id == CadenceTask.prospect_id).where(
        Prospect.owner_id == user.id, Prospect.status == "active",
        Prospect.clock_no == CadenceTask.clock_no, CadenceTask.key.in_(auto),
        CadenceTask.done_at.is_(None)))) if auto else []
    return queue_auto_sms(session, waiting, clock.now()) if waiting else 0


def clean_phone(value: Any, field: str) -> str:
    """A phone number as typed (digits, +, -, spaces), or Invalid naming ``field``."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"{field} is required", details={field: [Message("Give a phone number.")]})
    value = value.strip()
    digits = sum(ch.isdigit() for ch in value)
    if not set(value) <= PHONE_CHARS or not 5 <= digits <= 20 or len(value) > 40:
        raise Invalid(f"{field} is not a phone number",
                      details={field: [Message("Not a phone number.")]})
    return value


def branch_name(wf: Workflow, locale: str) -> str:
    configured = current_app.config.get("PIPELINE_BRANCH_NAME") if has_app_context() else None
    return configured or messages_of(wf).branch.get(locale)


def values_for(session: Session, wf: Workflow, prospect: Prospect, locale: str, *,
               phone: str | None = None) -> dict[str, str]:
    """The placeholders' values for ``prospect`` in ``locale`` (``phone``: the manager's,
    when given rather than stored)."""
    msgs = messages_of(wf)
    locale = lang(locale)
    title = msgs.default_title.get(locale)
    if msgs.title_field:
        record = next(r for s in wf.stages for r in s.records if r.field(msgs.title_field))
        data = queries.records_of(session, [prospect.id])[prospect.id].get(record.key) or {}
        chosen = msgs.titles.get(str(data.get(msgs.title_field)))
        if chosen is not None:
            title = chosen.get(locale)
    owner = session.get(User, prospect.owner_id)
    lead = session.scalar(select(User).join(Team, Team.lead_id == User.id)
                          .where(Team.id == prospect.team_id)) if prospect.team_id else None
    return {"customer_name": prospect.name, "customer_title": title,
            "manager_name": owner.name if owner else "",
            "manager_phone": phone or manager_phone(session, prospect.owner_id) or "",
            "branch": branch_name(wf, locale), "lead_name": lead.name if lead else ""}


def render_template(session: Session, wf: Workflow, key: str, prospect: Prospect,
                    locale: str, *, phone: str | None = None) -> str:
    return T.render(template_text(session, wf, key, locale),
                    values_for(session, wf, prospect, locale, phone=phone))


def sms_locale(wf: Workflow) -> str:
    return messages_of(wf).locale


# ------------------------------------------------------------------ the outbox

def why_not_sendable(session: Session, prospect: Prospect, *,
                     phone: str | None = None) -> str | None:
    """Why no SMS can go to ``prospect`` now (``opted_out``, ``no_phone``,
    ``no_manager_phone``), or None."""
    if prospect.sms_opt_out:
        return "opted_out"
    if not prospect.phone:
        return "no_phone"
    if not (phone or manager_phone(session, prospect.owner_id)):
        return "no_manager_phone"
    return None


def step_key(prospect_id: int, step: str, clock_no: int) -> str:
    return f"sms:{prospect_id}:{step}:{clock_no}"


def queue_step(session: Session, prospect: Prospect, wf: Workflow, step: CadenceStep, *,
               actor: User | None, now: datetime, phone: str | None = None) -> int | None:
    """Write the SMS of ``step`` for the current visit to the outbox (caller's
    transaction). Returns its id; None when it cannot be sent or is queued already."""
    if why_not_sendable(session, prospect, phone=phone) is not None:
        return None
    locale = sms_locale(wf)
    body = render_template(session, wf, step.template, prospect, locale, phone=phone)
    return session.execute(insert_ignoring_duplicates(session, SmsMessage).values(
        prospect_id=prospect.id, owner_id=prospect.owner_id, team_id=prospect.team_id,
        sent_by_id=actor.id if actor else None, template=step.template, step=step.key,
        clock_no=prospect.clock_no, phone=prospect.phone, body=body,
        segments=T.segments(body).count, status="queued", attempts=0, next_attempt_at=now,
        dedupe_key=step_key(prospect.id, step.key, prospect.clock_no), created_at=now,
    ).returning(SmsMessage.id)).scalar()


def on_applied(session: Session, applied: events.Applied) -> None:
    """After every applied outcome: the SMS of the ``auto`` steps among the tasks it
    makes (a prospect created or allocated: the institution's SMS)."""
    if not applied.outcome.tasks:
        return
    wf = workflows.workflow(applied.prospect.workflow_key)
    if wf.messages is None:
        return
    steps = {s.key: s for s in wf.stage(applied.prospect.stage).cadence if s.send == "auto"}
    for task in applied.outcome.tasks:
        step = steps.get(task.key)
        if step is not None:
            queue_step(session, applied.prospect, wf, step, actor=None, now=applied.now)


def queue_auto_sms(session: Session, prospect_ids: list[int], now: datetime,
                   chunk: int = 5000) -> int:
    """The ``auto`` SMS of the current visit for prospects written in bulk (an import that
    allocates), as :func:`on_applied` queues them for one (caller's transaction). Reads a
    chunk of prospects and their managers' phones at a time; a manager without a phone
    makes no query per customer. Returns how many were queued."""
    queued = 0
    texts: dict[tuple[str, str, str], str] = {}
    for start in range(0, len(prospect_ids), chunk):
        rows = session.execute(select(
            Prospect.id, Prospect.workflow_key, Prospect.stage, Prospect.clock_no,
            Prospect.name, Prospect.phone, Prospect.owner_id, Prospect.team_id,
            Prospect.sms_opt_out).where(Prospect.id.in_(prospect_ids[start:start + chunk]))
        ).all()
        owners = {r.owner_id for r in rows}
        phones = dict(session.execute(select(SmsSender.user_id, SmsSender.phone).where(
            SmsSender.user_id.in_(owners))).all()) if owners else {}
        rows = [r for r in rows if r.phone and not r.sms_opt_out and r.owner_id in phones]
        if not rows:
            continue
        names = dict(session.execute(select(User.id, User.name).where(
            User.id.in_({r.owner_id for r in rows}))).all())
        values = []
        for r in rows:
            wf = workflows.workflow(r.workflow_key)
            if wf.messages is None:
                continue
            locale = sms_locale(wf)
            base = {"customer_name": r.name,
                    "customer_title": wf.messages.default_title.get(locale),
                    "manager_name": names.get(r.owner_id, ""),
                    "manager_phone": phones[r.owner_id], "branch": branch_name(wf, locale),
                    "lead_name": ""}
            for step in wf.stage(r.stage).cadence:
                if step.send != "auto":
                    continue
                key = (wf.key, step.template, locale)
                if key not in texts:
                    texts[key] = template_text(session, wf, step.template, locale)
                body = T.render(texts[key], base)
                values.append({
                    "prospect_id": r.id, "owner_id": r.owner_id, "team_id": r.team_id,
                    "template": step.template, "step": step.key, "clock_no": r.clock_no,
                    "phone": r.phone, "body": body, "segments": T.segments(body).count,
                    "status": "queued", "attempts": 0, "next_attempt_at": now,
                    "dedupe_key": step_key(r.id, step.key, r.clock_no), "created_at": now})
        if values:
            session.execute(insert_ignoring_duplicates(session, SmsMessage), values)
            queued += len(values)
    return queued


def register_hooks() -> None:
    events.after_apply(on_applied)
    events.after_apply(_close_resume_task)


def click_step(wf: Workflow, stage: str, key: str | None = None) -> CadenceStep:
    """The stage's step sent with a click (``key``, or the first such step)."""
    for step in wf.stage(stage).cadence:
        if step.send == "click" and (key is None or step.key == key):
            return step
    raise NotFound("this stage has no SMS to send", code="no_sms_step")


def step_task(session: Session, prospect: Prospect, step: CadenceStep) -> CadenceTask | None:
    return session.scalar(select(CadenceTask).where(
        CadenceTask.prospect_id == prospect.id, CadenceTask.key == step.key,
        CadenceTask.clock_no == prospect.clock_no))


@dataclass(frozen=True)
class Preview:
    step: CadenceStep
    text: str
    segments: T.Segments
    problem: str | None  # why it cannot be sent now
    queued: bool  # already in the outbox for this visit
    manager_phone: str | None


def preview_step(session: Session, prospect: Prospect, step_key_: str | None = None, *,
                 phone: str | None = None) -> Preview:
    """What the click step's SMS would say to ``prospect`` now, and whether it can go."""
    wf = workflows.workflow(prospect.workflow_key)
    step = click_step(wf, prospect.stage, step_key_)
    body = render_template(session, wf, step.template, prospect, sms_locale(wf), phone=phone)
    queued = session.scalar(select(SmsMessage.id).where(
        SmsMessage.dedupe_key == step_key(prospect.id, step.key, prospect.clock_no)))
    problem = why_not_sendable(session, prospect, phone=phone)
    if prospect.status != "active":
        problem = "not_active"
    return Preview(step, body, T.segments(body), problem, queued is not None,
                   phone or manager_phone(session, prospect.owner_id))


def send_step(session: Session, prospect_id: Any, *, actor: User, step: str | None = None,
              manager_phone_: Any = None, version: Any = None) -> SmsMessage:
    """The assignee's one click: the step's SMS to the outbox, now. ``manager_phone_``
    (optional) is kept as the actor's phone first. Raises NotFound, Forbidden (not the
    owner), Conflict (``sms_opt_out``, ``already_sent``, ``stale_version``, not active),
    Invalid naming ``phone`` (the customer has none) or ``manager_phone``. One
    transaction."""
    with unit_of_work(session):
        prospect = queries.get_visible(session, actor, prospect_id, for_update=True)
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise Invalid("version must be a whole number",
                          details={"version": [Message("Must be an integer.")]})
        if version is not None and version != prospect.version:
            raise Conflict("the prospect has changed", code="stale_version",
                           details={"current_version": prospect.version})
        if actor.id != prospect.owner_id:
            raise Forbidden("only the customer's manager sends the manager's SMS")
        if prospect.status != "active":
            raise Conflict("the prospect is not active", code="not_active")
        wf = workflows.workflow(prospect.workflow_key)
        cadence_step = click_step(wf, prospect.stage, step)
        if manager_phone_ not in (None, ""):
            set_manager_phone(session, actor, clean_phone(manager_phone_, "manager_phone"))
            session.flush()
        reason = why_not_sendable(session, prospect)
        if reason == "opted_out":
            raise Conflict("the customer asked not to be sent SMS", code="sms_opt_out")
        if reason == "no_phone":
            raise Invalid("the customer has no phone number",
                          details={"phone": [Message("The customer has no phone number.")]})
        if reason == "no_manager_phone":
            raise Invalid("give the phone number customers reach you on",
                          details={"manager_phone": [Message("Give a phone number.")]})
        task = step_task(session, prospect, cadence_step)
        if task is not None and task.done_at is not None:
            raise Conflict("this step is done already", code="already_sent")
        new_id = queue_step(session, prospect, wf, cadence_step, actor=actor, now=clock.now())
        if new_id is None:
            raise Conflict("this SMS is in the outbox already", code="already_sent")
        message = session.get(SmsMessage, new_id)
    log_event("sms_queued", prospect_id=prospect.id, sms_id=new_id, actor_id=actor.id,
              step=cadence_step.key)
    return message


# ------------------------------------------------------------------ steps done by a send

def set_record_field(session: Session, prospect: Prospect, wf: Workflow, field: str,
                     at: datetime, actor: User | None) -> bool:
    """Fill ``field`` of the current stage's record holding it with ``at`` when it is
    empty, and bring the cadence tasks up to date (caller's transaction, prospect
    locked). Returns whether it was filled. A field of another stage's record is left."""
    from pipeline.prospects.services import record_status, sync_cadence

    stage = wf.stage(prospect.stage)
    record = next((r for r in stage.records if r.field(field)), None)
    if record is None:
        return False
    row = session.scalar(select(StageRecord).where(
        StageRecord.prospect_id == prospect.id, StageRecord.record_key == record.key))
    if row is not None and (row.data or {}).get(field):
        return False
    if row is None:
        row = StageRecord(prospect_id=prospect.id, record_key=record.key, data={})
        session.add(row)
    merged = merge(row.data or {}, {field: at.isoformat()})
    status = record_status(workflows.engine(wf.key), record.key, merged)
    row.data, row.completeness, row.complete = merged, status.completeness, status.complete
    row.updated_at, row.updated_by_id = clock.now(), actor.id if actor else None
    sync_cadence(session, prospect, workflows.engine(wf.key), merged, actor, clock.now())
    return True


def mark_sent(session: Session, message_id: int, gateway_id: str, now: datetime) -> None:
    """The gateway took the message: it is sent, and its step done (caller's
    transaction)."""
    row = session.get(SmsMessage, message_id)
    session.execute(update(SmsMessage).where(SmsMessage.id == message_id)
                    .values(status="sent", sent_at=now, gateway_id=gateway_id,
                            last_error=None, next_attempt_at=now)
                    .execution_options(synchronize_session=False))
    if row is None or row.step is None:
        return
    prospect = session.scalar(select(Prospect).where(Prospect.id == row.prospect_id)
                              .with_for_update())
    if prospect is None or prospect.clock_no != row.clock_no or prospect.status == "lost":
        return
    wf = workflows.workflow(prospect.workflow_key)
    step = next((s for s in wf.stage(prospect.stage).cadence if s.key == row.step), None)
    if step is None or step.done_field is None:
        return
    sender = session.get(User, row.sent_by_id) if row.sent_by_id else None
    set_record_field(session, prospect, wf, step.done_field, now, sender)


# ------------------------------------------------------------------ callbacks

RECEIPT_STATUSES = ("delivered", "failed")


def record_receipt(session: Session, gateway_id: Any, status: Any,
                   error: Any = None) -> SmsMessage:
    """A delivery receipt: the message the gateway knows as ``gateway_id`` was
    ``delivered`` or ``failed`` (``error``: the platform's code). Idempotent. Raises
    Invalid naming the field, NotFound for an unknown message. One transaction."""
    if not isinstance(gateway_id, str) or not gateway_id.strip():
        raise Invalid("message_id is required", details={"message_id": [Message("Required.")]})
    if status not in RECEIPT_STATUSES:
        raise Invalid("status must be delivered or failed",
                      details={"status": [Message("Must be delivered or failed.")]})
    code = str(error)[:64] if error not in (None, "") else None
    with unit_of_work(session):
        row = session.scalar(select(SmsMessage).where(SmsMessage.gateway_id == gateway_id)
                             .with_for_update())
        if row is None:
            raise NotFound("no such message", code="unknown_message")
        now = clock.now()
        if status == "delivered" and row.status != "delivered":
            row.status, row.delivered_at = "delivered", now
        elif status == "failed" and row.status == "sent":
            row.status, row.failed_at, row.last_error = "failed", now, code or "undelivered"
    log_event("sms_receipt", sms_id=row.id, status=row.status)
    return row


def phone_forms(phone: str) -> set[str]:
    """The ways a mobile number may have been written: as given, its digits, and with or
    without China's country code (+86 / 86)."""
    given = phone.strip()
    digits = "".join(ch for ch in given if ch.isdigit())
    national = digits[2:] if digits.startswith("86") and len(digits) == 13 else digits
    return {given, digits, national, f"86{national}", f"+86{national}"} - {""}


def record_reply(session: Session, phone: Any, body: Any, *, gateway_id: Any = None,
                 received_at: Any = None) -> SmsReply:
    """A customer's SMS: kept, matched to the prospect last messaged at ``phone``, logged
    in the workflow's reply field (which cancels the steps waiting for no reply); an
    opt-out word opts the customer out. Idempotent by ``gateway_id``. One transaction."""
    if not isinstance(phone, str) or not phone.strip():
        raise Invalid("from is required", details={"from": [Message("Required.")]})
    if not isinstance(body, str):
        raise Invalid("text is required", details={"text": [Message("Required.")]})
    if gateway_id is not None and not isinstance(gateway_id, str):
        raise Invalid("message_id must be a text", details={"message_id": [Message("Text.")]})
    at = clock.now()
    if received_at not in (None, ""):
        try:
            at = min(clock.parse(str(received_at)), at)
        except ValueError:
            raise Invalid("received_at is not a date-time", details={
                "received_at": [Message("Not an ISO-8601 date-time.")]}) from None
    with unit_of_work(session):
        if gateway_id:
            known = session.scalar(select(SmsReply).where(SmsReply.gateway_id == gateway_id))
            if known is not None:
                return known
        pid = session.scalar(select(SmsMessage.prospect_id).where(
            SmsMessage.phone.in_(phone_forms(phone))).order_by(SmsMessage.created_at.desc(),
                                                        SmsMessage.id.desc()).limit(1))
        prospect = session.scalar(select(Prospect).where(Prospect.id == pid)
                                  .with_for_update()) if pid else None
        reply = SmsReply(prospect_id=pid, body=body[:2000], gateway_id=gateway_id or None,
                         received_at=at, created_at=clock.now())
        if prospect is not None:
            reply.owner_id, reply.team_id = prospect.owner_id, prospect.team_id
            wf = workflows.workflow(prospect.workflow_key)
            msgs = wf.messages
            if msgs is not None:
                words = {w.casefold() for w in msgs.opt_out_words}
                if body.strip().casefold() in words:
                    reply.opt_out = True
                    prospect.sms_opt_out = True
                    prospect.updated_at = clock.now()
                if msgs.reply_field and prospect.status in ("active", "paused"):
                    set_record_field(session, prospect, wf, msgs.reply_field, at, None)
        session.add(reply)
        events.flush_or_conflict(session)
    log_event("sms_reply", reply_id=reply.id, prospect_id=reply.prospect_id,
              opt_out=reply.opt_out)
    return reply


def set_opt_out(session: Session, prospect_id: Any, *, actor: User, opt_out: Any) -> Prospect:
    """The customer asked (or no longer asks) not to be sent SMS. Raises NotFound
    outside the actor's scope, Invalid naming ``opt_out``. One transaction."""
    with unit_of_work(session):
        prospect = queries.get_visible(session, actor, prospect_id, for_update=True)
        if not isinstance(opt_out, bool):
            raise Invalid("opt_out must be true or false",
                          details={"opt_out": [Message("Must be true or false.")]})
        prospect.sms_opt_out = opt_out
        prospect.updated_at = clock.now()
        events.flush_or_conflict(session)
    log_event("sms_opt_out", prospect_id=prospect.id, actor_id=actor.id, opt_out=opt_out)
    return prospect


# ------------------------------------------------------------------ the lead's call

def lead_call_task(session: Session, actor: User, task_id: Any) -> tuple[CadenceTask, Prospect]:
    """The lead's call task ``task_id`` and its prospect, if the actor may see them."""
    from pipeline.escalations.services import LEAD_CALL

    task = session.get(CadenceTask, parse_id(task_id, "task"))
    if task is None or task.key != LEAD_CALL:
        raise NotFound("no such call task", code="unknown_task")
    return task, queries.get_visible(session, actor, task.prospect_id)


def record_lead_call(session: Session, task_id: Any, *, actor: User, outcome: Any,
                     new_owner: Any = None, note: Any = None) -> CadenceTask:
    """The lead's call is made: ``outcome`` ``keep`` (the manager keeps the customer:
    the escalation's *continue*), ``change`` (``new_owner`` takes the customer over: the
    escalation's *reassign*) or ``abandon`` (the escalation's *abandon*, ``note`` the
    reason), decided through :func:`decide_escalation` in the same transaction as the
    task's outcome. When the escalation was decided already, only ``keep`` is recorded.
    Raises what decide_escalation raises; Forbidden for a manager. One transaction."""
    from pipeline.escalations.models import Escalation
    from pipeline.escalations.services import STAGE_KINDS, decide_escalation

    task, prospect = lead_call_task(session, actor, task_id)
    if actor.role == "manager":
        raise Forbidden("this task is the team lead's")
    if outcome not in LEAD_CALL_OUTCOMES:
        raise Invalid("outcome must be keep, change or abandon",
                      details={"outcome": [Message("Must be keep, change or abandon.")]})
    if note is not None and not isinstance(note, str):
        raise Invalid("note must be a text", details={"note": [Message("Must be a text.")]})
    if task.done_at is not None:
        raise Conflict("the call's outcome is recorded already", code="already_done")
    esc_id = session.scalar(select(Escalation.id).where(
        Escalation.prospect_id == prospect.id, Escalation.status == "open",
        Escalation.kind.in_(STAGE_KINDS), Escalation.clock_no == task.clock_no))
    now = clock.now()
    task.done_at, task.done_by_id, task.outcome = now, actor.id, outcome
    if esc_id is None:
        if outcome != "keep":
            session.rollback()
            raise Conflict("the escalation has been decided already", code="already_decided")
        with unit_of_work(session):
            pass
    else:
        try:
            decide_escalation(session, esc_id, actor=actor,
                              decision=LEAD_CALL_OUTCOMES[outcome], new_owner=new_owner,
                              note=note)
        except Exception:
            session.rollback()
            raise
    log_event("lead_call", task_id=task.id, prospect_id=prospect.id, actor_id=actor.id,
              outcome=outcome)
    return task


def lead_call_script(session: Session, prospect: Prospect, locale: str) -> str | None:
    """The lead's call script filled in for ``prospect``, or None without one."""
    wf = workflows.workflow(prospect.workflow_key)
    key = wf.escalation.lead_call_script
    if key is None or wf.messages is None:
        return None
    return render_template(session, wf, key, prospect, locale)


def step_script(session: Session, prospect: Prospect, step: CadenceStep,
                locale: str) -> str | None:
    """The script of a step's call, filled in, or None."""
    wf = workflows.workflow(prospect.workflow_key)
    if step.template is None or wf.messages is None \
            or wf.messages.templates[step.template].kind != "script":
        return None
    return render_template(session, wf, step.template, prospect, locale)


# ------------------------------------------------------------------ annoyance: a pause

RESUME_CONTACT = "resume_contact"  # the task of contact resuming after a pause
MAX_PAUSE = timedelta(days=366)


def _until(value: Any, now: datetime) -> datetime:
    if isinstance(value, datetime):
        moment = clock.as_utc(value)
    elif isinstance(value, str) and value.strip():
        try:
            moment = clock.parse(value if "T" in value else f"{value.strip()}T00:00:00+08:00")
        except ValueError:
            raise Invalid("until is not a date", details={
                "until": [Message("Not an ISO-8601 date or date-time.")]}) from None
    else:
        raise Invalid("until is required", details={"until": [Message("Give a date.")]})
    if not now < moment <= now + MAX_PAUSE:
        raise Invalid("until must be after now and within a year", details={
            "until": [Message("Must be after now and within a year.")]})
    return moment


def pause_contact(session: Session, prospect_id: Any, *, actor: User, until: Any,
                  reason: Any) -> Prospect:
    """The customer showed annoyance (seed 004: pause, then contact again at a suitable
    time): the ``pause`` event through the one event path, its history row saying
    ``until`` when, and a task for the owner due then; when it comes the worker resumes
    the prospect (:func:`resume_due`). Raises NotFound, Invalid naming ``until`` or
    ``reason``, or the engine's refusal (e.g. a prospect not active). One transaction."""
    from pipeline.engine.machine import EngineError
    from pipeline.prospects.services import load_records, state_of

    now = clock.now()
    with unit_of_work(session):
        prospect = queries.get_visible(session, actor, prospect_id, for_update=True)
        moment = _until(until, now)
        if not isinstance(reason, str) or not reason.strip():
            raise Invalid("reason is required",
                          details={"reason": [Message("Give a reason.")]})
        engine = workflows.engine(prospect.workflow_key)
        try:
            outcome = engine.fire(state_of(prospect), "pause", now=now,
                                  records=load_records(session, prospect), reason=reason)
        except EngineError as exc:
            raise Invalid(exc.message, code=exc.code) from None
        outcome = replace(outcome, data={"until": moment.isoformat()})
        events.apply(session, prospect, outcome, actor=actor, now=now)
        task = session.scalar(select(CadenceTask).where(
            CadenceTask.prospect_id == prospect.id, CadenceTask.key == RESUME_CONTACT,
            CadenceTask.clock_no == prospect.clock_no))
        if task is None:
            session.add(CadenceTask(prospect_id=prospect.id, key=RESUME_CONTACT,
                                    assignee_kind="owner", assignee_id=prospect.owner_id,
                                    clock_no=prospect.clock_no, due_at=moment, created_at=now))
        else:
            task.due_at, task.done_at, task.done_by_id, task.reminded_at = \
                moment, None, None, None
        events.flush_or_conflict(session)
    return prospect


def _close_resume_task(session: Session, applied: events.Applied) -> None:
    """A resumed (or ended) prospect's pause task is done."""
    if applied.outcome.from_status == "paused" and applied.outcome.to_status != "paused":
        session.execute(update(CadenceTask).where(
            CadenceTask.prospect_id == applied.prospect.id,
            CadenceTask.key == RESUME_CONTACT, CadenceTask.done_at.is_(None))
            .values(done_at=applied.now).execution_options(synchronize_session=False))


def resume_due(session: Session, now: datetime | None = None) -> int:
    """Resume the prospects whose pause for annoyance has reached its date (the
    ``resume`` event through the one path, by nobody); one transaction each. Returns
    how many were resumed."""
    from pipeline.prospects.services import state_of

    now = now or clock.now()
    due = session.execute(select(CadenceTask.id, CadenceTask.prospect_id).join(
        Prospect, Prospect.id == CadenceTask.prospect_id).where(
        CadenceTask.key == RESUME_CONTACT, CadenceTask.done_at.is_(None),
        CadenceTask.due_at <= now, Prospect.status == "paused",
        Prospect.clock_no == CadenceTask.clock_no).limit(500)).all()
    session.rollback()
    resumed = 0
    for _task_id, pid in due:
        with unit_of_work(session):
            prospect = session.scalar(select(Prospect).where(Prospect.id == pid)
                                      .with_for_update(skip_locked=True))
            if prospect is None or prospect.status != "paused":
                continue
            outcome = workflows.engine(prospect.workflow_key).fire(
                state_of(prospect), "resume", now=now)
            events.apply(session, prospect, outcome, actor=None, now=now)
            resumed += 1
        log_event("contact_resumed", prospect_id=pid)
    return resumed


# ------------------------------------------------------------------ the branch's queue

@dataclass(frozen=True)
class BranchItem:
    task_id: int
    prospect_id: int
    name: str
    owner: str
    due_at: datetime
    message_id: int | None
    status: str  # queued | failed | sent | delivered | not_sent
    attempts: int
    last_error: str | None  # the gateway's code, or why it was not sent


def branch_queue(session: Session, viewer: User, *, limit: int = 200) -> list[BranchItem]:
    """The branch's open steps (assignee ``institution``) of current visits of active
    prospects in the viewer's scope, oldest first, with the state of their SMS."""
    t = CadenceTask
    stmt = (select(t.id, t.due_at, Prospect.id, Prospect.name, Prospect.phone,
                   Prospect.sms_opt_out, Prospect.owner_id, User.name, SmsMessage.id,
                   SmsMessage.status, SmsMessage.attempts, SmsMessage.last_error)
            .join(Prospect, Prospect.id == t.prospect_id)
            .join(User, User.id == Prospect.owner_id)
            .outerjoin(SmsMessage, SmsMessage.dedupe_key == (
                literal("sms:", String) + cast(t.prospect_id, String) + literal(":", String)
                + t.key + literal(":", String) + cast(t.clock_no, String)))
            .where(t.assignee_kind == "institution", t.done_at.is_(None),
                   Prospect.status == "active", Prospect.clock_no == t.clock_no)
            .order_by(t.due_at, t.id).limit(limit))
    if viewer.role == "team_lead":
        stmt = stmt.where(Prospect.team_id == viewer.team_id)
    elif viewer.role not in ("supervisor", "admin"):
        stmt = stmt.where(Prospect.owner_id == viewer.id)
    senders = set(session.scalars(select(SmsSender.user_id)))
    out = []
    for (tid, due, pid, name, phone, opted, owner_id, owner, mid, status, attempts,
         error) in session.execute(stmt):
        if mid is None:
            error = ("opted_out" if opted else "no_phone" if not phone
                     else "no_manager_phone" if owner_id not in senders else None)
        out.append(BranchItem(tid, pid, name, owner, due, mid, status or "not_sent",
                              attempts or 0, error))
    return out


def retry_message(session: Session, message_id: Any, *, actor: User) -> SmsMessage:
    """A failed SMS is queued again (a supervisor's decision). One transaction."""
    if actor.role not in ("supervisor", "admin"):
        raise Forbidden("only a supervisor queues a failed SMS again")
    with unit_of_work(session):
        row = session.scalar(select(SmsMessage).where(
            SmsMessage.id == parse_id(message_id, "message")).with_for_update())
        if row is None:
            raise NotFound("no such message", code="unknown_message")
        if row.status != "failed":
            raise Conflict("only a failed message is queued again", code="not_failed")
        row.status, row.attempts, row.next_attempt_at = "queued", 0, clock.now()
        row.failed_at = None
    log_event("sms_retry", sms_id=row.id, actor_id=actor.id)
    return row
