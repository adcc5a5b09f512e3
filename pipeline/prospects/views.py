"""The customer manager's workspace: the board, the prospect page, my day.

Views are thin: parse the request (a form or the board's filters), call one service or
query, and render what :mod:`pipeline.prospects.presenters` makes of the answer. Every
move goes through the same services as the API (``advance_prospect``), so no path skips a
guard. Requests sent by the board's script (``X-Requested-With: fetch``) get JSON or an
HTML fragment instead of a redirect; everything also works as plain forms.
"""
from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from pipeline import workflows
from pipeline.auth.models import Team
from pipeline.auth.views import safe_next
from pipeline.db import get_session
from pipeline.engine.definition import EVENTS, TIERS, Workflow
from pipeline.errors import MAX_ID, Conflict, Invalid, ServiceError
from pipeline.prospects import forms as F
from pipeline.prospects import presenters as P
from pipeline.prospects import queries, services
from pipeline.prospects.privacy import sees_personal_data
from pipeline.prospects.schemas import FireEvent
from pipeline.validation import load
from pipeline.web import current_locale, require_sign_in

bp = Blueprint("prospects", __name__)

COLUMN_LIMIT_MAX = 1000
STATUS_FILTERS = ("open", "active", "paused", "won", "lost")


require_sign_in(bp)


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return P.template_helpers()


def is_fetch() -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


# ---------------------------------------------------------------- the board

def board_filters() -> dict[str, Any]:
    args = request.args
    status = args.get("status", "open")
    tier = args.get("tier") or None
    return {"owner": (args.get("owner") or "").strip() or None,
            "team": board_team(args),
            "tier": tier if tier in TIERS else None,
            "status": status if status in STATUS_FILTERS else "open",
            "overdue": args.get("overdue") in ("1", "on", "true"),
            "q": (args.get("q") or "").strip()[:100] or None,
            # Which workflow's cases the board shows (its columns are that workflow's
            # stages); None: the customer workflow.
            "workflow": args.get("workflow") if args.get("workflow") in workflows.all_engines()
            and args.get("workflow") != workflows.DEFAULT_KEY else None}


ALL_TEAMS = "all"  # the team filter's value for the whole branch


def board_team(args: Any) -> str | None:
    """The board's team (by name). A supervisor's board opens on the first team rather than
    ranking every prospect of the branch (a province holds hundreds of thousands); the
    team filter's ``all`` asks for the whole branch, and a search or a manager chosen looks
    across the branch too."""
    team = (args.get("team") or "").strip()
    if team or current_user.role not in ("supervisor", "admin") \
            or (args.get("owner") or "").strip() or (args.get("q") or "").strip():
        return team or None
    return get_session().scalar(select(Team.name).order_by(Team.name).limit(1)) or ALL_TEAMS


def in_scope(filters: dict[str, Any]) -> dict[str, Any]:
    """The filters as the queries read them (``all`` teams: no team filter)."""
    return {**filters, "team": None} if filters.get("team") == ALL_TEAMS else filters


def filter_args(filters: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in filters.items() if v and k != "overdue"}
    if filters.get("overdue"):
        out["overdue"] = "1"
    if out.get("status") == "open":
        out.pop("status")
    return out


def column_limits(stages: tuple[str, ...]) -> dict[str, int]:
    out = {}
    for stage in stages:
        raw = request.args.get(f"limit_{stage}")
        if raw and raw.isdigit():
            out[stage] = max(min(int(raw), COLUMN_LIMIT_MAX), 1)
    return out


@bp.get("/board")
def board():
    wf = P.workflow(request.args.get("workflow") if request.args.get("workflow")
                    in workflows.all_engines() else None)
    filters, limits = board_filters(), column_limits(wf.stage_keys)
    scope = in_scope(filters)
    data = queries.board(get_session(), current_user, scope, stages=wf.stage_keys,
                         limits=limits, default_limit=queries.WIDE_PAGE
                         if queries.is_wide(current_user, scope) else queries.BOARD_PAGE)
    args = filter_args(filters)
    return render_template("board/board.html", board=data, wf=wf, filters=filters,
                           args=args, limits=limits, page_size=queries.BOARD_PAGE,
                           switch=[(key, engine.workflow.name) for key, engine
                                   in workflows.all_engines().items()],
                           shown=P.board_page(data, url_for(".board", **args)))


@bp.get("/board/columns/<stage>")
def board_column(stage: str):
    """The next cards of one column (the "more" button's fragment)."""
    filters = board_filters()
    wf = P.workflow(filters["workflow"])
    if stage not in wf.stage_keys:
        abort(404)
    offset = request.args.get("offset", "0")
    # Beyond the id column's range there is nothing to show (and no database takes it).
    offset = min(int(offset), MAX_ID) if offset.isascii() and offset.isdigit() \
        and len(offset) <= 12 else 0
    cards, remaining = queries.column_cards(get_session(), current_user, in_scope(filters),
                                            stage, offset=offset)
    args = filter_args(filters)
    return render_template("board/_column_cards.html",
                           cards=P.CardWriter(url_for(".board", **args))(cards),
                           stage=stage, remaining=remaining, next_offset=offset + len(cards),
                           args=args, wf=wf, page_size=queries.BOARD_PAGE)


def move_event(prospect: Any, target: str, wf: Workflow) -> str:
    """The event that moves ``prospect`` to column ``target`` (one stage at a time)."""
    for t in wf.transitions:
        if t.source == prospect.stage and t.dest == target and t.event in (
                "advance", "win", "back"):
            return t.event
    if target == prospect.stage:
        raise Invalid("the card is already in that column", code="same_column")
    raise Invalid("cards move one stage at a time", code="one_stage_at_a_time")


@bp.post("/prospects/<int:prospect_id>/move")
def move(prospect_id: int):
    form = F.MoveForm()
    back_to = safe_next(request.form.get("next") or url_for(".board"))
    session = get_session()
    prospect = queries.get_visible(session, current_user, prospect_id)
    wf = P.workflow(prospect.workflow_key)
    if not form.validate_on_submit():
        return _refused(_("The move could not be read; reload the page."), back_to, 400)
    try:
        event = move_event(prospect, form.to.data, wf)
    except Invalid as exc:
        text = _("The card is already in that column.") if exc.code == "same_column" \
            else _("Cards move one stage at a time.")
        return _refused(text, back_to, 422)
    try:
        command = load(FireEvent, form.command(event=event))
        moved = services.advance_prospect(session, prospect.id, event, actor=current_user,
                                          reason=command["reason"], version=command["version"])
    except Invalid as exc:
        if P.needs_reason(exc):
            return _reason_first(prospect, event)
        if missing := P.missing_records(exc):
            return _record_first(prospect, missing[0], event, back_to, exc, wf)
        return _refused(P.error_text(exc), back_to, 422)
    except Conflict as exc:
        return _refused(P.error_text(exc), back_to, 409)
    return _moved(moved, back_to)


def _reason_first(prospect: Any, event: str):
    """A move the workflow allows only with a reason (back a stage) asks for one."""
    if is_fetch():
        return jsonify({"ok": False, "need_reason": True, "event": event,
                        "message": _("Give a reason for going back.")}), 422
    flash(_("Give a reason for going back."), "error")
    return redirect(url_for(".detail", prospect_id=prospect.id, _anchor="actions"))


def _record_first(prospect: Any, record_key: str, event: str, back_to: str,
                  exc: ServiceError, wf: Workflow):
    """A move the stage's records do not allow yet opens the missing record's form."""
    form_url = url_for(".record", prospect_id=prospect.id, record_key=record_key,
                       then=event, next=back_to)
    if is_fetch():
        return jsonify({"ok": False, "need_record": record_key,
                        "form_url": form_url, "message": P.error_text(exc)}), 422
    flash(_("Complete the %(record)s to move the card.",
            record=P.record_name(record_key, wf)), "info")
    return redirect(form_url)


def _refused(message: str, back_to: str, status: int):
    if is_fetch():
        return jsonify({"ok": False, "message": message}), status
    flash(message, "error")
    return redirect(back_to)


def _moved(prospect: Any, back_to: str):
    message = P.moved_message(prospect)
    if is_fetch():
        card = queries.card_of(get_session(), current_user, prospect.id)
        return jsonify({"ok": True, "moved": True, "stage": prospect.stage,
                        "id": prospect.id, "message": message,
                        "card": P.card_html(card, back_to)})
    flash(message, "success")
    return redirect(back_to)


# ---------------------------------------------------------------- the prospect page

def render_detail(prospect_id: int, *, status: int = 200, **bound: Any):
    """The prospect page; ``bound`` names forms of this request to show with their errors
    (``bound``: record forms by key, ``event_forms``, ``contact_form``)."""
    page = queries.prospect_page(get_session(), current_user, prospect_id)
    return render_template("prospects/detail.html", **P.detail_page(page, **bound)), status


@bp.get("/prospects/<int:prospect_id>")
def detail(prospect_id: int):
    prospect = queries.get_visible(get_session(), current_user, prospect_id)
    if (page := P.CASE_PAGES.get(prospect.workflow_key)) is not None:
        return redirect(page(prospect.id))  # a case with its own page (a complaint)
    return render_detail(prospect_id)


@bp.route("/prospects/<int:prospect_id>/records/<record_key>", methods=["GET", "POST"])
def record(prospect_id: int, record_key: str):
    """One record's form: its own page, the board's dialog (fetch), or the prospect page's
    section (``from=detail``: errors are shown on the prospect page)."""
    session = get_session()
    prospect = queries.get_visible(session, current_user, prospect_id)
    wf = P.workflow(prospect.workflow_key)
    rec = wf.record(record_key)
    if rec is None:
        abort(404)
    hidden = P.hidden_fields(sees_personal_data(current_user, prospect))(rec)
    then = request.values.get("then") if request.values.get("then") in ("advance", "win") \
        else None
    back_to = safe_next(request.values.get("next") or url_for(".detail",
                                                              prospect_id=prospect.id))
    records = queries.records_of(session, [prospect.id])[prospect.id]
    stored = P.starting_data(rec, records.get(record_key, {}), records, prospect)
    if request.method == "GET":
        form = F.build_record_form(rec, current_locale(), P.user_tz(), stored, hidden=hidden,
                                   version=prospect.version, then=then)
        return _record_page(prospect, rec, form, then, back_to, stored)
    form = F.build_record_form(rec, current_locale(), P.user_tz(), stored, hidden=hidden,
                               formdata=request.form)
    from_detail = request.args.get("from") == "detail"
    if not form.validate_on_submit():
        if is_fetch():
            return jsonify({"ok": False, "message": _("Please check the marked fields."),
                            "html": _record_fragment(prospect, rec, form, then, back_to,
                                                     stored)}), 422
        if from_detail:
            return render_detail(prospect.id, bound={record_key: form}, status=422)
        return _record_page(prospect, rec, form, then, back_to, stored, status=422)
    try:
        result, moved = services.save_record_then(
            session, prospect.id, record_key, actor=current_user, data=form.record_data(),
            event=form.then.data or None, version=form.version_value())
    except ServiceError as exc:
        if isinstance(exc, Invalid) and exc.code == "invalid_record":
            for key, messages in exc.details.items():
                if key in form:
                    form[key].errors = list(form[key].errors) + list(messages)
        message = P.error_text(exc)
        if is_fetch():
            return jsonify({"ok": False, "message": message,
                            "html": _record_fragment(prospect, rec, form, then, back_to,
                                                     stored)}), 422
        flash(message, "error")
        if from_detail:
            return render_detail(prospect.id, bound={record_key: form}, status=422)
        return _record_page(prospect, rec, form, then, back_to, stored, status=422)
    if moved is not None:
        return _moved(moved, back_to)
    message = P.saved_message(record_key, result, wf)
    if then:
        # The drop that opened the form still waits: show what is missing and stay.
        fresh = F.build_record_form(rec, current_locale(), P.user_tz(), result.data,
                                    hidden=hidden, version=prospect.version, then=then)
        if is_fetch():
            return jsonify({"ok": True, "moved": False, "message": message,
                            "html": _record_fragment(prospect, rec, fresh, then, back_to,
                                                     result.data)})
        flash(message, "info")
        return _record_page(prospect, rec, fresh, then, back_to, result.data)
    if is_fetch():
        return jsonify({"ok": True, "moved": False, "message": message})
    flash(message, P.saved_category(result))
    return redirect(url_for(".detail", prospect_id=prospect.id, _anchor=f"record-{record_key}"))


def _record_fragment(prospect: Any, rec: Any, form: F.RecordForm, then: str | None,
                     back_to: str, data: dict[str, Any]) -> str:
    return render_template("prospects/_record_dialog.html",
                           **P.record_page(prospect, rec, form, then, back_to, data))


def _record_page(prospect: Any, rec: Any, form: F.RecordForm, then: str | None, back_to: str,
                 data: dict[str, Any], status: int = 200):
    if is_fetch():
        return _record_fragment(prospect, rec, form, then, back_to, data), status
    return render_template("prospects/record.html",
                           **P.record_page(prospect, rec, form, then, back_to, data)), status


@bp.post("/prospects/<int:prospect_id>/events/<event>")
def fire(prospect_id: int, event: str):
    if event not in EVENTS:
        abort(404)
    session = get_session()
    prospect = queries.get_visible(session, current_user, prospect_id)
    form = P.event_form(event, prospect.version, formdata=request.form,
                        wf=P.workflow(prospect.workflow_key))
    if not form.validate_on_submit():
        return render_detail(prospect.id, event_forms={event: form}, status=422)
    try:
        moved = services.advance_prospect(session, prospect.id, event, actor=current_user,
                                          reason=form.values["reason"],
                                          version=form.values["version"],
                                          reason_category=form.values["reason_category"])
    except ServiceError as exc:
        if form.show(exc) or P.reason_beside_field(form, exc):
            return render_detail(prospect.id, event_forms={event: form}, status=422)
        flash(P.error_text(exc), "error")
        return redirect(url_for(".detail", prospect_id=prospect.id, _anchor="actions"))
    flash(_("Done: %(action)s. %(name)s is now in %(stage)s (%(status)s).",
            action=P.event_label(event), name=moved.name,
            stage=P.stage_name(moved.stage), status=P.status_label(moved.status)), "success")
    return redirect(url_for(".detail", prospect_id=prospect.id))


@bp.post("/prospects/<int:prospect_id>/contacts")
def add_contact(prospect_id: int):
    session = get_session()
    prospect = queries.get_visible(session, current_user, prospect_id)
    form = F.ContactForm()
    form.tz = P.user_tz()
    if not form.validate_on_submit():
        return render_detail(prospect.id, contact_form=form, status=422)
    try:
        services.log_contact(session, prospect.id, actor=current_user, data=form.values)
    except Invalid as exc:
        if not form.show(exc):
            flash(P.error_text(exc), "error")
        return render_detail(prospect.id, contact_form=form, status=422)
    flash(_("Contact logged."), "success")
    return redirect(url_for(".detail", prospect_id=prospect.id, _anchor="contacts"))


@bp.post("/prospects/<int:prospect_id>/customer")
def update_customer(prospect_id: int):
    """The customer's assets, potential and tier (the prospect page's form)."""
    session = get_session()
    prospect = queries.get_visible(session, current_user, prospect_id)
    form = F.CustomerForm(prefix="customer")
    if not form.validate_on_submit():
        return render_detail(prospect.id, customer_form=form, status=422)
    try:
        services.update_customer(session, prospect.id, actor=current_user, data=form.values)
    except ServiceError as exc:
        if form.show(exc):
            return render_detail(prospect.id, customer_form=form, status=422)
        flash(P.error_text(exc), "error")
        return redirect(url_for(".detail", prospect_id=prospect.id, _anchor="customer"))
    flash(_("Assets, potential and tier saved."), "success")
    return redirect(url_for(".detail", prospect_id=prospect.id, _anchor="customer"))


@bp.post("/tasks/<int:task_id>/done")
def task_done(task_id: int):
    form = F.TaskForm()
    back_to = safe_next(request.form.get("next"))
    if not form.validate_on_submit():
        return _refused(_("The request could not be read; reload the page."), back_to, 400)
    try:
        services.complete_task(get_session(), task_id, actor=current_user, data={
            "note": request.form.get("note") or None,
            "outcome": request.form.get("outcome") or None})
    except (Conflict, ServiceError) as exc:
        if exc.status == 404:
            raise
        return _refused(P.error_text(exc), back_to, exc.status)
    if is_fetch():
        return jsonify({"ok": True})
    flash(_("Task done."), "success")
    return redirect(back_to)


@bp.route("/prospects/new", methods=["GET", "POST"])
def new():
    session = get_session()
    form = F.ProspectForm()
    if current_user.role == "manager":
        form.owner.choices = [F.option("", current_user.name)]
        form.owner.validate_choice = False
    else:
        cap = P.workflow().escalation.max_active_per_manager
        form.owner.choices = [F.option(m.email, f"{m.name} ({m.email}) {m.count}/{cap}")
                              for m in queries.manager_loads(session, current_user)]
    if not form.validate_on_submit():
        return render_template("prospects/new.html", form=form), 422 if form.errors else 200
    try:
        prospect = services.create_prospect(session, actor=current_user, data=form.values)
    except ServiceError as exc:
        if not form.show(exc):
            flash(P.error_text(exc), "error")
        # A customer another prospect holds is a conflict, as in the API.
        return render_template("prospects/new.html", form=form), \
            409 if isinstance(exc, Conflict) else 422
    flash(_("%(name)s added to %(stage)s.", name=prospect.name,
            stage=P.stage_name(prospect.stage)), "success")
    return redirect(url_for(".detail", prospect_id=prospect.id))


# ---------------------------------------------------------------- my day

@bp.get("/my-day")
def my_day():
    day = queries.my_day(get_session(), current_user, tz=P.user_tz())
    return render_template("prospects/my_day.html", **P.my_day_page(day))
