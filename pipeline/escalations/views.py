"""The escalation queues (team lead, supervisor), decisions, the inbox, handover letters."""
from __future__ import annotations

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
from flask_login import current_user, login_required
from werkzeug.routing import BuildError

from pipeline import clock, labels, workflows
from pipeline.db import get_session
from pipeline.errors import Conflict, Forbidden, Invalid, NotFound, ServiceError
from pipeline.escalations import queries, scheduler
from pipeline.escalations.forms import DecisionForm, MarkReadForm
from pipeline.escalations.outbox import deliver_after_commit
from pipeline.escalations.schemas import DecideEscalation
from pipeline.escalations.services import decide_escalation, handover_letter, register_hooks
from pipeline.notifications.services import mark_read, unread_count
from pipeline.prospects.models import Prospect
from pipeline.validation import load
from pipeline.web import BADGES, current_locale

bp = Blueprint("escalations", __name__)

DECIDERS = ("team_lead", "supervisor", "admin")


def init_app(app: Flask) -> None:
    """Register the blueprint, the nav badges, the writers of the escalation changes every
    event's outcome may carry, and (when configured) the scheduler."""

    register_hooks()
    app.register_blueprint(bp)
    scheduler.start(app)


@bp.record_once
def _badges(_state) -> None:

    BADGES["open_escalations"] = lambda user: queries.open_count(get_session(), user)
    BADGES["unread_notifications"] = lambda user: unread_count(get_session(), user.id)


def prospect_link(prospect_id: int) -> str:
    """The prospect's page when the app has one, else its JSON in the API."""
    if "prospects.detail" in current_app.view_functions:
        try:
            return url_for("prospects.detail", prospect_id=prospect_id)
        except BuildError:
            pass
    return url_for("api.get_prospect", prospect_id=prospect_id)


def letter_link(note) -> str | None:
    """The handover letter of a handover notification (its key names the handover:
    ``handover:<id>:to:<user>``, written by decide_escalation)."""
    parts = (note.dedupe_key or "").split(":")
    if note.kind == "handover" and len(parts) >= 3 and parts[0] == "handover" \
            and parts[1].isdigit():
        return url_for(".handover", handover_id=int(parts[1]))
    return None


def _error_message(exc: ServiceError) -> str:
    """Service refusals in the reader's language (the services speak English)."""
    if exc.code == "over_capacity":
        return _("That manager already maintains the maximum number of customers.")
    if exc.code == "already_decided":
        return _("This escalation has been decided already.")
    if exc.code == "stale_version":
        return _("The prospect was changed meanwhile; please try again.")
    details = exc.details or {}
    if "decision" in details and exc.code == "invalid":
        return _("Choose a decision; the number of days must be between 1 and 90.")
    if "note" in details:
        return _("Give the reason for abandoning the prospect in the note.")
    if "new_owner" in details:
        return _("Choose another active manager of the prospect's team.")
    if "extend_days" in details:
        return _("The number of days must be between 1 and 90.")
    if isinstance(exc, Invalid):
        return _("This decision is not possible for this prospect now.")
    return exc.message


@bp.get("/escalations")
@login_required
def queue():
    if current_user.role not in DECIDERS:
        abort(403)
    level = request.args.get("level", type=int)
    if level not in (1, 2):
        level = None
    session = get_session()
    rows = queries.queue(session, current_user, level=level)
    prospect_ids = [p.id for _e, p, _o in rows]
    history = queries.histories(session, prospect_ids)
    managers = queries.managers_by_team(session, {p.team_id for _e, p, _o in rows if p.team_id})
    actors = queries.users_by_id(session, {h.actor_id for hs in history.values() for h in hs
                                           if h.actor_id})
    forms = {}
    for esc, prospect, owner in rows:
        form = DecisionForm(prefix=f"e{esc.id}", formdata=None)
        # Each manager's customers out of the cap, which applies on reassign.
        cap = workflows.engine(prospect.workflow_key).workflow.escalation \
            .max_active_per_manager
        form.new_owner.choices = [(m.id, f"{m.name} ({n}/{cap})") for m, n in
                                  managers.get(prospect.team_id, []) if m.id != prospect.owner_id]
        if form.new_owner.choices:
            form.new_owner.choices.insert(0, (0, "—"))  # 0: nobody (not reassigning)
        forms[esc.id] = form
    counts = {"all": None, "level2": None}
    if current_user.role in ("supervisor", "admin"):
        counts["level2"] = sum(1 for e, _p, _o in rows if e.level == 2) if level is None else None
    return render_template(
        "escalations/queue.html", rows=rows, forms=forms, history=history, actors=actors,
        level=level, now=clock.now(), workflows=workflows, link=prospect_link,
        age=queries.age, counts=counts,
        history_text=lambda h: labels.history_text(labels.QUEUE_HISTORY, h.event, h.data))


@bp.post("/escalations/<int:escalation_id>/decision")
@login_required
def decide(escalation_id: int):
    form = DecisionForm(prefix=f"e{escalation_id}")
    back = redirect(request.form.get("next") if (request.form.get("next") or "").startswith("/")
                    and not (request.form.get("next") or "").startswith("//")
                    else url_for(".queue"))
    if not form.validate_on_submit():
        flash(_("Choose a decision; the number of days must be between 1 and 90."), "error")
        return back
    try:
        command = load(DecideEscalation, form.command())
        decide_escalation(get_session(), escalation_id, actor=current_user, **command)
    except (NotFound, Forbidden):
        raise
    except (Invalid, Conflict) as exc:
        flash(_error_message(exc), "error")
        return back
    deliver_after_commit(current_app._get_current_object(), rounds=1)
    flash({"continue": _("Decision saved: continue."),
           "reassign": _("Decision saved: the prospect was reassigned."),
           "abandon": _("Decision saved: the prospect was abandoned.")}[form.decision.data],
          "success")
    return back


@bp.get("/inbox")
@login_required
def inbox():
    session = get_session()
    items = queries.inbox(session, current_user)
    return render_template("escalations/inbox.html", items=items, form=MarkReadForm(),
                           link=prospect_link, letter_link=letter_link)


@bp.post("/inbox/read")
@login_required
def inbox_read():
    form = MarkReadForm()
    if form.validate_on_submit():
        raw = (form.ids.data or "").strip()
        ids = [int(x) for x in raw.split(",") if x.strip().isdigit()] if raw else None
        mark_read(get_session(), current_user, ids)
    return redirect(url_for(".inbox"))


@bp.get("/handovers/<int:handover_id>")
@login_required
def handover(handover_id: int):
    """The handover letter of seed 002, in the reader's language."""
    session = get_session()
    row = queries.get_visible_handover(session, current_user, handover_id)
    people = queries.users_by_id(session, {row.from_user_id, row.to_user_id} - {None})
    prospect = session.get(Prospect, row.prospect_id)
    old, new = people.get(row.from_user_id), people.get(row.to_user_id)
    tz = ZoneInfo(workflows.workflow(prospect.workflow_key).timezone)
    letter = handover_letter(
        current_locale(), customer=prospect.name, old_manager=old.name if old else "",
        new_manager=new.name if new else "", day=row.at.astimezone(tz).strftime("%Y-%m-%d"))
    return render_template("escalations/handover.html", handover=row, prospect=prospect,
                           old=old, new=new, letter=letter, link=prospect_link)
