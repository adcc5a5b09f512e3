"""The supervisor's view: the funnel page, the daily progress sheet (附件四) and the weekly
work log (附件五), each with CSV and XLSX downloads.

Their figures are read through :func:`pipeline.db.reports_session` (the replica, when one is
configured); the audit row of a download and the weekly summary go to the primary."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
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
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from pipeline import clock, labels, workflows
from pipeline.auth.models import Team, User
from pipeline.db import get_session, reports_session
from pipeline.errors import NotFound, ServiceError
from pipeline.forms import option
from pipeline.prospects.presenters import time_left
from pipeline.reports import aftersale, charts, exports, queries, rollups, services
from pipeline.reports.forms import (
    ALL_TEAMS,
    DailyFilterForm,
    FunnelFilterForm,
    WeeklyFilterForm,
    WeeklySummaryForm,
    chosen_team,
)
from pipeline.reports.models import WeeklyLog
from pipeline.reports.rows import ManyOptions, daily_sheet_rows, daily_totals_rows, memo

bp = Blueprint("reports", __name__, url_prefix="/reports")

FORMATS = ("csv", "xlsx")
COHORT_MONTHS = 6
MAX_COHORT_MONTHS = 24


@bp.before_request
@login_required
def _signed_in() -> None:
    """Every report needs a signed-in user."""


def user_tz() -> str:
    return getattr(current_user, "timezone", None) or current_app.config["PIPELINE_TIMEZONE"]


def today_local() -> date:
    return clock.now().astimezone(ZoneInfo(user_tz())).date()


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        abort(404)


def _stamp(value: date | None) -> str:
    return value.isoformat() if value else "all"


def _period(start: date | None, end: date | None) -> str:
    """A period as the sheets' headings give it: "2026-03-02 – 2026-03-08"."""
    return f"{start.isoformat() if start else '…'} – {end.isoformat() if end else '…'}"


# ---------------------------------------------------------------- the funnel

def _funnel_context(export: bool = False) -> dict[str, Any]:
    """The funnel page's figures; ``export``: the download's (the lost reasons by team
    even for the whole branch, which the page adds up over the teams)."""
    session = reports_session()
    viewer = current_user._get_current_object()
    # The filters' choices as ids and names only (a branch has a thousand managers), their
    # options written directly.
    teams = session.execute(select(Team.id, Team.name).order_by(Team.name)).all() \
        if viewer.role in ("supervisor", "admin") else []
    managers = session.execute(queries.managers_seen(select(User.id, User.name), viewer)
                               .order_by(User.name, User.id)).all() \
        if viewer.role in ("supervisor", "admin", "team_lead") else []
    form = FunnelFilterForm(request.args, teams=teams, managers=managers)
    form.team.widget, form.owner.widget = ManyOptions(), ManyOptions()
    valid = form.validate()
    tz = user_tz()
    start_day = form.start.data if valid else None
    end_day = form.end.data if valid else None
    filters = queries.Filters(
        team_id=form.team.data if valid and teams else None,
        owner_id=form.owner.data if valid and managers else None,
        tier=form.tier.data or None if valid else None,
        start=queries.local_midnight(start_day, tz) if start_day else None,
        end=queries.local_midnight(end_day + timedelta(days=1), tz) if end_day else None)
    now = clock.now()
    key = request.args.get("workflow")  # whose stages (default: the customer workflow)
    wf = workflows.workflow(key if key in workflows.all_engines() else workflows.DEFAULT_KEY)
    # The whole branch, unfiltered: the rollup the job keeps while it is fresh (its figures
    # are those of its build); any other view, or without one, computed live.
    build = rollups.usable(session, viewer, filters, workflow_key=wf.key, tz=tz,
                           max_age=rollups.max_age(current_app.config), now=now)
    if build is not None:
        now = build.built_at
        figures = rollups.funnel(session, build, filters)
    else:
        figures = queries.funnel(session, viewer, filters, now=now, workflow_key=wf.key)
    last_month = min(end_day or today_local(), today_local())
    first_month = start_day or (last_month.replace(day=1) - timedelta(days=31 * (COHORT_MONTHS - 1)))
    months = queries.month_starts(first_month, last_month)[-MAX_COHORT_MONTHS:]
    cohorts = rollups.cohorts(session, build, months) if build is not None else \
        queries.cohorts(session, viewer, filters, months, tz=tz, workflow_key=wf.key)
    lost_by_team = export or not queries.branch_wide(viewer) or filters.team_id is not None \
        or filters.owner_id is not None
    lost = queries.lost_reasons(session, viewer, filters, workflow_key=wf.key,
                                by_team=lost_by_team)
    escalations = queries.escalations_by_decision(session, viewer, filters)
    names = {f.key: labels.stage_name(f.key, wf.key) for f in figures}
    funnel_svg = charts.funnel_chart(
        [(names[f.key], f.entered, f.advanced, f.conversion) for f in figures],
        title=_("Prospects entering each stage and advancing"),
        desc=_("Pale bar: prospects who entered the stage in the period; dark bar: those of "
               "them who advanced. The table beside the chart gives the same figures."))
    time_svg = charts.time_chart(
        [(names[f.key], f.median_days, f.p90_days, wf.limit_days(f.key)) for f in figures],
        title=_("Days in each stage"),
        desc=_("Bar: median days in the stage; line: 90th percentile; upright mark: the "
               "stage's time limit. The table beside the chart gives the same figures."),
        unit=_("days"))
    return {"form": form, "figures": figures, "cohorts": cohorts, "lost": lost,
            "escalations": escalations, "names": names, "lost_by_team": lost_by_team,
            "funnel_svg": funnel_svg,
            "time_svg": time_svg, "stage_keys": wf.stage_keys, "filters": filters,
            "limits": {k: wf.limit_days(k) for k in wf.stage_keys}, "now": now,
            "rollup_at": build.built_at if build is not None else None,
            "start_day": start_day, "end_day": end_day, "teams": teams,
            "managers": managers, "wf": wf,
            "switch": [(k, e.workflow.name) for k, e in workflows.all_engines().items()]}


@bp.get("/funnel")
def funnel():
    ctx = _funnel_context()
    return render_template("funnel/index.html", **ctx, labels=labels,
                           query=request.args.to_dict(),
                           category_name=exports.lost_category_name,
                           describe_notes=exports.describe_notes)


@bp.get("/funnel.<fmt>")
def funnel_export(fmt: str):
    _check_format(fmt)
    ctx = _funnel_context(export=True)
    sections = exports.funnel_sections(ctx["figures"], ctx["cohorts"], ctx["lost"],
                                       ctx["escalations"], workflow_key=ctx["wf"].key)
    services.record_export(get_session(), "funnel", request.args.to_dict(),
                           actor=current_user._get_current_object(), ip=request.remote_addr)
    name = f"funnel-{_stamp(ctx['start_day'])}-{_stamp(ctx['end_day'])}"
    heading = exports.Heading(
        _("Stage funnel"), exports.branch_name(),
        _period(ctx["start_day"], ctx["end_day"]) if ctx["start_day"] or ctx["end_day"]
        else _("All entries since the first record."))
    return exports.download(sections, fmt, name, tz=user_tz(), heading=heading)


# ---------------------------------------------------------------- the daily progress sheet

def _daily_context(*, export: bool = False) -> dict[str, Any]:
    """The daily sheet's manager, day and totals. A supervisor's page shows one team at a
    time (the team asked for; without one, the asked manager's team, else their own team,
    else the first) with that team's totals, or every team's totals and the branch's at
    ``team=all``. The export keeps every manager in view (a supervisor's whole branch)."""
    session = reports_session()
    viewer = current_user._get_current_object()
    # The managers' names and teams only (a branch has a thousand).
    managers = session.execute(queries.managers_seen(
        select(User.id, User.name, User.team_id), viewer).order_by(User.name, User.id)).all()
    teams = queries.visible_teams(session, viewer) \
        if viewer.role in ("supervisor", "admin") and not export else []
    form = DailyFilterForm(request.args, managers=(), teams=teams)
    form.manager.widget = form.team.widget = ManyOptions()
    form.validate()
    if form.day.errors:
        flash(_("That day is not a valid date; showing today."), "error")
    wanted = form.manager.data
    by_id = {u.id: u for u in managers}
    if wanted is not None and wanted not in by_id:
        raise NotFound(_("No such manager among those you may see."))
    team, everyone = chosen_team(teams, form.team.data, viewer.team_id,
                                  by_id.get(wanted))
    shown = managers if team is None else [u for u in managers if u.team_id == team.id]
    form.manager.choices = [option(u.id, u.name) for u in shown]
    manager = by_id.get(wanted) if wanted else (
        viewer if viewer.role == "manager" else (shown[0] if shown else None))
    if team is not None and manager is not None and manager.team_id != team.id:
        manager = shown[0] if shown else None  # the team was changed with the manager kept
    day = form.day.data if form.day.data and not form.day.errors else today_local()
    form.manager.data = manager.id if manager else None
    form.team.data = ALL_TEAMS if everyone else (team.id if team else None)
    form.day.data = day
    sheet = queries.daily_sheet(session, manager.id, day, tz=user_tz()) if manager else None
    # A team lead's team, a supervisor's team or branch: every manager's day, the totals.
    among = queries.managers_seen(select(User.id), viewer, team.id if team else None)
    totals = queries.daily_totals(session, shown, day, tz=user_tz(), among=among) \
        if viewer.role != "manager" and shown else None
    return {"form": form, "manager": manager, "day": day, "sheet": sheet,
            "managers": shown, "today": today_local(), "totals": totals,
            "teams": teams, "team": team, "everyone": everyone,
            "branch_view": viewer.role in ("supervisor", "admin") and team is None}


@bp.get("/daily")
def daily():
    ctx = _daily_context()
    return render_template("reports/daily.html", **ctx, labels=labels,
                           team_arg=ALL_TEAMS if ctx["everyone"] else None,
                           totals_rows=daily_totals_rows(ctx["totals"], ctx["branch_view"],
                                                         teams_only=ctx["everyone"])
                           if ctx["totals"] else None,
                           sheet_rows=daily_sheet_rows(
                               ctx["sheet"].lines,
                               tier_name=memo(lambda t: labels.label(labels.TIERS, t)),
                               stage_name=memo(labels.stage_name),
                               status_name=memo(lambda s: labels.label(labels.STATUSES, s)),
                               time_left=time_left, describe_changes=exports.describe_changes,
                               describe_contacts=exports.describe_contacts,
                               workflow_key=workflows.DEFAULT_KEY)
                           if ctx["sheet"] else None, timedelta=timedelta)


@bp.get("/daily.<fmt>")
def daily_export(fmt: str):
    _check_format(fmt)
    ctx = _daily_context(export=True)
    if ctx["sheet"] is None:
        raise NotFound(_("There is no manager to report on."))
    sections = exports.daily_sections(ctx["sheet"], ctx["manager"].name,
                                      totals=ctx["totals"], branch=ctx["branch_view"])
    services.record_export(get_session(), "daily", {"manager": ctx["manager"].id,
                                                    "day": ctx["day"].isoformat()},
                           actor=current_user._get_current_object(), ip=request.remote_addr)
    heading = exports.Heading(_("Customer management progress sheet"), exports.branch_name(),
                              ctx["day"].isoformat())
    return exports.download(sections, fmt, f"daily-{ctx['day'].isoformat()}-"
                            f"{ctx['manager'].id}", tz=user_tz(), heading=heading)


# ---------------------------------------------------------------- the weekly work log

def _weekly_context(args: MultiDict | None = None) -> dict[str, Any]:
    session = reports_session()
    own = get_session()  # the summary its lead has just saved: from the primary
    viewer = current_user._get_current_object()
    if viewer.role == "manager":
        raise NotFound(_("The weekly work log is written by team leads."))
    teams = queries.visible_teams(session, viewer)
    form = WeeklyFilterForm(request.args if args is None else args, teams=teams)
    form.validate()
    if form.week.errors:
        flash(_("That week is not a valid date; showing this week."), "error")
    by_id = {t.id: t for t in teams}
    wanted = form.team.data
    everyone = wanted == ALL_TEAMS and len(teams) > 1
    if wanted is not None and not everyone and wanted not in by_id:
        raise NotFound(_("No such team among those you may see."))
    team = None if everyone else by_id.get(wanted) if wanted else (
        by_id.get(viewer.team_id) or (teams[0] if teams else None))
    picked = form.week.data if form.week.data and not form.week.errors else today_local()
    week = queries.week_start_of(picked)
    form.team.data = ALL_TEAMS if everyone else (team.id if team else None)
    form.week.data = week
    figures = queries.weekly_figures(session, team.id, week, tz=user_tz()) if team else None
    # Every team of the branch, each with its subtotal, and the branch's total.
    branch = queries.weekly_branch(session, teams, week, tz=user_tz()) if everyone else None
    summaries = {log.team_id: log.summary for log in own.scalars(select(WeeklyLog).where(
        WeeklyLog.week_start == week, WeeklyLog.team_id.in_(list(by_id))))} \
        if everyone else {}
    log = own.scalars(select(WeeklyLog).where(
        WeeklyLog.team_id == team.id, WeeklyLog.week_start == week)).first() if team else None
    author = own.get(User, log.author_id) if log and log.author_id else None
    can_write = bool(team) and (viewer.role == "admin" or (
        viewer.role == "team_lead" and viewer.team_id == team.id))
    return {"form": form, "team": team, "week": week, "figures": figures, "log": log,
            "author": author, "can_write": can_write, "teams": teams, "branch": branch,
            "summaries": summaries,
            "branch_decided": {k: sum(f.decided.get(k, 0) for _t, f in branch or ())
                               for k in ("continue", "reassign", "abandon")}}


@bp.get("/weekly")
def weekly():
    ctx = _weekly_context()
    summary_form = WeeklySummaryForm(
        team=ctx["team"].id if ctx["team"] else "", week=ctx["week"].isoformat(),
        summary=ctx["log"].summary if ctx["log"] else "")
    return render_template("reports/weekly.html", **ctx, summary_form=summary_form,
                           labels=labels, timedelta=timedelta)


@bp.post("/weekly")
def save_weekly():
    form = WeeklySummaryForm()
    try:
        team_id = int(form.team.data)
        week = date.fromisoformat(form.week.data or "")
    except (TypeError, ValueError):
        abort(400)
    if form.validate_on_submit():
        try:
            services.save_weekly_summary(get_session(), team_id, week, form.summary.data or "",
                                         actor=current_user._get_current_object())
        except ServiceError as exc:
            if exc.status in (403, 404):
                raise
            flash(exc.message, "error")
        else:
            flash(_("The weekly summary is saved."), "success")
            return redirect(url_for(".weekly", team=team_id, week=week.isoformat()))
    for error in form.summary.errors:
        flash(error, "error")
    # Show the page again with what was typed, so nothing is lost.
    ctx = _weekly_context(MultiDict({"team": str(team_id), "week": week.isoformat()}))
    return render_template("reports/weekly.html", **ctx, summary_form=form, labels=labels,
                           timedelta=timedelta), 422


@bp.get("/weekly.<fmt>")
def weekly_export(fmt: str):
    _check_format(fmt)
    ctx = _weekly_context()
    week = ctx["week"]
    if ctx["branch"] is not None:
        sections = exports.weekly_branch_sections(ctx["branch"], ctx["summaries"], week)
        which: Any = ALL_TEAMS
    elif ctx["team"] is None:
        raise NotFound(_("There is no team to report on."))
    else:
        sections = exports.weekly_sections(ctx["figures"], ctx["team"].name,
                                           ctx["log"].summary if ctx["log"] else None)
        which = ctx["team"].id
    services.record_export(get_session(), "weekly", {"team": which,
                                                     "week": week.isoformat()},
                           actor=current_user._get_current_object(), ip=request.remote_addr)
    heading = exports.Heading(_("CRM weekly work log"), exports.branch_name(),
                              _period(week, week + timedelta(days=6)))
    return exports.download(sections, fmt, f"weekly-{week.isoformat()}-{which}",
                            tz=user_tz(), heading=heading)



# ---------------------------------------------------------------- after-sale work

def _after_sale_context(*, export: bool = False) -> dict[str, Any]:
    session = reports_session()
    viewer = current_user._get_current_object()
    today = today_local()
    start, end = today.replace(day=1), today
    try:
        if request.args.get("from"):
            start = date.fromisoformat(request.args["from"])
        if request.args.get("to"):
            end = date.fromisoformat(request.args["to"])
    except ValueError:
        flash(_("That period is not valid; showing this month."), "error")
        start, end = today.replace(day=1), today
    if end < start:
        start, end = end, start
    wf = workflows.workflow()
    # The managers' names and teams only (a branch has a thousand), and their ids as a
    # subquery of every figure's statement.
    managers = session.execute(queries.managers_seen(
        select(User.id, User.name, User.team_id), viewer).order_by(User.name, User.id)).all()
    # A supervisor's page: one team's managers (the team asked for, else their own, else
    # the first), or each team's total at team=all; the download keeps every manager.
    teams = queries.visible_teams(session, viewer) \
        if viewer.role in ("supervisor", "admin") and not export else []
    asked = request.args.get("team", "")
    team, everyone = chosen_team(teams, ALL_TEAMS if asked == ALL_TEAMS else int(asked)
                                  if asked.isdigit() and len(asked) < 10 else None,
                                  viewer.team_id)
    if team is not None:
        managers = [m for m in managers if m.team_id == team.id]
    report = aftersale.after_sale_report(
        session, managers, start, end, tz=user_tz(),
        retention_kind=wf.care.retention_task if wf.care else "retention",
        among=queries.managers_seen(select(User.id), viewer, team.id if team else None))
    return {"report": report, "start": start, "end": end, "teams": teams, "team": team,
            "everyone": everyone, "all_teams": ALL_TEAMS}


@bp.get("/after-sale")
def after_sale():
    ctx = _after_sale_context()
    return render_template("reports/aftersale.html", **ctx, labels=labels,
                           rows=aftersale.table_rows(ctx["report"],
                                                     teams_only=ctx["everyone"]))


@bp.get("/after-sale.<fmt>")
def after_sale_export(fmt: str):
    _check_format(fmt)
    ctx = _after_sale_context(export=True)
    services.record_export(get_session(), "aftersale", {"from": ctx["start"].isoformat(),
                                                         "to": ctx["end"].isoformat()},
                           actor=current_user._get_current_object(), ip=request.remote_addr)
    heading = exports.Heading(_("After-sale work"), exports.branch_name(),
                              _period(ctx["start"], ctx["end"]))
    return exports.download(aftersale.sections(ctx["report"]), fmt,
                            f"after-sale-{ctx['start'].isoformat()}-{ctx['end'].isoformat()}",
                            tz=user_tz(), heading=heading)
