"""The escalation commands' input, as the API, the forms and the services load it (with
:func:`pipeline.validation.load`)."""
from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, validates_schema

from pipeline.engine.definition import DECISIONS
from pipeline.validation import REQUIRED, Command, Integer, Message, OneOf, Range, Text, UserRef

EXTEND_DAYS_MAX = 90
NOTE_MAX = 4000


class DecideEscalation(Command):
    """A team lead's or supervisor's decision on an open escalation
    (:func:`~pipeline.escalations.services.decide_escalation`): ``continue`` (the stage is
    due ``extend_days`` from now, default the workflow's), ``reassign`` to ``new_owner``, or
    ``abandon`` with the reason in ``note``."""

    decision = Text(required=True, validate=OneOf(DECISIONS))
    extend_days = Integer(load_default=None, validate=Range(min=1, max=EXTEND_DAYS_MAX))
    new_owner = UserRef(load_default=None, metadata={
        "description": "reassign: the manager (user id or e-mail) who takes it over"})
    note = Text(load_default=None, max_length=NOTE_MAX, metadata={
        "description": "abandon: the reason the prospect is lost"})

    @validates_schema(skip_on_field_errors=True)
    def _what_the_decision_needs(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data["decision"] == "reassign" and data.get("new_owner") is None:
            raise ValidationError({"new_owner": [Message("Required for reassign.", REQUIRED)]})
        if data["decision"] == "abandon" and not data.get("note"):
            raise ValidationError({"note": [Message("Required to abandon.", REQUIRED)]})
