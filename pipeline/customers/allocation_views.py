"""The allocation pages (:mod:`pipeline.customers.allocation`).

``/allocation``: the unallocated book filtered by tier, assets and branch area, paged,
numbers masked. A supervisor (or administrator) ticks customers and allocates them to a
manager chosen from a list showing each one's count out of the cap; a manager ticks the
customers they know and claims them. ``/allocation/claims``: the supervisor approves or
refuses (with a note) the pending claims; a manager sees their own. ``/allocation/move``:
a leaving manager's customers spread over the receiving managers.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select
from wtforms import (
    BooleanField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)

from pipeline import labels
from pipeline.auth.models import Team
from pipeline.customers import allocation
from pipeline.db import get_session
from pipeline.engine.definition import TIERS
from pipeline.errors import Conflict, Invalid, ServiceError
from pipeline.forms import CommandForm, option, options
from pipeline.prospects import queries as prospect_queries
from pipeline.reports.forms import ALL_TEAMS, chosen_team
from pipeline.reports.rows import ManyOptions
from pipeline.web import BADGES

bp = Blueprint("allocation", __name__, url_prefix="/allocation")

ALLOCATORS = allocation.ALLOCATORS
VIEWERS = (*ALLOCATORS, "manager")


@bp.record_once
def _badge(_state: Any) -> None:
    # The navigation's count beside "Claims": the pending claims a supervisor decides.
    BADGES["pending_claims"] = lambda user: allocation.pending_claims(get_session()) \
        if user.role in ALLOCATORS else 0


@bp.before_request
@login_required
def _who() -> None:
    if current_user.role not in VIEWERS:
        abort(403)


def _allocators_only() -> None:
    if current_user.role not in ALLOCATORS:
        abort(403)


# ---------------------------------------------------------------- forms

class FilterForm(CommandForm):
    class Meta:
        csrf = False

    tier = SelectField(_l("Tier"), validate_choice=False)
    assets_from = StringField(_l("Assets from (CNY)"))
    assets_to = StringField(_l("Assets to (CNY)"))
    area = SelectField(_l("Branch area"), validate_choice=False)


class CheckboxesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class AllocateForm(CommandForm):
    manager = SelectField(_l("Allocate to"), validate_choice=False)


class ClaimForm(CommandForm):
    note = TextAreaField(_l("How you know these customers (optional)"))


class RefuseForm(CommandForm):
    note = TextAreaField(_l("Why the claim is refused"))


class MoveForm(CommandForm):
    leaving = SelectField(_l("Leaving manager"), validate_choice=False)
    receivers = CheckboxesField(_l("Receiving managers"), validate_choice=False)
    deactivate = BooleanField(_l("Deactivate the leaving manager's account"))
    note = TextAreaField(_l("Note (in the history and the handovers)"))


def _manager_options(session: Any, *, empty: str | None = None, team: Team | None = None
                     ) -> list:
    """The managers to choose, each with their count out of the cap: every active manager
    in the viewer's scope, or one ``team``'s (only theirs counted)."""
    cap = allocation.cap()
    out = [option("", empty)] if empty is not None else []
    # A branch's thousand managers: the label's pattern translated once, then filled in.
    label = _("%(name)s (%(count)d/%(cap)d)")
    managers = allocation.manager_choices(session, current_user) if team is None else [
        (m.id, m.name, m.email, m.count)
        for m in prospect_queries.manager_loads(session, current_user, team=team.name)]
    out += [option(str(mid), label % {"name": name, "count": count, "cap": cap})
            for mid, name, _email, count in managers]
    return out




def _allocation_team(teams: list[Team]) -> tuple[Team | None, bool]:
    """Whose managers the allocation form offers (a branch has a thousand, and counting
    each one's customers reads the whole book): the team asked for (``team``, on the
    page's address or, after a refused allocation, on the address it returns to), else
    the viewer's own, else the first; every manager at ``team=all`` or without teams."""
    wanted = request.args.get("team")
    if wanted is None and request.method == "POST":
        wanted = parse_qs(urlsplit(request.form.get("back") or "").query).get(
            "team", [None])[0]
    return chosen_team(teams, wanted, current_user.team_id)


def _show(form: CommandForm, exc: ServiceError) -> str:
    """Put the refusal's field messages beside the form's fields; the page's alert."""
    form.show(exc)
    if exc.code == "over_capacity" and "count" in exc.details:
        return _("The manager maintains %(count)d of %(cap)d customers: %(selected)d more "
                 "would pass the cap. Nothing was allocated.", count=exc.details["count"],
                 cap=exc.details["cap"], selected=exc.details["selected"])
    if exc.code == "over_capacity" and "missing" in exc.details:
        return _("The receiving managers lack %(missing)d places under the cap of %(cap)d. "
                 "Nothing was moved.", missing=exc.details["missing"], cap=exc.details["cap"])
    if exc.code == "already_allocated":
        return _("A customer you chose was allocated meanwhile; nothing was done. "
                 "Choose again from the list.")
    if exc.code == "already_claimed":
        return _("You have already claimed one of these customers.")
    if exc.code == "claim_decided":
        return _("This claim has been decided already.")
    if exc.code == "duplicate_customer":
        return _("This customer already has a prospect that is not lost.")
    if "customers" in exc.details:
        return _("Choose at least one customer.")
    return _("Nothing was done: correct the marked fields.")


# ---------------------------------------------------------------- the book

def _book(*, allocate: AllocateForm | None = None, claim: ClaimForm | None = None,
          alert: str | None = None, status: int = 200, chosen: list[int] | None = None):
    session = get_session()
    query = {k: v for k, v in request.args.items() if k in allocation.BookFilter().fields}
    filters = FilterForm(request.args)
    try:
        page = allocation.book_page(session, current_user, query)
    except Invalid as exc:
        filters.show(exc)
        page = allocation.book_page(session, current_user, {})
        alert, status = alert or _("Correct the filter."), 422
    filters.tier.choices = [option("", _("Any tier")),
                            *options((t, labels.label(labels.TIERS, t)) for t in TIERS)]
    filters.area.choices = [option("", _("Any area")),
                            *options((a, a) for a in page.areas)]
    teams, team, everyone = [], None, False
    if current_user.role in ALLOCATORS:
        teams = list(session.scalars(select(Team).order_by(Team.name, Team.id)))
        team, everyone = _allocation_team(teams)
        allocate = allocate or AllocateForm(formdata=None)
        allocate.manager.choices = _manager_options(session, empty=_("Choose a manager"),
                                                    team=team)
        allocate.manager.widget = ManyOptions()
    else:
        claim = claim or ClaimForm(formdata=None)
    links = {"prev": None, "next": None}
    kept = {**query, "team": ALL_TEAMS if everyone else request.args.get("team")}
    if page.page > 1:
        links["prev"] = url_for(".book", **{**kept, "page": page.page - 1})
    if page.page < page.pages:
        links["next"] = url_for(".book", **{**kept, "page": page.page + 1})
    return render_template(
        "customers/allocation.html", page=page, rows=[allocation.book_row(b)
                                                      for b in page.items],
        filters=filters, allocate=allocate, claim=claim, alert=alert, links=links,
        teams=teams, team=team, everyone=everyone, all_teams=ALL_TEAMS,
        chosen=set(chosen or []), tier_label=lambda t: labels.label(labels.TIERS, t),
        potential_label=lambda p: labels.label(labels.POTENTIALS, p) if p else "",
        back=request.full_path), status


def _chosen() -> list[int]:
    return [int(v) for v in request.form.getlist("customers") if v.isdigit()]


def _return() -> str:
    target = request.form.get("back") or ""
    return target if target.startswith("/allocation") and "//" not in target \
        else url_for(".book")


@bp.get("")
def book():
    """The unallocated book, filtered and paged."""
    return _book()


@bp.post("/allocate")
def allocate():
    _allocators_only()
    form = AllocateForm()
    if not form.validate_on_submit():
        abort(400)
    raw = request.form.get("manager", "")
    try:
        done = allocation.allocate(get_session(), {"customers": _chosen(),
                                                   "manager": raw.strip() or None},
                                   actor=current_user)
    except (Invalid, Conflict) as exc:
        alert = _show(form, exc)
        form.manager.data = raw
        return _book(allocate=form, alert=alert, status=exc.status, chosen=_chosen())
    flash(_("%(count)d customers allocated.", count=len(done)), "success")
    return redirect(_return())


@bp.post("/claim")
def claim():
    if current_user.role != "manager":
        abort(403)
    form = ClaimForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        rows = allocation.claim(get_session(), {"customers": _chosen(),
                                                "note": form.note.data or None},
                                actor=current_user)
    except (Invalid, Conflict) as exc:
        return _book(claim=form, alert=_show(form, exc), status=exc.status, chosen=_chosen())
    flash(_("%(count)d customers claimed: the supervisor will decide.", count=len(rows)),
          "success")
    return redirect(_return())


# ---------------------------------------------------------------- claims

def _claims_page(*, refuse: dict[int, RefuseForm] | None = None, alert: str | None = None,
                 status: int = 200):
    session = get_session()
    mine = current_user.role == "manager"
    views = allocation.claims(session, current_user, status=None if mine else "pending")
    refuse = refuse or {}
    forms = {v.claim.id: refuse.get(v.claim.id) or RefuseForm(formdata=None, prefix=f"r{v.claim.id}")
             for v in views if v.claim.status == "pending" and not mine}
    return render_template("customers/claims.html", views=views, refuse=forms, alert=alert,
                           mine=mine, cap=allocation.cap(), status_label=_claim_status,
                           tier_label=lambda t: labels.label(labels.TIERS, t),
                           book_row=allocation.book_row, approve=CommandForm(formdata=None)
                           ), status


def _claim_status(status: str) -> str:
    return {"pending": _("Waiting for the supervisor"), "approved": _("Approved"),
            "refused": _("Refused"), "closed": _("Allocated to someone else")}.get(status,
                                                                                 status)


@bp.get("/claims")
def claims():
    """Pending claims (supervisor), or the manager's own."""
    return _claims_page()


@bp.post("/claims/<claim_id>/approve")
def approve(claim_id: str):
    _allocators_only()
    if not CommandForm().validate_on_submit():
        abort(400)
    try:
        allocation.approve_claim(get_session(), claim_id, actor=current_user)
    except (Invalid, Conflict) as exc:
        return _claims_page(alert=_show(CommandForm(formdata=None), exc), status=exc.status)
    flash(_("Claim approved: the customer is allocated."), "success")
    return redirect(url_for(".claims"))


@bp.post("/claims/<claim_id>/refuse")
def refuse(claim_id: str):
    _allocators_only()
    form = RefuseForm(prefix=f"r{claim_id}")
    if not form.validate_on_submit():
        abort(400)
    try:
        allocation.refuse_claim(get_session(), claim_id, {"note": form.note.data or ""},
                                actor=current_user)
    except (Invalid, Conflict) as exc:
        return _claims_page(refuse={int(claim_id): form}, alert=_show(form, exc),
                            status=exc.status)
    flash(_("Claim refused: the manager has your note."), "success")
    return redirect(url_for(".claims"))


# ---------------------------------------------------------------- a manager leaves

@bp.route("/move", methods=["GET", "POST"])
def move():
    """Move every customer of a leaving manager to the receiving managers."""
    _allocators_only()
    session = get_session()
    form = MoveForm() if request.method == "POST" else MoveForm(formdata=None)
    # Every manager's count read once for both lists.
    form.receivers.choices = _manager_options(session)
    form.leaving.choices = [option("", _("Choose a manager")), *form.receivers.choices]
    alert, status = None, 200
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            moved = allocation.move_customers(session, {
                "leaving": form.leaving.data or None, "receivers": form.receivers.data or [],
                "deactivate": bool(form.deactivate.data), "note": form.note.data or None},
                actor=current_user)
        except (Invalid, Conflict) as exc:
            alert, status = _show(form, exc), exc.status
        else:
            flash(_("%(count)d customers moved to %(managers)d managers, each with a "
                    "handover letter.", count=moved.moved,
                    managers=sum(1 for n in moved.to.values() if n)), "success")
            return redirect(url_for(".move"))
    return render_template("customers/move.html", form=form, alert=alert,
                           cap=allocation.cap()), status

