"""The complaint pages: the list, the form (from a customer's page or the "New complaint"
button), a complaint's page with its steps, and the lines on the customer's page and
card. Thin views: a form, one service call, a redirect."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import select

from pipeline import clock, workflows
from pipeline.complaints import queries, reports, services
from pipeline.complaints.forms import AssignForm, CauseActionForm, ComplaintForm, StepEventForm
from pipeline.complaints.models import Complaint
from pipeline.db import get_session, reports_session
from pipeline.errors import Forbidden, Invalid, ServiceError
from pipeline.prospects import forms as F
from pipeline.prospects import presenters as P
from pipeline.prospects import queries as prospect_queries
from pipeline.prospects import services as prospect_services
from pipeline.prospects.events import state_of
from pipeline.prospects.models import Prospect
from pipeline.reports import queries as report_queries
from pipeline.web import current_locale, require_sign_in

bp = Blueprint("complaints", __name__)
UNKNOWN_CUSTOMER = "No customer has this number."
REPORT_DAYS = (date(1900, 1, 1), date(2999, 12, 31))  # the report's days, as the API's


require_sign_in(bp)


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return P.template_helpers()


def workflow():  # noqa: ANN201
    return services.engine().workflow


LIST_PAGE = 50  # complaints a page of the list shows (a branch's open ones first)


@bp.get("/complaints")
def index():
    session = get_session()
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    rows = list(session.execute(
        queries.listed(current_user).add_columns(Complaint)
        .join(Complaint, Complaint.prospect_id == Prospect.id)
        .order_by(Prospect.status, Prospect.due_at, Prospect.id)
        .offset((page - 1) * LIST_PAGE).limit(LIST_PAGE + 1)))
    more, rows = len(rows) > LIST_PAGE, rows[:LIST_PAGE]
    people = _people(session, {p.owner_id for p, _c in rows})
    return render_template("complaints/index.html", rows=rows, wf=workflow(), people=people,
                           now=clock.now(), status_label=complaint_status, page=page,
                           more=more)


def _customer(session, form: ComplaintForm) -> Prospect | None:  # noqa: ANN001
    """The customer the form names: by id (the customer's page) or customer number."""
    raw = (form.customer_id.data or "").strip()
    if raw.isdigit():
        return session.get(Prospect, int(raw))
    number = (form.customer_no.data or "").strip()
    if number:
        found = session.scalars(select(Prospect).where(
            Prospect.customer_no == number,
            Prospect.workflow_key == workflows.DEFAULT_KEY)).first()
        if found is not None:
            form.customer_id.data = str(found.id)
        return found
    return None


@bp.route("/complaints/new", methods=["GET", "POST"])
def new():
    session = get_session()
    form = ComplaintForm()
    if request.method == "GET" and request.args.get("customer", "").isdigit():
        form.customer_id.data = request.args["customer"]
    customer = _customer(session, form)
    if request.method == "POST":
        if customer is None and (form.customer_no.data or "").strip():
            form.customer_no.errors = [_(UNKNOWN_CUSTOMER)]
        elif form.validate_on_submit():
            try:
                case = services.file_complaint(session, actor=current_user, data=form.values)
            except ServiceError as exc:
                if not form.show(exc):
                    flash(P.error_text(exc), "error")
            else:
                flash(_("Complaint recorded; it is due on %(due)s.",
                        due=P.when(case.due_at, "yyyy-MM-dd")), "success")
                return redirect(url_for(".detail", complaint_id=case.id))
        if "customer_id" in form.errors and not form.customer_no.errors:
            form.customer_no.errors = list(form.customer_id.errors)
        return render_template("complaints/new.html", form=form, customer=customer), 422
    return render_template("complaints/new.html", form=form, customer=customer)


def _people(session, ids: set[int]) -> dict[int, str]:  # noqa: ANN001
    from pipeline.auth.models import User

    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())


def render_detail(complaint_id: int, *, status: int = 200, bound: dict | None = None,
                  event_forms: dict | None = None, assign_form: AssignForm | None = None):
    session = get_session()
    case = services.get_complaint(session, current_user, complaint_id)
    page = prospect_queries.prospect_page(session, current_user, case.id)
    complaint = session.get(Complaint, case.id)
    engine = services.engine()
    wf = engine.workflow
    state = state_of(case)
    available = engine.available_events(state, page.records, role=current_user.role)
    forms = dict(event_forms or {})
    for event in available:
        forms.setdefault(event, _event_form(event, case.version))
    customer = session.get(Prospect, case.customer_id) if case.customer_id else None
    people = {**page.people, **_people(session, {complaint.named_user_id if complaint else 0,
                                                 complaint.received_by_id if complaint else 0})}
    record_forms = P.record_forms(page, wf, show_personal=True, bound=bound)
    may_assign = current_user.role in services.LEADS and case.status in queries.OPEN
    return render_template(
        "complaints/detail.html", p=case, c=complaint, page=page, wf=wf, customer=customer,
        available=available, event_forms=forms, record_forms=record_forms, people=people,
        statuses={r.key: prospect_services.record_status(engine, r.key, page.records.get(r.key, {}))
                  for s in wf.stages for r in s.records},
        missing=engine.missing(state, page.records), now=clock.now(), tz=P.user_tz(),
        stage_index=wf.stage_keys.index(case.stage),
        assign_form=assign_form or (AssignForm(formdata=None) if may_assign else None),
        extension=engine.next_extension(state), history_label=complaint_history_label,
        status_label=complaint_status), status


def complaint_history_label(event: str, data: Any = None, people: Any = None) -> str:
    """A history row of a complaint, in its own words (a win settles it)."""
    words = {"create": _("Complaint received"), "advance": _("Moved to the next step"),
             "win": _("Settled")}
    return words[event] if event in words else P.history_label(event, data, people)


def complaint_status(status: str) -> str:
    return _("Settled") if status == "won" else P.status_label(status)


def _event_form(event: str, version: int, formdata: Any = None) -> StepEventForm:
    form = StepEventForm(formdata=formdata, prefix=event)
    form.event.data = event
    if formdata is None:
        form.version.data = str(version)
    return form


@bp.get("/complaints/<int:complaint_id>")
def detail(complaint_id: int):
    return render_detail(complaint_id)


@bp.post("/complaints/<int:complaint_id>/records/<record_key>")
def record(complaint_id: int, record_key: str):
    session = get_session()
    case = services.get_complaint(session, current_user, complaint_id)
    rec = workflow().record(record_key)
    if rec is None:
        abort(404)
    stored = prospect_queries.records_of(session, [case.id])[case.id].get(record_key, {})
    form = F.build_record_form(rec, current_locale(), P.user_tz(), stored,
                               formdata=request.form)
    if not form.validate_on_submit():
        return render_detail(case.id, bound={record_key: form}, status=422)
    try:
        result = services.save_complaint_record(session, case.id, record_key,
                                                actor=current_user, data=form.record_data(),
                                                version=form.version_value())
    except ServiceError as exc:
        if isinstance(exc, Invalid) and exc.code == "invalid_record":
            for key, messages in exc.details.items():
                if key in form:
                    form[key].errors = list(form[key].errors) + list(messages)
        flash(P.error_text(exc), "error")
        return render_detail(case.id, bound={record_key: form}, status=422)
    flash(P.saved_message(record_key, result, workflow()), "success")
    return redirect(url_for(".detail", complaint_id=case.id, _anchor="actions"))


@bp.post("/complaints/<int:complaint_id>/events/<event>")
def fire(complaint_id: int, event: str):
    session = get_session()
    case = services.get_complaint(session, current_user, complaint_id)
    form = _event_form(event, case.version, formdata=request.form)
    if not form.validate_on_submit():
        return render_detail(case.id, event_forms={event: form}, status=422)
    try:
        moved = services.fire_complaint_event(session, case.id, actor=current_user,
                                              data=form.values)
    except Forbidden as exc:
        flash(P.error_text(exc), "error")
        return redirect(url_for(".detail", complaint_id=case.id, _anchor="actions")), 303
    except ServiceError as exc:
        if form.show(exc) or P.reason_beside_field(form, exc):
            return render_detail(case.id, event_forms={event: form}, status=422)
        flash(P.error_text(exc), "error")
        return redirect(url_for(".detail", complaint_id=case.id, _anchor="actions"))
    flash(_("Done: %(action)s. The complaint is now at %(stage)s.",
            action=P.event_label(event), stage=P.stage_name(moved.stage, workflow())), "success")
    return redirect(url_for(".detail", complaint_id=case.id))


@bp.post("/complaints/<int:complaint_id>/assign")
def assign(complaint_id: int):
    session = get_session()
    case = services.get_complaint(session, current_user, complaint_id)
    form = AssignForm()
    if not form.validate_on_submit():
        return render_detail(case.id, assign_form=form, status=422)
    try:
        services.assign_complaint(session, case.id, actor=current_user, data=form.values)
    except ServiceError as exc:
        if form.show(exc):
            return render_detail(case.id, assign_form=form, status=422)
        flash(P.error_text(exc), "error")
        return redirect(url_for(".detail", complaint_id=case.id))
    flash(_("The complaint has a new handler."), "success")
    return redirect(url_for(".detail", complaint_id=case.id))


# ---------------------------------------------------------------- on the customer's pages

def customer_complaints(customer: Any) -> list[tuple[Prospect, Complaint]]:
    """The complaints about a customer the viewer may see (the customer's page)."""
    if getattr(customer, "workflow_key", None) != workflows.DEFAULT_KEY:
        return []
    return queries.complaints_of(get_session(), current_user, customer.id)


def open_complaint_marks(ids: list[int]) -> dict[int, str]:
    """Board cards' marks: "N open complaints" for the customers that have some."""
    counts = queries.open_counts(get_session(), ids)
    return {cid: ngettext("%(num)d open complaint", "%(num)d open complaints", n)
            for cid, n in counts.items()}


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.context_processor
    def _customer_complaints() -> dict[str, Any]:
        return {"customer_complaints": customer_complaints}

    P.CARD_MARKS["complaints"] = open_complaint_marks
    P.CASE_PAGES[services.WORKFLOW_KEY] = lambda case_id: url_for("complaints.detail",
                                                                  complaint_id=case_id)


# ---------------------------------------------------------------- report and root causes

# One group's row of a report table, as the template wrote it (the handlers' table of a
# branch has a thousand rows: written here, one escape per group's name).
_REPORT_ROW = """
      <tr%s><th scope="row">%s</th>
        <td class="num">%d</td><td class="num">%d</td>
        <td class="num">%d%s</td>
        <td class="num">%d</td><td class="num">%s</td></tr>
    """


def _report_rows(table: dict[str, Any]) -> Markup:
    """A report table's rows: each group's, then the total."""
    out = []
    groups = table["groups"]
    for i, g in enumerate([*groups, table["total"]]):
        last = i == len(groups)
        pct = g["settled_in_time_pct"]
        median = g["median_days_to_settle"]
        out.append(_REPORT_ROW % (
            ' class="total"' if last else "", escape(_("All") if last else g["group"] or "—"),
            g["received"], g["settled"], g["settled_in_time"],
            "" if pct is None else f" ({pct} %)", g["extended"],
            "—" if median is None else escape(median)))
    return Markup("".join(out))


@bp.route("/complaints/report", methods=["GET", "POST"])
def report():
    """The complaint figures by category, cause, channel and handler, and the root-cause
    list with a form to give a recurring cause its action and owner (team lead or
    supervisor)."""
    session = get_session()
    form = CauseActionForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                services.add_cause_action(session, actor=current_user, data=form.values)
            except ServiceError as exc:
                if not form.show(exc):
                    flash(P.error_text(exc), "error")
                status = 422
            else:
                flash(_("Action saved."), "success")
                return redirect(url_for(".report", _anchor="causes"))
        else:
            status = 422
    shown, start, end = _report_period(request.args)
    # The figures from the reports' database (a replica, when configured); the root causes
    # with the actions this page saves from the primary, so a saved action is shown.
    # The causes are counted from the same reading of the complaints as the figures.
    found = reports.lines(reports_session(), current_user, start=start, end=end)
    tables = reports.tables(session, current_user, found=found)
    return render_template("complaints/report.html", tables=tables,
                           rows={by: _report_rows(t) for by, t in tables.items()},
                           causes=reports.root_causes(session, current_user, found=found),
                           form=form, start=shown[0], end=shown[1],
                           may_act=current_user.role in services.LEADS,
                           choices=services.cause_choices()), status


def _report_period(args: Any) -> tuple[tuple[str, str], Any, Any]:
    """The complaint report's period: the days shown in its form and the moments
    [start, end) of receipt, in the viewer's time zone (the bank's by default). Without
    ``from`` and ``to`` it is the current month, from its first day to today; both empty
    is every complaint since the first. A day that is not a date, out of the records'
    years, or an end before the start shows every complaint, with a message."""
    tz = getattr(current_user, "timezone", None) or current_app.config["PIPELINE_TIMEZONE"]
    if "from" in args or "to" in args:
        shown = (args.get("from", "").strip(), args.get("to", "").strip())
    else:
        today = clock.now().astimezone(ZoneInfo(tz)).date()
        shown = (today.replace(day=1).isoformat(), today.isoformat())
    try:
        days = [date.fromisoformat(v) if v else None for v in shown]
    except ValueError:
        days = [date.min, None]
    if any(d is not None and not REPORT_DAYS[0] <= d <= REPORT_DAYS[1] for d in days) or (
            days[0] and days[1] and days[1] < days[0]):
        flash(_("That period is not valid; showing every complaint."), "error")
        return ("", ""), None, None
    start = report_queries.local_midnight(days[0], tz) if days[0] else None
    end = report_queries.local_midnight(days[1] + timedelta(days=1), tz) if days[1] else None
    return shown, start, end
