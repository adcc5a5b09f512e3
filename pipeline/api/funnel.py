"""``GET /api/v1/funnel``: the stage funnel of what the caller may see."""
from __future__ import annotations

from datetime import timedelta

from flask import current_app, jsonify
from sqlalchemy import func, select

from pipeline import clock, workflows
from pipeline.api import schemas
from pipeline.api.views import api_user, bp, iso, query_args
from pipeline.auth.models import Team, User
from pipeline.db import reports_session
from pipeline.errors import Invalid
from pipeline.reports import queries, rollups


@bp.get("/funnel")
def funnel():
    """Filters: ``team`` (name), ``owner`` (e-mail), ``tier``, ``from`` and ``to`` (dates,
    both included, in the caller's time zone) select the entries into a stage; ``workflow``
    (default the customer workflow) whose stages to count."""
    args = query_args(schemas.FunnelQuery)
    session = reports_session()  # the replica, when configured
    viewer = api_user()
    team_id = owner_id = None
    if args["team"]:
        team_id = session.scalar(select(Team.id).where(Team.name == args["team"]))
        if team_id is None:
            raise Invalid(f"no team {args['team']!r}", details={"team": ["Unknown team."]})
    if args["owner"]:
        owner_id = session.scalar(select(User.id).where(
            func.lower(User.email) == args["owner"].lower()))
        if owner_id is None:
            raise Invalid(f"no user {args['owner']!r}", details={"owner": ["Unknown user."]})
    start_day, end_day = args["from_"], args["to"]
    if start_day and end_day and end_day < start_day:
        raise Invalid("'to' is before 'from'", details={"to": ["Before 'from'."]})
    tz = viewer.timezone or current_app.config["PIPELINE_TIMEZONE"]
    now = clock.now()
    filters = queries.Filters(
        team_id=team_id, owner_id=owner_id, tier=args["tier"],
        start=queries.local_midnight(start_day, tz) if start_day else None,
        end=queries.local_midnight(end_day + timedelta(days=1), tz) if end_day else None)
    key = workflows.engine(args["workflow"] or workflows.DEFAULT_KEY).workflow.key  # 404 if unknown
    # The whole branch unfiltered reads the job's rollup while it is fresh: figures as of
    # its build (``as_of``, ``rollup`` true); otherwise computed live at this moment.
    build = rollups.usable(session, viewer, filters, workflow_key=key, tz=tz,
                           max_age=rollups.max_age(current_app.config), now=now)
    if build is not None:
        now = build.built_at
        figures = rollups.funnel(session, build, filters)
    else:
        figures = queries.funnel(session, viewer, filters, now=now, workflow_key=key)
    return jsonify({
        "workflow": key,
        "from": iso(filters.start), "to": iso(filters.end), "as_of": iso(now),
        "rollup": build is not None,
        "stages": [f.as_dict() for f in figures],
    })
