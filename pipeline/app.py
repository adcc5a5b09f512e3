"""The app factory."""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from pipeline import clock, db, resources, workflows
from pipeline import config as config_module


class ConfigurationError(RuntimeError):
    """The app refuses to start with this configuration."""


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. No database queries here; a bad workflow file stops the start."""
    app = Flask(__name__, instance_relative_config=True,
                template_folder=str(resources.TEMPLATES_DIR),
                static_folder=str(resources.STATIC_DIR))
    app.config.from_object(config_module.Config)
    config_module.from_environment(app.config)
    if config:
        app.config.update(config)
    _check_config(app)
    os.makedirs(app.instance_path, exist_ok=True)
    workflows.install(app.config.get("WORKFLOWS_DIR") or workflows.DEFAULT_DIR)
    db.init_app(app)
    _register_extensions(app)
    _register_blueprints(app)
    _register_cli(app)
    from pipeline import security

    security.init_app(app)  # headers, production checks, schema check
    return app


def _check_config(app: Flask) -> None:
    production = app.config.get("PIPELINE_ENV") == "production"
    if production and app.config["SECRET_KEY"] == config_module.DEFAULT_SECRET:
        raise ConfigurationError(
            "PIPELINE_SECRET_KEY must be set in production (the default secret is public)")
    if app.config.get("PIPELINE_NOW"):
        if production:
            raise ConfigurationError("PIPELINE_NOW (a fixed clock) is refused in production")
        clock.set_now(clock.parse(app.config["PIPELINE_NOW"]))
    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO)


def _register_extensions(app: Flask) -> None:
    from pipeline import web

    web.init_app(app)
    web.register_layout(app)


def _register_blueprints(app: Flask) -> None:
    from pipeline.api.views import bp as api_bp
    from pipeline.audit import views as audit_views
    from pipeline.auth.views import bp as auth_bp
    from pipeline.escalations import views as escalation_views
    from pipeline.prospects.views import bp as prospects_bp
    from pipeline.reports.views import bp as reports_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(prospects_bp)
    app.register_blueprint(reports_bp)
    escalation_views.init_app(app)  # blueprint, nav badges, in-process scheduler
    audit_views.init_app(app)


def _register_cli(app: Flask) -> None:
    from pipeline import cli

    cli.init_app(app)
