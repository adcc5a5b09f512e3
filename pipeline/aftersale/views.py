"""Campaign pages (team leads and supervisors): name a market event, choose the affected
customers, see per manager who has been contacted, not yet, or is overdue."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from pipeline import clock, labels
from pipeline.aftersale import queries, services
from pipeline.aftersale.forms import CampaignForm
from pipeline.db import get_session
from pipeline.errors import ServiceError
from pipeline.escalations.services import on_full_sweep

bp = Blueprint("aftersale", __name__)


@bp.before_request
@login_required
def _campaigners_only() -> None:
    if current_user.role not in services.CAMPAIGNERS:
        abort(403)


@bp.route("/campaigns", methods=["GET", "POST"])
def campaigns():
    session = get_session()
    form = CampaignForm()
    status = 200
    if form.validate_on_submit():
        try:
            found = services.create_campaign(session, actor=current_user, data=form.values)
        except ServiceError as exc:
            if not form.show(exc):
                flash(str(exc.message), "error")
            status = 422
        else:
            flash(_("Campaign started: %(num)d customers, a task for each owner.",
                    num=found.customers), "success")
            return redirect(url_for(".campaign", campaign_id=found.id))
    elif form.is_submitted():
        status = 422
    return render_template("aftersale/campaigns.html", form=form,
                           campaigns=queries.campaigns(session, current_user),
                           tier_label=lambda t: labels.label(labels.TIERS, t)), status


@bp.get("/campaigns/<int:campaign_id>")
def campaign(campaign_id: int):
    session = get_session()
    found = queries.campaign(session, current_user, campaign_id)
    rows = queries.campaign_progress(session, current_user, found, clock.now())
    return render_template("aftersale/campaign.html", campaign=found, rows=rows,
                           tier_label=lambda t: labels.label(labels.TIERS, t))


def init_app(app) -> None:  # noqa: ANN001
    """The campaign pages, and the birthday tasks in the sweep's daily run."""
    app.register_blueprint(bp)
    on_full_sweep("birthdays", services.make_birthday_tasks)
