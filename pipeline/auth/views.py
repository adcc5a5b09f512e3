"""Sign-in, sign-out and the language switch."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from pipeline.auth.forms import LanguageForm, LoginForm
from pipeline.auth.services import FAILURE_WINDOW_MINUTES, set_locale, sign_in
from pipeline.db import get_session
from pipeline.errors import ServiceError

bp = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") \
            and not urlsplit(target).netloc:
        return target
    return url_for("index")


@bp.route("/login", methods=["GET", "POST"])
def login():  # noqa: ANN201
    if current_user.is_authenticated:
        return redirect(url_for("index"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = sign_in(get_session(), form.email.data, form.password.data,
                           ip=request.remote_addr)
        except ServiceError as exc:
            flash(_("Too many failed sign-ins; try again in %(minutes)d minutes.",
                    minutes=FAILURE_WINDOW_MINUTES) if exc.code == "throttled"
                  else _("Wrong e-mail or password."), "error")
            return render_template("auth/login.html", form=form), 401 \
                if exc.code != "throttled" else 429
        session.clear()  # a new session on sign-in
        login_user(user, remember=bool(form.remember.data))
        return redirect(safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():  # noqa: ANN201
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
