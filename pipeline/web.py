"""Web-side extensions: sign-in sessions, CSRF, languages."""
from __future__ import annotations

from flask import Flask, g, request, session
from flask_babel import Babel
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFProtect

from pipeline.db import get_session

login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


def select_locale() -> str:
    from flask import current_app

    languages = current_app.config["LANGUAGES"]
    user = getattr(g, "_login_user", None) or (current_user if _has_user() else None)
    if user is not None and getattr(user, "locale", None) in languages:
        return user.locale
    if session.get("locale") in languages:
        return session["locale"]
    best = request.accept_languages.best_match(["zh_CN", "zh", "en"]) if request else None
    if best == "zh":
        best = "zh_CN"
    return best or current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    from flask import current_app

    if _has_user() and getattr(current_user, "timezone", None):
        return current_user.timezone
    return current_app.config["PIPELINE_TIMEZONE"]


def _has_user() -> bool:
    try:
        return bool(current_user and current_user.is_authenticated)
    except Exception:  # outside a request
        return False


@login_manager.user_loader
def load_user(user_id: str):  # noqa: ANN201 - Flask-Login's protocol
    from pipeline.auth.models import User

    try:
        user = get_session().get(User, int(user_id))
    except (TypeError, ValueError):
        return None
    return user if user is not None and user.active else None


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone,
                   default_translation_directories=str(app.root_path + "/translations"))
