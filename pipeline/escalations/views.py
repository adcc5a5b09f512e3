"""The escalation queues (team lead, supervisor), decisions, the inbox, handover letters."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import parse_qsl, urlsplit
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
from flask_babel import get_timezone, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from werkzeug.routing import BuildError

from pipeline import clock, labels, workflows
from pipeline.auth.views import safe_next
from pipeline.db import get_session
from pipeline.errors import Conflict, Forbidden, Invalid, NotFound, ServiceError
from pipeline.escalations import queries, scheduler
from pipeline.escalations.forms import BulkContinueForm, DecisionForm, MarkReadForm
from pipeline.escalations.outbox import deliver_after_commit
from pipeline.escalations.schemas import DecideEscalation
from pipeline.escalations.services import decide_escalation, handover_letter, register_hooks
from pipeline.notifications.services import Shown, mark_read, shown, unread_count
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


def queue_filters(args: Any = None) -> queries.QueueFilters:
    """The queue's filters from the query string (or ``args``); anything unreadable is
    left out."""
    args = request.args if args is None else args
    level = args.get("level", type=int)
    sort = args.get("sort")
    return queries.QueueFilters(
        level=level if level in (1, 2) else None,
        kind=(args.get("kind") or "").strip()[:32] or None,
        team_id=args.get("team", type=int) if current_user.role in ("supervisor", "admin")
        else None,
        owner_id=args.get("manager", type=int),
        sort=sort if sort in queries.QUEUE_SORTS else "oldest",
        page=max(args.get("page", 1, type=int) or 1, 1))


def filter_args(f: queries.QueueFilters) -> dict:
    """The query string of ``f`` without its page (the default order left out)."""
    out = {"level": f.level, "kind": f.kind, "team": f.team_id, "manager": f.owner_id,
           "sort": None if f.sort == "oldest" else f.sort}
    return {k: v for k, v in out.items() if v is not None}


def reason_text(esc, prospect, wf) -> str:
    """Why the escalation is open, in the reader's language: the stage and its due day, the
    meeting not booked (with the manager's own reason), the contacts missing."""
    stage = wf.stage(esc.stage)
    stage_name = stage.name.get(current_locale()) if stage else esc.stage
    if esc.kind == "stage_overdue":
        if esc.due_at is None:
            return _("%(stage)s ran past its time.", stage=stage_name)
        tz = ZoneInfo(wf.timezone)
        return _("%(stage)s was due on %(day)s.", stage=stage_name,
                 day=esc.due_at.astimezone(tz).strftime("%Y-%m-%d"))
    if esc.kind == "no_meeting":
        text = _("First contact ended without a meeting.")
        if esc.reason and esc.reason != NO_MEETING_DEFAULT:
            return _("%(text)s The manager's reason: %(reason)s", text=text, reason=esc.reason)
        return text
    if esc.kind == "contact_overdue":
        return _("Contacts required in the period were not made (%(missing)s).",
                 missing=esc.reason or "—")
    if esc.kind == "retention_overdue" and esc.due_at is not None:
        return _("A retention task was not done by %(day)s.",
                 day=esc.due_at.astimezone(ZoneInfo(wf.timezone)).strftime("%Y-%m-%d"))
    return esc.reason or labels.label(labels.ESCALATION_KINDS, esc.kind)


NO_MEETING_DEFAULT = "first contact ended without a meeting"  # the services' stored reason
# A page whose cards are of at most this many teams offers reassigning on each card (a
# lead's page, a branch's, a supervisor's on a team).
REASSIGN_TEAMS = 5
HISTORY_SHOWN = 3  # latest history rows on a queue card (the prospect page has them all)


@bp.get("/escalations")
@login_required
def queue():
    if current_user.role not in DECIDERS:
        abort(403)
    return _render_queue()


def _render_queue(kept: dict[str, Any] | None = None, status: int = 200,
                  came_from: str | None = None):
    """The queue page (the one at ``came_from``, else the request's); ``kept`` is a
    decision that failed (its escalation's ``id``, the ``decision``, ``new_owner``,
    ``extend_days`` and ``note`` as chosen, and the ``error``), shown again on its card
    with the error beside it. None when that card is not on the page."""
    filters = queue_filters(None if came_from is None
                            else MultiDict(parse_qsl(urlsplit(came_from).query)))
    session = get_session()
    data = queries.queue(session, current_user, filters)
    rows = data.rows
    if kept and all(esc.id != kept["id"] for esc, _p, _o in rows):
        return None
    prospect_ids = [p.id for _e, p, _o in rows]
    history = queries.histories(session, prospect_ids, latest=HISTORY_SHOWN)
    teams = {p.team_id for _e, p, _o in rows if p.team_id}
    # A page of many teams' cards (a supervisor's province) leaves reassigning to each
    # team's own page (the card links to it): its managers, counted, for each card would
    # be most of the page and a count over every customer of those teams.
    offered = len(teams) <= REASSIGN_TEAMS
    managers = queries.managers_by_team(session, teams) if offered else {}
    actors = queries.users_by_id(session, {h.actor_id for hs in history.values() for h in hs
                                           if h.actor_id})
    # The managers each escalation may go to, with the customers each maintains out of
    # the cap, which applies on reassign (0: nobody, not reassigning); None: reassigned
    # from the team's page.
    new_owners: dict[int, list | None] = {}
    for esc, prospect, _owner in rows:
        cap = workflows.engine(prospect.workflow_key).workflow.escalation \
            .max_active_per_manager
        new_owners[esc.id] = [(m.id, f"{m.name} ({n}/{cap})") for m, n in
                              managers.get(prospect.team_id, []) if m.id != prospect.owner_id] \
            if offered else None
    choices = queries.queue_choices(session, current_user, team_id=filters.team_id)
    args = filter_args(filters)
    form = DecisionForm(formdata=None)
    # What every card shows alike is read once for the page: the kinds' names, the
    # decisions' labels, the addresses around each id, the history rows' times. Names
    # and labels are lazy texts, which the template writes as they are (Markup).
    kind_names: dict[str, str] = {}

    def kind_label(kind: str) -> str:
        if kind not in kind_names:
            kind_names[kind] = Markup(str(labels.label(labels.ESCALATION_KINDS, kind)))
        return kind_names[kind]

    event_names: dict[str, str] = {}

    def history_text(h: Any) -> str:
        # A row without data is named by its event alone: once per event on the page.
        if h.data:
            return labels.history_text(labels.QUEUE_HISTORY, h.event, h.data)
        if h.event not in event_names:
            event_names[h.event] = Markup(str(labels.history_text(labels.QUEUE_HISTORY,
                                                                  h.event)))
        return event_names[h.event]

    tz = get_timezone()
    return render_template(
        "escalations/queue.html", rows=rows, form=form,
        # The labels are lazy texts, rendered as they are (not escaped): resolved once.
        decisions=[(choice.data, Markup(str(choice.label.text))) for choice in form.decision],
        field_labels={name: Markup(str(form[name].label.text))
                      for name in ("decision", "extend_days", "new_owner", "note")},
        new_owners=new_owners, history=history, actors=actors,
        data=data, filters=filters, args=args,
        choices=choices, team_names=dict(choices["teams"]),
        bulk=BulkContinueForm(), now=clock.now(), workflows=workflows,
        link=_by_id(prospect_link), decide_url=_by_id(
            lambda i: url_for(".decide", escalation_id=i)),
        age=queries.age, reason=reason_text, kind_label=kind_label,
        history_at=lambda h: h.at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        history_text=history_text, kept=kept or {}, queue_url=came_from), status


_ID_MARKER = 918273645546372819


def _by_id(build: Any) -> Any:
    """``build(n)`` (an address ending in or holding the id ``n``) for many ``n`` at the
    price of one call: the address around a stand-in id, the id put in its place."""
    head, _marker, tail = build(_ID_MARKER).partition(str(_ID_MARKER))
    return lambda n: f"{head}{int(n)}{tail}"


@bp.post("/escalations/continue")
@login_required
def bulk_continue():
    """Continue many escalations at once: each one its own decision (its own transaction,
    through the same service as one decision), so one that cannot be continued leaves the
    others decided; what failed is said per escalation."""
    if current_user.role not in DECIDERS:
        abort(403)
    form = BulkContinueForm()
    back = _back()
    ids = sorted({int(x) for x in request.form.getlist("ids") if x.isdigit()})
    if not form.validate_on_submit():
        flash(_("The number of days must be between 1 and 90."), "error")
        return back
    if not ids:
        flash(_("Choose the escalations to continue."), "error")
        return back
    session = get_session()
    known = queries.decidable(session, current_user, ids)
    names = {i: name for i, (_esc, name) in known.items()}
    session.rollback()  # end the read; each decision is its own transaction
    done, failed = 0, []
    for escalation_id in ids:
        try:
            decide_escalation(session, escalation_id, actor=current_user, decision="continue",
                              extend_days=form.extend_days.data)
            done += 1
        except ServiceError as exc:
            failed.append(_("%(name)s: %(why)s", name=names.get(escalation_id, f"#{escalation_id}"),
                            why=_("not in your queue") if isinstance(exc, NotFound)
                            else _("you may not decide it") if isinstance(exc, Forbidden)
                            else _error_message(exc)))
    if done:
        deliver_after_commit(current_app._get_current_object(), rounds=1)
        flash(ngettext("%(num)d escalation continued.", "%(num)d escalations continued.",
                       done), "success")
    if failed:
        flash(_("Not continued: %(items)s", items="; ".join(failed)), "error")
    return back


def _back():
    return redirect(safe_next(request.form.get("next") or url_for(".queue")))


@bp.post("/escalations/<int:escalation_id>/decision")
@login_required
def decide(escalation_id: int):
    form = DecisionForm(prefix=f"e{escalation_id}")
    back = redirect(safe_next(request.form.get("next") or url_for(".queue")))

    def kept(error: str):
        # The card keeps what was chosen, the error beside its Decide button; an
        # escalation the queue cannot show (gone, not the user's) says it at the top.
        session = get_session()
        session.rollback()
        try:
            esc = queries.get_visible_escalation(session, current_user, escalation_id)
        except NotFound:
            esc = None
        page = None
        if esc is not None and esc.status == "open":
            # The page the decision was made on: its filters and page number.
            came_from = safe_next(request.form.get("next") or url_for(".queue"))
            page = _render_queue({"id": escalation_id, "decision": form.decision.raw_data[0]
                                  if form.decision.raw_data else None,
                                  "new_owner": (form.new_owner.raw_data or [""])[0],
                                  "extend_days": (form.extend_days.raw_data or [""])[0],
                                  "note": form.note.data or "", "error": error}, 422,
                                 came_from=came_from)
        if page is None:
            flash(error, "error")
            return back
        return page

    if not form.validate_on_submit():
        return kept(_("Choose a decision; the number of days must be between 1 and 90."))
    try:
        command = load(DecideEscalation, form.command())
        decide_escalation(get_session(), escalation_id, actor=current_user, **command)
    except (NotFound, Forbidden):
        raise
    except (Invalid, Conflict) as exc:
        return kept(_error_message(exc))
    deliver_after_commit(current_app._get_current_object(), rounds=1)
    flash({"continue": _("Decision saved: continue."),
           "reassign": _("Decision saved: the prospect was reassigned."),
           "abandon": _("Decision saved: the prospect was abandoned.")}[form.decision.data],
          "success")
    return back


NOTIFICATION_KINDS = {
    "escalation": _l("Escalations"), "overdue": _l("Past the due date"),
    "warning": _l("Near the due date"), "reminder": _l("Reminders"),
    "contact_overdue": _l("Contact frequency"), "decision": _l("Decisions"),
    "handover": _l("Handovers")}


@dataclass
class InboxGroup:
    """One prospect's notifications of one day (or one notification without a prospect),
    newest first."""

    prospect_id: int | None
    day: date
    items: list[tuple[Any, Shown]] = field(default_factory=list)

    @property
    def unread_ids(self) -> list[int]:
        return [n.id for n, _s in self.items if not n.read_at]


def inbox_groups(notes: list, locale: str, tz: Any) -> list[InboxGroup]:
    """Notifications grouped per prospect per day in the reader's time zone, each shown in
    the reader's language; groups in the order of their newest notification."""
    groups: dict[tuple, InboxGroup] = {}
    for note in notes:
        day = note.created_at.astimezone(tz).date()
        key = (note.prospect_id, day) if note.prospect_id else (f"n{note.id}", day)
        group = groups.get(key)
        if group is None:
            group = groups[key] = InboxGroup(note.prospect_id, day)
        group.items.append((note, shown(note, locale)))
    return list(groups.values())


@bp.get("/inbox")
@login_required
def inbox():
    session = get_session()
    unread = request.args.get("unread") in ("1", "on", "true")
    kind = (request.args.get("kind") or "").strip()[:32] or None
    before = request.args.get("before", type=int)
    notes = queries.inbox(session, current_user, unread=unread, kind=kind, before=before)
    older = notes[-1].id if len(notes) == queries.INBOX_PAGE else None
    args = {k: v for k, v in {"unread": "1" if unread else None, "kind": kind}.items() if v}
    return render_template(
        "escalations/inbox.html", groups=inbox_groups(notes, current_locale(), get_timezone()),
        form=MarkReadForm(), link=prospect_link, letter_link=letter_link, unread=unread,
        kind=kind, kinds=queries.inbox_kinds(session, current_user), args=args, older=older,
        kind_label=lambda k: labels.label(NOTIFICATION_KINDS, k))


@bp.post("/inbox/read")
@login_required
def inbox_read():
    """Mark read: the ticked groups' notifications (``ids``, each a comma-separated list;
    ``ticked`` with none ticked marks nothing), or, with ``all`` or no ids at all, every
    unread one (of ``kind`` when given)."""
    form = MarkReadForm()
    if form.validate_on_submit():
        raw = [part for value in request.form.getlist("ids") for part in value.split(",")]
        ids = [int(x) for x in raw if x.strip().isdigit()]
        kind = (request.form.get("kind") or "").strip()[:32] or None
        if request.form.get("all") or not (request.form.get("ticked")
                                           or any(x.strip() for x in raw)):
            mark_read(get_session(), current_user, None, kind=kind)
        elif ids:
            mark_read(get_session(), current_user, ids)
        else:
            flash(_("Tick the notifications to mark as read."), "info")
    nxt = request.form.get("next") or ""
    return redirect(nxt if nxt.startswith("/inbox") else url_for(".inbox"))


@bp.get("/handovers/<int:handover_id>")
@login_required
def handover(handover_id: int):
    """The handover letter of seed 002, in the reader's language."""
    session = get_session()
    row = queries.get_visible_handover(session, current_user, handover_id)
    people = queries.users_by_id(
        session, {row.from_user_id, row.to_user_id, row.actor_id} - {None})
    prospect = session.get(Prospect, row.prospect_id)
    old, new = people.get(row.from_user_id), people.get(row.to_user_id)
    tz = ZoneInfo(workflows.workflow(prospect.workflow_key).timezone)
    letter = handover_letter(
        current_locale(), customer=prospect.name, old_manager=old.name if old else "",
        new_manager=new.name if new else "", day=row.at.astimezone(tz).strftime("%Y-%m-%d"))
    return render_template("escalations/handover.html", handover=row, prospect=prospect,
                           old=old, new=new, by=people.get(row.actor_id), letter=letter,
                           link=prospect_link)
