"""The audit page's filters (a GET form: no CSRF token needed, nothing changes)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectField, StringField
from wtforms.validators import Length, NumberRange, Optional

from pipeline import labels


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False

    action = SelectField(_l("Action"), choices=[("", _l("All actions"))]
                         + list(labels.AUDIT_ACTIONS.items()),
                         validators=[Optional()])
    actor = StringField(_l("Who (e-mail)"), validators=[Optional(), Length(max=254)])
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("To"), validators=[Optional()])
    prospect = IntegerField(_l("Prospect number"), validators=[Optional(), NumberRange(min=1)])
    before = IntegerField(validators=[Optional(), NumberRange(min=1)])
