"""The audit page's filters (a GET form: no CSRF token needed, nothing changes)."""
from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectField, StringField
from wtforms.validators import Length, NumberRange, Optional, ValidationError

from pipeline import labels
from pipeline.errors import MAX_ID
from pipeline.forms import options

# Days the log can hold (a day beyond these has no start or end in every time zone).
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)


def within_the_log(_form, field) -> None:  # noqa: ANN001 - WTForms' validator protocol
    if field.data is not None and not FIRST_DAY <= field.data <= LAST_DAY:
        raise ValidationError(_l("Pick a day between %(first)s and %(last)s.",
                                 first=FIRST_DAY.isoformat(), last=LAST_DAY.isoformat()))


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False

    action = SelectField(_l("Action"), choices=options([("", _l("All actions"))]
                                                       + list(labels.AUDIT_ACTIONS.items())),
                         validators=[Optional()])
    actor = StringField(_l("Who (e-mail)"), validators=[Optional(), Length(max=254)])
    since = DateField(_l("From"), validators=[Optional(), within_the_log])
    until = DateField(_l("To"), validators=[Optional(), within_the_log])
    prospect = IntegerField(_l("Prospect number"),
                            validators=[Optional(), NumberRange(min=1, max=MAX_ID)])
    before = IntegerField(validators=[Optional(), NumberRange(min=1, max=MAX_ID)])
