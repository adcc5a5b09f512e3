"""The decision form of the escalation queues and the inbox's mark-read form."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, RadioField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from pipeline import labels
from pipeline.engine.definition import DECISIONS


class DecisionForm(FlaskForm):
    """Rendered once per escalation (``prefix=f"e{id}"`` keeps the ids apart); the new
    owner's choices are the managers of the prospect's team, given by the view."""

    decision = RadioField(_l("Decision"), validators=[DataRequired()],
                          choices=labels.choices(labels.DECISIONS, DECISIONS))
    extend_days = IntegerField(_l("Days until the new due date"),
                               validators=[Optional(), NumberRange(min=1, max=90)],
                               description=_l("Continue: 7 days unless you say otherwise."))
    new_owner = SelectField(_l("New manager"), coerce=int, validate_choice=False,
                            validators=[Optional()])
    note = TextAreaField(_l("Note"), validators=[Length(max=4000)],
                         description=_l("Abandon: the reason the prospect is lost."))


class MarkReadForm(FlaskForm):
    ids = HiddenField()
