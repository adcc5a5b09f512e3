"""The messages pages and API: the manager's SMS from the card (preview, one click), the
customer's opt-out, the template editor, the lead's call, the touch report, and the SMS
gateway's signed callbacks (delivery receipts, replies)."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from pipeline import clock, workflows
from pipeline.auth.models import Team, User
from pipeline.auth.services import user_for_token
from pipeline.auth.views import safe_next
from pipeline.db import get_session, reports_session
from pipeline.engine.definition import LANGS
from pipeline.errors import BadRequest, Forbidden, Invalid, NotFound, ServiceError, Unauthorized
from pipeline.escalations import scheduler
from pipeline.forms import options
from pipeline.messages import outbox, reports, services
from pipeline.messages import text as T
from pipeline.messages.cards import CardMarks
from pipeline.messages.forms import (
    LeadCallForm,
    OptOutForm,
    PauseForm,
    SendSmsForm,
    TemplateForm,
)
from pipeline.messages.gateways import verify
from pipeline.messages.models import SmsMessage
from pipeline.prospects import presenters as P
from pipeline.prospects import queries
from pipeline.prospects.privacy import mask
from pipeline.reports.forms import ALL_TEAMS, chosen_team
from pipeline.web import csrf

bp = Blueprint("messages", __name__)
api = Blueprint("messages_api", __name__, url_prefix="/api/v1")
EDITORS = ("supervisor", "admin")
DECIDERS = ("team_lead", "supervisor", "admin")


def init_app(app: Flask) -> None:
    """The pages, the API, and the hook that queues the SMS of every applied outcome."""
    services.register_hooks()
    P.CARD_PARTS["sms"] = CardMarks  # the opt-out note, or the manager's SMS button
    scheduler.DELIVERIES["sms"] = outbox.deliver
    app.register_blueprint(bp)
    app.register_blueprint(api)
    csrf.exempt(api)  # bearer tokens and signed callbacks, never the session cookie


def _problem_text(code: str | None) -> str | None:
    return {
        None: None,
        "opted_out": _("The customer asked not to be sent SMS."),
        "no_phone": _("The customer has no phone number."),
        "no_manager_phone": _("Give the phone number customers reach you on."),
        "not_active": _("The prospect is not active."),
    }.get(code, code)


def _error_text(exc: ServiceError) -> str:
    if exc.code == "sms_opt_out":
        return _("The customer asked not to be sent SMS.")
    if exc.code == "already_sent":
        return _("This SMS has been sent already.")
    if exc.code == "already_decided":
        return _("This escalation has been decided already.")
    if exc.details:
        fields = [k for k in exc.details if k != "current_version"]
        if "manager_phone" in fields:
            if "Not a phone number." in exc.details["manager_phone"]:
                return _("%(value)s is not a phone number.", value=_("Your phone number for customers"))
            return _("Give the phone number customers reach you on.")
        if "phone" in fields:
            return _("The customer has no phone number.")
        if fields:
            return _("Please check: %(fields)s", fields=", ".join(sorted(fields)))
    return exc.message


# ---------------------------------------------------------------- the manager's SMS

@bp.route("/prospects/<int:prospect_id>/sms", methods=["GET", "POST"])
@login_required
def send_sms(prospect_id: int):
    session = get_session()
    prospect = queries.get_visible(session, current_user, prospect_id)
    form = SendSmsForm()
    back = safe_next(request.values.get("next"))
    if request.method == "POST" and form.validate_on_submit():
        try:
            version = int(form.version.data) if (form.version.data or "").isdigit() else None
            services.send_step(session, prospect_id, actor=current_user,
                               manager_phone_=form.manager_phone.data or None, version=version)
        except ServiceError as exc:
            session.rollback()
            flash(_error_text(exc), "error")
            prospect = queries.get_visible(session, current_user, prospect_id)
        else:
            flash(_("The SMS to %(name)s is on its way.", name=prospect.name), "success")
            return redirect(back)
    try:
        preview = services.preview_step(session, prospect)
    except NotFound:
        abort(404)
    form.version.data = str(prospect.version)
    form.next.data = back
    wf = workflows.workflow(prospect.workflow_key)
    return render_template(
        "messages/send.html", prospect=prospect, preview=preview, form=form, back=back,
        problem=_problem_text(preview.problem), phone=mask(prospect.phone),
        step_name=preview.step.name.get(_locale()), max_segments=wf.messages.max_segments,
        mine=current_user.id == prospect.owner_id, opt_form=OptOutForm(),
        pause_form=PauseForm(formdata=None, next=back))


@bp.route("/prospects/<int:prospect_id>/pause-contact", methods=["POST"])
@login_required
def pause(prospect_id: int):
    form = PauseForm()
    back = safe_next(form.next.data)
    if not form.validate_on_submit():
        abort(400)
    session = get_session()
    queries.get_visible(session, current_user, prospect_id)  # 404 outside the scope
    try:
        services.pause_contact(session, prospect_id, actor=current_user,
                               until=form.until.data, reason=form.reason.data)
    except ServiceError as exc:
        session.rollback()
        flash(_pause_error(exc), "error")
        return redirect(url_for(".send_sms", prospect_id=prospect_id, next=back))
    flash(_("Contact is paused until %(day)s.", day=form.until.data), "success")
    return redirect(back)


def _pause_error(exc: ServiceError) -> str:
    if "until" in exc.details:
        return _("Choose a day after today and within a year.")
    if "reason" in exc.details:
        return _("Write what the customer said.")
    return _("Contact cannot be paused now.")


@bp.route("/prospects/<int:prospect_id>/sms-opt-out", methods=["POST"])
@login_required
def opt_out(prospect_id: int):
    form = OptOutForm()
    back = safe_next(form.next.data)
    if not form.validate_on_submit():
        abort(400)
    session = get_session()
    queries.get_visible(session, current_user, prospect_id)  # 404 outside the scope
    try:
        services.set_opt_out(session, prospect_id, actor=current_user,
                             opt_out=form.opt_out.data == "1")
    except ServiceError as exc:
        session.rollback()
        flash(_error_text(exc), "error")
    else:
        flash(_("Saved."), "success")
    return redirect(back)


def _locale() -> str:
    from pipeline.web import current_locale

    return current_locale()


# ---------------------------------------------------------------- templates

@bp.route("/messages/templates")
@login_required
def templates():
    if current_user.role not in EDITORS:
        abort(403)
    session = get_session()
    items = []
    for key, engine in sorted(workflows.all_engines().items()):
        wf = engine.workflow
        if wf.messages is None:
            continue
        for template in wf.messages.templates.values():
            texts = {loc: services.template_text(session, wf, template.key, loc)
                     for loc in LANGS}
            items.append({"workflow": wf, "template": template, "texts": texts,
                          "segments": {loc: T.segments(t) for loc, t in texts.items()},
                          "edited": any(texts[loc] != getattr(template.text, loc)
                                        for loc in LANGS)})
    return render_template("messages/templates.html", items=items)


@bp.route("/messages/templates/<workflow_key>/<key>", methods=["GET", "POST"])
@login_required
def edit_template(workflow_key: str, key: str):
    if current_user.role not in EDITORS:
        abort(403)
    engine = workflows.all_engines().get(workflow_key)
    wf = engine.workflow if engine else None
    if wf is None or wf.messages is None or key not in wf.messages.templates:
        abort(404)
    template = wf.messages.templates[key]
    session = get_session()
    form = TemplateForm()
    errors: dict[str, list] = {}
    if request.method == "GET":
        form.zh_CN.data = services.template_text(session, wf, key, "zh_CN")
        form.en.data = services.template_text(session, wf, key, "en")
    elif form.validate_on_submit():
        texts = {"zh_CN": form.zh_CN.data or "", "en": form.en.data or ""}
        if form.action.data == "reset":
            texts = {loc: getattr(template.text, loc) for loc in LANGS}
        if form.action.data in ("save", "reset"):
            try:
                services.save_template(session, wf.key, key, actor=current_user, texts=texts)
            except Invalid as exc:
                session.rollback()
                errors = exc.details or {}
            else:
                flash(_("The template is saved."), "success")
                return redirect(url_for(".templates"))
    checks = {loc: services.check_template(wf, template, getattr(form, loc).data or "")
              for loc in LANGS}
    return render_template("messages/edit_template.html", wf=wf, template=template, form=form,
                           checks=checks, errors=errors, placeholders=_placeholders(),
                           max_segments=wf.messages.max_segments)


def _placeholders() -> list[str]:
    from pipeline.engine.definition import PLACEHOLDERS

    return list(PLACEHOLDERS)


# ---------------------------------------------------------------- the branch's queue

@bp.route("/messages/branch-queue")
@login_required
def branch_queue():
    if current_user.role not in DECIDERS:
        abort(403)
    items = services.branch_queue(get_session(), current_user)
    return render_template("messages/branch_queue.html", items=items,
                           reason=_problem_text, form=OptOutForm())


@bp.route("/messages/sms/<int:message_id>/retry", methods=["POST"])
@login_required
def retry(message_id: int):
    form = OptOutForm()
    if not form.validate_on_submit():
        abort(400)
    session = get_session()
    try:
        services.retry_message(session, message_id, actor=current_user)
    except ServiceError as exc:
        session.rollback()
        flash(_error_text(exc), "error")
    else:
        flash(_("The SMS is queued again."), "success")
    return redirect(url_for(".branch_queue"))


# ---------------------------------------------------------------- the lead's call

def _team_managers(session, prospect) -> list[tuple[int, str]]:
    return [(u.id, u.name) for u in session.scalars(
        select(User).where(User.team_id == prospect.team_id, User.role == "manager",
                           User.active.is_(True), User.id != prospect.owner_id)
        .order_by(User.name))]


@bp.route("/messages/lead-calls/<int:task_id>", methods=["GET", "POST"])
@login_required
def lead_call(task_id: int):
    if current_user.role not in DECIDERS:
        abort(403)
    session = get_session()
    try:
        task, prospect = services.lead_call_task(session, current_user, task_id)
    except NotFound:
        abort(404)
    form = LeadCallForm()
    form.new_owner.choices = options([(0, "—"), *_team_managers(session, prospect)])
    if request.method == "POST" and form.validate_on_submit():
        try:
            services.record_lead_call(session, task_id, actor=current_user,
                                      outcome=form.outcome.data,
                                      new_owner=form.new_owner.data or None,
                                      note=form.note.data or None)
        except ServiceError as exc:
            session.rollback()
            flash(_error_text(exc), "error")
        else:
            flash(_("The call's outcome is recorded."), "success")
            return redirect(url_for("escalations.queue"))
        task, prospect = services.lead_call_task(session, current_user, task_id)
    script = services.lead_call_script(session, prospect, _locale())
    policy = workflows.workflow(prospect.workflow_key).escalation
    window_end = task.due_at + timedelta(
        days=policy.lead_call_within_days - policy.lead_call_after_days)
    return render_template("messages/lead_call.html", task=task, prospect=prospect,
                           form=form, script=script, window_end=window_end)


# ---------------------------------------------------------------- report



@bp.route("/reports/messages")
@login_required
def report():
    """The touch report. It opens on the current month (from its first day to today, in
    the bank's time zone); empty days show every touch. A supervisor sees one team's
    managers at a time (their own team, else the first), or the per-team table of the
    whole branch (``team=all``)."""
    args = request.args
    if "from" in args or "to" in args:
        shown = (args.get("from", ""), args.get("to", ""))
    else:
        today = clock.now().astimezone(ZoneInfo(workflows.workflow().timezone)).date()
        shown = (today.replace(day=1).isoformat(), today.isoformat())
    start, end, bad = _period(*shown)
    if bad:
        flash(_("That period is not valid; showing every touch."), "error")
        shown = ("", "")
    viewer = current_user._get_current_object()
    session = reports_session()
    teams, team, everyone = [], None, False
    if viewer.role in ("supervisor", "admin"):
        teams = list(session.scalars(select(Team).order_by(Team.name, Team.id)))
        team, everyone = chosen_team(teams, args.get("team"), viewer.team_id)
    data = reports.touch_report(session, viewer, start=start, end=end,
                                team_id=team.id if team else None)
    return render_template("messages/report.html", data=data, start=shown[0], end=shown[1],
                           teams=teams, team=team, everyone=everyone, all_teams=ALL_TEAMS)


def _period(start: str | None, end: str | None) -> tuple[Any, Any, bool]:
    """The report's period from two days (the bank's time zone), the end day included."""
    from datetime import date, datetime

    zone = ZoneInfo(workflows.workflow().timezone)
    try:
        days = [date.fromisoformat(v) if v else None for v in (start, end)]
    except ValueError:
        return None, None, True
    moments = [datetime.combine(d, datetime.min.time(), zone) if d else None for d in days]
    if moments[1] is not None:
        moments[1] += timedelta(days=1)
    if all(moments) and moments[0] >= moments[1]:
        return None, None, True
    return moments[0], moments[1], False


# ---------------------------------------------------------------- the JSON API

@api.before_request
def _authenticate() -> None:
    if request.endpoint in ("messages_api.receipt", "messages_api.inbound"):
        _check_signature()
        return
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send Authorization: Bearer <token>")
    user = user_for_token(get_session(), token.strip())
    if user is None:
        raise Unauthorized("the token is not valid")
    g.api_user = user


def _check_signature() -> None:
    secret = current_app.config.get("PIPELINE_SMS_SECRET")
    if not verify(secret, request.headers.get("X-Timestamp"),
                  request.headers.get("X-Signature"), request.get_data(cache=True)):
        raise Unauthorized("the callback is not signed with the gateway's secret",
                           code="bad_signature")


def _body() -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise BadRequest("the body is not valid JSON", code="malformed_json") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code="malformed_json")
    return body


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def _message_json(m: SmsMessage, *, show_phone: bool) -> dict[str, Any]:
    return {"id": m.id, "prospect_id": m.prospect_id, "step": m.step, "template": m.template,
            "status": m.status, "attempts": m.attempts, "segments": m.segments,
            "phone": m.phone if show_phone else mask(m.phone), "text": m.body,
            "last_error": m.last_error, "created_at": _iso(m.created_at),
            "sent_at": _iso(m.sent_at),
            "delivered_at": _iso(m.delivered_at)}


@api.get("/prospects/<int:prospect_id>/sms/preview")
def preview_api(prospect_id: int):
    session = get_session()
    prospect = queries.get_visible(session, g.api_user, prospect_id)
    p = services.preview_step(session, prospect, request.args.get("step") or None)
    return jsonify({"step": p.step.key, "text": p.text, **p.segments.as_dict(),
                    "problem": p.problem, "queued": p.queued})


@api.post("/prospects/<int:prospect_id>/sms")
def send_api(prospect_id: int):
    body = _body()
    m = services.send_step(get_session(), prospect_id, actor=g.api_user,
                           step=body.get("step"), manager_phone_=body.get("manager_phone"),
                           version=body.get("version"))
    return jsonify(_message_json(m, show_phone=True)), 201


@api.get("/prospects/<int:prospect_id>/sms")
def list_api(prospect_id: int):
    session = get_session()
    prospect = queries.get_visible(session, g.api_user, prospect_id)
    from pipeline.prospects.privacy import sees_personal_data

    show = sees_personal_data(g.api_user, prospect)
    rows = session.scalars(select(SmsMessage).where(SmsMessage.prospect_id == prospect.id)
                           .order_by(SmsMessage.created_at, SmsMessage.id))
    return jsonify({"items": [_message_json(m, show_phone=show) for m in rows],
                    "opt_out": prospect.sms_opt_out})


@api.put("/prospects/<int:prospect_id>/sms-opt-out")
def opt_out_api(prospect_id: int):
    p = services.set_opt_out(get_session(), prospect_id, actor=g.api_user,
                             opt_out=_body().get("opt_out"))
    return jsonify({"id": p.id, "opt_out": p.sms_opt_out})


@api.post("/prospects/<int:prospect_id>/pause-contact")
def pause_api(prospect_id: int):
    body = _body()
    p = services.pause_contact(get_session(), prospect_id, actor=g.api_user,
                               until=body.get("until"), reason=body.get("reason"))
    return jsonify({"id": p.id, "status": p.status, "version": p.version})


@api.post("/tasks/<int:task_id>/lead-call")
def lead_call_api(task_id: int):
    body = _body()
    task = services.record_lead_call(get_session(), task_id, actor=g.api_user,
                                     outcome=body.get("outcome"),
                                     new_owner=body.get("new_owner"), note=body.get("note"))
    return jsonify({"id": task.id, "outcome": task.outcome,
                    "done_at": _iso(task.done_at)})


@api.get("/message-templates")
def templates_api():
    session = get_session()
    out = []
    for key, engine in sorted(workflows.all_engines().items()):
        wf = engine.workflow
        if wf.messages is None:
            continue
        for t in wf.messages.templates.values():
            texts = {loc: services.template_text(session, wf, t.key, loc) for loc in LANGS}
            out.append({"workflow": key, "key": t.key, "kind": t.kind, "text": texts,
                        "segments": {loc: T.segments(v).as_dict() for loc, v in texts.items()}})
    return jsonify({"items": out})


@api.put("/message-templates/<workflow_key>/<key>")
def save_template_api(workflow_key: str, key: str):
    body = _body()
    services.save_template(get_session(), workflow_key, key, actor=g.api_user,
                           texts=body.get("text") if isinstance(body.get("text"), dict)
                           else {})
    wf = workflows.workflow(workflow_key)
    texts = {loc: services.template_text(get_session(), wf, key, loc) for loc in LANGS}
    return jsonify({"workflow": workflow_key, "key": key, "text": texts,
                    "segments": {loc: T.segments(v).as_dict() for loc, v in texts.items()}})


@api.get("/reports/messages")
def report_api():
    args = request.args
    try:
        start = clock.parse(args["from"]) if args.get("from") else None
        end = clock.parse(args["to"]) if args.get("to") else None
    except ValueError:
        raise Invalid("from and to are ISO-8601 date-times", details={
            "from": ["Not an ISO-8601 date-time."]}) from None
    team = args.get("team")
    team_id = None
    if team:
        if not team.isdigit() or len(team) > 9:
            raise Invalid("team is a team id", details={"team": ["Must be a team id."]})
        team_id = int(team)
        if get_session().get(Team, team_id) is None:
            raise Invalid("no such team", details={"team": ["Unknown team."]})
    if g.api_user.role == "manager" and team_id is not None:
        raise Forbidden("a manager sees their own figures")
    return jsonify(reports.touch_report(reports_session(), g.api_user, start=start, end=end,
                                        team_id=team_id))


@api.post("/sms/receipts")
def receipt():
    body = _body()
    m = services.record_receipt(get_session(), body.get("message_id"), body.get("status"),
                                body.get("error"))
    return jsonify({"id": m.id, "status": m.status})


@api.post("/sms/inbound")
def inbound():
    body = _body()
    r = services.record_reply(get_session(), body.get("from"), body.get("text"),
                              gateway_id=body.get("message_id"),
                              received_at=body.get("received_at"))
    return jsonify({"id": r.id, "prospect_id": r.prospect_id, "opt_out": r.opt_out}), 201


# ---------------------------------------------------------------- the prospect page

@bp.app_context_processor
def _prospect_page_helpers() -> dict[str, Any]:
    return {"message_links": message_links}


def message_links(prospect: Any, task: Any, step: Any) -> dict[str, Any]:
    """What the prospect page's task shows of messages: the call's script, and a link to
    send the step's SMS or to record the lead's call."""
    from pipeline.escalations.services import LEAD_CALL

    out: dict[str, Any] = {"script": None, "url": None, "label": None}
    if task.done_at is not None or task.clock_no != prospect.clock_no \
            or prospect.status != "active":
        return out
    session = get_session()
    if step is not None and step.template:
        if step.send == "click" and current_user.id == prospect.owner_id:
            out.update(url=url_for("messages.send_sms", prospect_id=prospect.id,
                                   next=url_for("prospects.detail", prospect_id=prospect.id)),
                       label=_("Send the SMS"))
        elif step.send is None:
            out["script"] = services.step_script(session, prospect, step, _locale())
    elif task.key == LEAD_CALL and current_user.role in DECIDERS:
        out.update(url=url_for("messages.lead_call", task_id=task.id),
                   label=_("Call the customer"))
    return out
