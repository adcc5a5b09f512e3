"""The audit log page: supervisors and administrators read who did what, when."""
from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.exc import OperationalError

from pipeline import labels
from pipeline.audit import queries
from pipeline.audit.forms import AuditFilterForm
from pipeline.audit.services import record_view
from pipeline.db import get_session
from pipeline.errors import BUSY_RETRY_AFTER, error_response, is_database_busy
from pipeline.prospects.changes import masked_detail
from pipeline.prospects.models import Prospect
from pipeline.prospects.privacy import sees_personal_data

bp = Blueprint("audit", __name__, url_prefix="/audit")

READERS = ("supervisor", "admin")
PAGE_SIZE = 100


@bp.before_request
@login_required
def _readers_only() -> None:
    if current_user.role not in READERS:
        abort(403)


def _tz() -> ZoneInfo:
    return ZoneInfo(getattr(current_user, "timezone", None)
                    or current_app.config["PIPELINE_TIMEZONE"])


@bp.get("")
def index():
    form = AuditFilterForm(request.args)
    valid = form.validate()
    tz = _tz()
    filters = {}
    if valid:
        since = form.since.data
        until = form.until.data
        filters = {
            "action": form.action.data or None,
            "actor": form.actor.data or None,
            "since": datetime.combine(since, time(), tz) if since else None,
            "until": datetime.combine(until + timedelta(days=1), time(), tz) if until else None,
            "target_type": "prospect" if form.prospect.data else None,
            "target_id": form.prospect.data,
            "before_id": form.before.data,
        }
    rows, more = queries.entries(get_session(), limit=PAGE_SIZE, **filters)
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    older = url_for("audit.index", before=more, **args) if more else None
    return render_template("audit/index.html", form=form, rows=rows, older=older,
                           labels=labels.AUDIT_ACTIONS, tz=tz, summary=summary,
                           valid=valid), 200 if valid else 422


def summary(detail: dict | None) -> str:
    """The entry's detail as compact ``key=value`` pairs, personal values masked
    (:func:`pipeline.prospects.changes.masked_detail`)."""
    detail = masked_detail(detail)
    if not detail:
        return ""
    return ", ".join(f"{k}={v if isinstance(v, (str, int, float)) else json.dumps(v, ensure_ascii=False)}"
                     for k, v in sorted(detail.items()))


# ---------------------------------------------------------------- views of personal data

# The pages that show one prospect's personal data, and the channel each is logged under.
AUDITED_VIEWS = {"prospects.detail": "web", "prospects.record": "web", "api.get_prospect": "api"}


def _audit_personal_data_view(response):
    """After a prospect's page (or one record's form) was built for its viewer, log the
    view (before it is sent) unless the viewer is the owner, reading their own customer.

    Only successful reads are views: a 404 showed nothing. If the log cannot be written the
    request fails rather than show personal data unlogged. The entry says whether the
    personal data was shown in full or masked, as :mod:`pipeline.prospects.privacy` decided
    for every part of the answer.
    """
    channel = AUDITED_VIEWS.get(request.endpoint or "")
    if channel is None or request.method != "GET" or response.status_code != 200:
        return response
    from flask import g

    viewer = g.get("api_user") if channel == "api" else current_user
    session = get_session()
    args = request.view_args or {}
    # Already in the session's identity map: the view loaded it.
    prospect = session.get(Prospect, int(args["prospect_id"]))
    if viewer is None or prospect is None or viewer.id == prospect.owner_id:
        return response
    reason = g.get("unmask_reason")
    try:
        record_view(session, viewer, prospect, full=bool(reason) or sees_personal_data(
            viewer, prospect), channel=channel, ip=request.remote_addr,
            record=args.get("record_key"), reason=reason)
    except OperationalError as exc:
        # Past the busy timeout (SQLite): "try again" instead of the page, unlogged. An
        # error raised here would skip the app's error handlers and answer 500.
        if not is_database_busy(exc):
            raise
        busy = error_response(503, "database_busy", "the database is busy; try again in a moment")
        busy.headers["Retry-After"] = str(BUSY_RETRY_AFTER)
        return busy
    return response


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.after_request(_audit_personal_data_view)
