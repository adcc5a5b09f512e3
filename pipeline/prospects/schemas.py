"""The prospect commands' input, as the API, the forms and the services load it (with
:func:`pipeline.validation.load`). Stage records have their own schemas, built from the
workflow (:mod:`pipeline.engine.records`)."""
from __future__ import annotations

from datetime import datetime, timedelta

from marshmallow import ValidationError

from pipeline import clock
from pipeline.engine.definition import CONTACT_KINDS, CONTACT_OUTCOMES, EVENTS, TIERS
from pipeline.validation import (
    Command,
    Email,
    Integer,
    Message,
    Moment,
    Number,
    OneOf,
    Range,
    Text,
)

NAME_MAX = 200
NUMBER_MAX = 40  # ID and phone numbers
NOTE_MAX = 4000
REASON_MAX = 2000


class CreateProspect(Command):
    """A new prospect in the workflow's first stage (:func:`~pipeline.prospects.services.
    create_prospect`)."""

    name = Text(required=True, max_length=NAME_MAX)
    tier = Text(required=True, validate=OneOf(TIERS))
    owner = Email(load_default=None, metadata={"description": "manager's e-mail; "
                                               "default: the caller"})
    id_number = Text(load_default=None, max_length=NUMBER_MAX)
    phone = Text(load_default=None, max_length=NUMBER_MAX)
    assets = Number(load_default=None, validate=Range(min=0))
    workflow = Text(load_default=None, metadata={"description": "workflow key; "
                                                 "default: seven_step"})


def happened(value: datetime) -> None:
    """A contact is logged once it happened (five minutes' leeway for clocks that differ)."""
    if value > clock.now() + timedelta(minutes=5):
        raise ValidationError(Message("A contact cannot be in the future."))


class LogContact(Command):
    """A touch with the customer (:func:`~pipeline.prospects.services.log_contact`)."""

    kind = Text(required=True, validate=OneOf(CONTACT_KINDS))
    outcome = Text(load_default=None, validate=OneOf(CONTACT_OUTCOMES))
    note = Text(load_default=None, max_length=NOTE_MAX)
    at = Moment(load_default=None, validate=happened,
                metadata={"description": "when it happened; default: now"})


class FireEvent(Command):
    """An event on a prospect (:func:`~pipeline.prospects.services.advance_prospect`).

    Which events exist, which may fire now and which need a reason is the workflow's to
    say: the engine refuses the others (``unknown_event``, ``event_not_allowed``,
    ``transition_refused``)."""

    event = Text(required=True, metadata={"enum": list(EVENTS),
                                          "description": "one of " + ", ".join(EVENTS)})
    reason = Text(load_default=None, max_length=REASON_MAX)
    version = Integer(load_default=None, metadata={
        "description": "the version as last read; a stale one is refused with 409"})
    new_owner = Email(load_default=None, metadata={
        "description": "reopen only: the new owner's e-mail"})
