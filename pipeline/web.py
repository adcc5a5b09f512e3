"""Web-side extensions: sign-in sessions, CSRF, languages."""
from __future__ import annotations

from flask import Blueprint, Flask, g, request, session
from flask_babel import Babel, Domain, lazy_gettext
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFProtect

from pipeline import resources
from pipeline.auth.services import session_user
from pipeline.db import get_session

login_manager = LoginManager()


def require_sign_in(bp: Blueprint) -> None:
    """Every page of the blueprint ``bp`` needs a signed-in user (else the sign-in page)."""
    @bp.before_request
    def _signed_in():  # noqa: ANN202
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        return None
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
    except RuntimeError:  # outside a request or app context
        return False


@login_manager.user_loader
def load_user(user_id: str):  # noqa: ANN201 - Flask-Login's protocol

    # "<id>:<session version>": a cookie from before a sign-out or a password change names
    # an older version and signs nobody in (pipeline.auth.services.session_user).
    return session_user(get_session(), user_id)


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    login_manager.login_message = lazy_gettext("Please sign in to see this page.")
    login_manager.login_message_category = "info"
    csrf.init_app(app)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", ";".join(translation_dirs()))
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    babel.domain_instance = CatalogueDomain()


class CatalogueDomain(Domain):
    """Flask-Babel's domain, finding the ``zh_CN`` catalogues.

    Babel names that locale ``zh_Hans_CN``, which gettext expands to ``zh_Hans_CN`` and
    ``zh`` only, so the stock domain never loads a ``zh_CN`` directory (every Chinese
    string would silently stay English). Each package's catalogue is merged in.
    """

    def get_translations(self):  # noqa: ANN201 - Babel's Translations
        from babel import support
        from flask_babel import get_locale

        locale = get_locale()
        if locale is None:
            return super().get_translations()
        key = (str(locale), self.domain[0])
        if key not in self.cache:
            names = [str(locale)]
            if locale.territory:
                names.append(f"{locale.language}_{locale.territory}")
            translations = support.Translations()
            for dirname in self.translation_directories:
                catalog = support.Translations.load(dirname, names, self.domain[0])
                translations.merge(catalog)
                if hasattr(catalog, "plural"):
                    translations.plural = catalog.plural
            self.cache[key] = translations
        return self.cache[key]


def translation_dirs() -> list[str]:
    """Each package keeps its own catalogue: ``pipeline/[<package>/]translations``."""
    return [str(p) for p in resources.translation_dirs()]


# ---------------------------------------------------------------- layout helpers

ROLE_LABELS = {
    "manager": lazy_gettext("Customer manager"),
    "team_lead": lazy_gettext("Team lead"),
    "supervisor": lazy_gettext("Supervisor"),
    "admin": lazy_gettext("Administrator"),
}

# (endpoint, label, roles that see it, badge provider name)
NAV = [
    ("prospects.board", lazy_gettext("Board"), None, None),
    ("prospects.my_day", lazy_gettext("My day"), ("manager",), None),
    ("escalations.queue", lazy_gettext("Escalations"), ("team_lead", "supervisor", "admin"),
     "open_escalations"),
    ("reports.funnel", lazy_gettext("Funnel"), None, None),
    ("reports.daily", lazy_gettext("Reports"), None, None),
    ("escalations.inbox", lazy_gettext("Inbox"), None, "unread_notifications"),
    ("aftersale.campaigns", lazy_gettext("Campaigns"), ("team_lead", "supervisor", "admin"),
     None),
    ("complaints.index", lazy_gettext("Complaint handling"), None, None),
    ("audit.index", lazy_gettext("Audit log"), ("supervisor", "admin"), None),
    ("customers.import_page", lazy_gettext("Import customers"), ("supervisor", "admin"), None),
    ("messages.templates", lazy_gettext("Message templates"), ("supervisor", "admin"), None),
    ("messages.branch_queue", lazy_gettext("Branch SMS queue"), ("team_lead", "supervisor",
                                                                  "admin"), None),
    ("allocation.book", lazy_gettext("Allocation"), ("supervisor", "admin", "manager"), None),
    ("allocation.claims", lazy_gettext("Claims"), ("supervisor", "admin", "manager"),
     "pending_claims"),
    ("allocation.move", lazy_gettext("Manager leaving"), ("supervisor", "admin"), None),
]
BADGES: dict = {}  # name -> callable(user) -> int, registered by the domain packages


def current_locale() -> str:
    from flask_babel import get_locale

    return str(get_locale() or "zh_CN")


def role_label(role: str) -> str:
    return str(ROLE_LABELS.get(role, role))


def nav_items() -> list[dict]:
    from flask import current_app, url_for

    out = []
    for endpoint, label, roles, badge in NAV:
        if endpoint not in current_app.view_functions:
            continue
        if roles and current_user.role not in roles:
            continue
        count = BADGES[badge](current_user) if badge in BADGES else 0
        out.append({"url": url_for(endpoint), "label": str(label),
                    "active": request.endpoint == endpoint, "badge": count or None,
                    "testid": badge or ""})
    return out


def register_layout(app: Flask) -> None:
    from flask import jsonify, redirect, render_template, url_for
    from flask_login import login_required

    @app.context_processor
    def _layout() -> dict:
        return {"nav_items": nav_items, "role_label": role_label,
                "current_locale": current_locale}

    @app.route("/")
    @login_required
    def index():  # noqa: ANN202
        if "prospects.board" in app.view_functions:
            return redirect(url_for("prospects.board"))
        return render_template("errors/error.html", code=200, title="Bank pipeline",
                               message="")

    @app.get("/favicon.ico")
    def favicon():  # noqa: ANN202
        """Browsers ask for it before reading the page's icon link."""
        return redirect(url_for("static", filename="favicon.svg"), code=301)

    @app.get("/healthz")
    def healthz():  # noqa: ANN202
        return jsonify({"status": "ok"})
