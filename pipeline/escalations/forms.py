"""The decision form of the escalation queues and the inbox's mark-read form."""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, RadioField, SelectField, TextAreaField
from wtforms.validators import NumberRange, Optional

from pipeline import labels
from pipeline.engine.definition import DECISIONS
from pipeline.escalations.schemas import DecideEscalation
from pipeline.forms import CommandForm, hints, options


class DecisionForm(CommandForm):
    """A decision (:class:`~pipeline.escalations.schemas.DecideEscalation`), rendered once
    per escalation (``prefix=f"e{id}"`` keeps the ids apart); the new owner's choices are
    the managers of the prospect's team, given by the view (0: nobody)."""

    decision = RadioField(_l("Decision"), validators=[hints(DecideEscalation, "decision")],
                          choices=options(labels.choices(labels.DECISIONS, DECISIONS)),
                          validate_choice=False)
    extend_days = IntegerField(_l("Days until the new due date"),
                               validators=[Optional(), hints(DecideEscalation, "extend_days")],
                               description=_l("Continue: 7 days unless you say otherwise."))
    new_owner = SelectField(_l("New manager"), coerce=int, validate_choice=False,
                            validators=[Optional()])
    note = TextAreaField(_l("Note"), validators=[hints(DecideEscalation, "note")],
                         description=_l("Abandon: the reason the prospect is lost."))

    def command(self) -> dict[str, Any]:
        return {"decision": self.decision.data, "extend_days": self.extend_days.data,
                "new_owner": self.new_owner.data or None, "note": self.note.data}


class MarkReadForm(FlaskForm):
    ids = HiddenField()


class BulkContinueForm(FlaskForm):
    """Continue the escalations ticked on a queue page (their ids: ``ids``, many values),
    each due ``extend_days`` from now (the workflow's default when empty)."""

    extend_days = IntegerField(_l("Days until the new due date"),
                               validators=[Optional(), NumberRange(min=1, max=90)])
