"""Sign-in, sign-out, the language switch and the user's own API tokens."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from pipeline.auth.forms import LanguageForm, LoginForm, RevokeForm, TokenForm
from pipeline.auth.services import (
    Throttled,
    issue_token,
    revoke_token,
    set_locale,
    sign_in,
    sign_out,
    tokens_of,
)
from pipeline.db import get_session
from pipeline.errors import ServiceError, parse_id

bp = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str:
    """``target`` when it is a path of this site, else the home page: the one check of
    every ``next`` a form or link carries. Browsers drop tabs and newlines from a URL and
    read a backslash as a slash, so ``/\\t/evil.example`` or ``/\\\\evil.example`` would
    leave the site: anything with a control character or a backslash is refused."""
    if not target or not target.startswith("/") or "\\" in target \
            or any(ord(c) < 0x20 or ord(c) == 0x7f for c in target):
        return url_for("index")
    parts = urlsplit(target)
    if target.startswith("//") or parts.scheme or parts.netloc:
        return url_for("index")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():  # noqa: ANN201
    if current_user.is_authenticated:
        return redirect(url_for("index"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = sign_in(get_session(), form.email.data, form.password.data,
                           ip=request.remote_addr)
        except Throttled as exc:
            flash(_("Too many failed sign-ins; try again in %(seconds)d seconds.",
                    seconds=exc.retry_after), "error")
            response = current_app.make_response(
                (render_template("auth/login.html", form=form), 429))
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        except ServiceError:
            flash(_("Wrong e-mail or password."), "error")
            return render_template("auth/login.html", form=form), 401
        session.clear()  # a new session on sign-in
        login_user(user, remember=bool(form.remember.data))
        return redirect(safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():  # noqa: ANN201
    # Every session and remember cookie of the user ends, on every device, not only this
    # browser's: a copy of the cookie replayed later signs nobody in.
    sign_out(get_session(), current_user.id, ip=request.remote_addr)
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/language")
def language():  # noqa: ANN201
    form = LanguageForm()
    if form.validate_on_submit():
        session["locale"] = form.locale.data
        if current_user.is_authenticated:
            set_locale(get_session(), current_user, form.locale.data)
    return redirect(safe_next(request.form.get("next")))


# ---------------------------------------------------------------- API tokens

@bp.route("/account/tokens", methods=["GET", "POST"])
@login_required
def tokens():  # noqa: ANN201
    """The user's own API tokens: issue one (shown once), see when each was last used,
    revoke any."""
    form = TokenForm()
    new_token = None
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            new_token = issue_token(get_session(), current_user.email, name=form.name.data,
                                    days=form.days.data)
        else:
            status = 422
    elif form.days.data is None:
        form.days.data = current_app.config.get("PIPELINE_TOKEN_DAYS", 90)
    return render_template("auth/tokens.html", form=form, new_token=new_token,
                           tokens=tokens_of(get_session(), current_user),
                           revoke_form=RevokeForm()), status


@bp.post("/account/tokens/<token_id>/revoke")
@login_required
def revoke(token_id: str):  # noqa: ANN201
    form = RevokeForm()
    if form.validate_on_submit():
        revoke_token(get_session(), parse_id(token_id, "token"), actor=current_user,
                     ip=request.remote_addr)
        flash(_("The token is revoked."), "info")
    return redirect(url_for("auth.tokens"))
