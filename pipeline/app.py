"""The app factory."""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from pipeline import cli, clock, db, errors, logs, resources, security, web, workflows
from pipeline import config as config_module
from pipeline.aftersale import views as aftersale_views
from pipeline.api.views import bp as api_bp
from pipeline.audit import views as audit_views
from pipeline.auth.views import bp as auth_bp
from pipeline.complaints import views as complaint_views
from pipeline.config import ConfigurationError
from pipeline.customers.allocation_views import bp as allocation_bp
from pipeline.customers.views import bp as customers_bp
from pipeline.escalations import scheduler
from pipeline.escalations import views as escalation_views
from pipeline.messages import views as message_views
from pipeline.prospects.views import bp as prospects_bp
from pipeline.reports import rollups
from pipeline.reports.views import bp as reports_bp

__all__ = ["ConfigurationError", "create_app"]  # ConfigurationError: where wsgi.py looks


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. No database queries here; a bad workflow file stops the start."""
    app = Flask(__name__, instance_relative_config=True,
                template_folder=str(resources.TEMPLATES_DIR),
                static_folder=str(resources.STATIC_DIR))
    app.config.from_object(config_module.Config)
    config_module.load_environment(app.config)
    if config:
        app.config.update(config)
    logs.init_app(app)
    _check_config(app)
    os.makedirs(app.instance_path, exist_ok=True)
    workflows.install(app.config.get("WORKFLOWS_DIR") or workflows.DEFAULT_DIR)
    db.init_app(app)
    _register_extensions(app)
    _register_blueprints(app)
    _register_cli(app)
    security.init_app(app)  # headers, input checks, schema check
    return app


def _check_config(app: Flask) -> None:
    security.check_config(app)  # production: secrets, cookies, debugger, CSRF
    if not 0 <= (app.config.get("PIPELINE_PROXY_HOPS") or 0) <= 10:
        raise ConfigurationError("PIPELINE_PROXY_HOPS must be the number of reverse proxies "
                                 "in front of the app, 0 to 10")
    if app.config.get("PIPELINE_NOW"):
        if app.config.get("PIPELINE_ENV") == "production":
            raise ConfigurationError("PIPELINE_NOW (a fixed clock) is refused in production")
        clock.set_now(clock.parse(app.config["PIPELINE_NOW"]))


def _register_extensions(app: Flask) -> None:

    web.init_app(app)
    web.register_layout(app)
    errors.init_app(app)  # every error as the JSON envelope or the error page


def _register_blueprints(app: Flask) -> None:

    app.register_blueprint(auth_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(prospects_bp)
    app.register_blueprint(reports_bp)
    # The funnel's rollups on an interval of their own, known before the scheduler starts.
    scheduler.PERIODIC["rollup"] = ("PIPELINE_ROLLUP_MINUTES", rollups.scheduled_build)
    app.register_blueprint(customers_bp)
    aftersale_views.init_app(app)  # campaigns
    app.register_blueprint(allocation_bp)
    escalation_views.init_app(app)  # blueprint, nav badges, in-process scheduler
    complaint_views.init_app(app)  # blueprint, the customer's page and card
    message_views.init_app(app)  # SMS pages, API, callbacks; the outcome hook queueing SMS
    audit_views.init_app(app)


def _register_cli(app: Flask) -> None:

    cli.init_app(app)
