"""The forms of the messages pages (each checks the CSRF token; the services check the
values)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional

from pipeline.forms import options


class SendSmsForm(FlaskForm):
    """The manager's SMS from the card: one click (the manager's phone only when it is not
    known yet)."""

    version = HiddenField()
    next = HiddenField()
    manager_phone = StringField(_l("Your phone number for customers"),
                                validators=[Optional()])


class OptOutForm(FlaskForm):
    opt_out = HiddenField()
    next = HiddenField()


class PauseForm(FlaskForm):
    """The customer showed annoyance: contact pauses until a day."""

    until = StringField(_l("Contact again on"), render_kw={"type": "date"})
    reason = TextAreaField(_l("What the customer said"))
    next = HiddenField()


class TemplateForm(FlaskForm):
    """A template's text in both languages."""

    zh_CN = TextAreaField(_l("Chinese"))
    en = TextAreaField(_l("English"))
    action = HiddenField()


class LeadCallForm(FlaskForm):
    outcome = RadioField(_l("Outcome of the call"), validate_choice=False, choices=options([
        ("keep", _l("Keep the manager")),
        ("change", _l("Change the customer manager")),
        ("abandon", _l("Abandon")),
    ]))
    new_owner = SelectField(_l("New manager"), coerce=int, validate_choice=False,
                            validators=[Optional()])
    note = TextAreaField(_l("Note"), validators=[Optional()],
                         description=_l("Abandon: the reason the prospect is not won."))
