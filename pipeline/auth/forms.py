"""Sign-in, preference and API-token forms."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from pipeline.forms import options


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    remember = BooleanField(_l("Keep me signed in"))


class LanguageForm(FlaskForm):
    locale = SelectField(_l("Language"), choices=options([("zh_CN", "中文"), ("en", "English")]))


class TokenForm(FlaskForm):
    name = StringField(_l("What it is for"), validators=[Optional(), Length(max=80)])
    days = IntegerField(_l("Valid for (days)"), default=90,
                        validators=[DataRequired(), NumberRange(min=1, max=366)])


class RevokeForm(FlaskForm):
    """A revoke button: only its CSRF token."""
