"""The complaint commands' input, as the API, the forms and the services load it."""
from __future__ import annotations

from datetime import datetime, timedelta

from marshmallow import ValidationError

from pipeline import clock
from pipeline.validation import Command, Email, Integer, Message, Moment, Range, Text

SUMMARY_MAX = 2000
CATEGORY_MAX = 64
REASON_MAX = 2000
NOT_IN_FUTURE = "A complaint cannot be received in the future."


def received(value: datetime) -> None:
    """A complaint is recorded once received (five minutes' leeway for clocks that differ)."""
    if value > clock.now() + timedelta(minutes=5):
        raise ValidationError(Message(NOT_IN_FUTURE))


class FileComplaint(Command):
    """A complaint received (:func:`~pipeline.complaints.services.file_complaint`)."""

    customer_id = Integer(required=True, validate=Range(min=1, max=2**31 - 1), metadata={
        "description": "the customer's prospect id"})
    summary = Text(required=True, max_length=SUMMARY_MAX)
    category = Text(load_default=None, max_length=CATEGORY_MAX)
    received_at = Moment(load_default=None, validate=received, metadata={
        "description": "when the complaint was received; default: now. The whole-case limit "
                       "counts from it"})
    named_employee = Email(load_default=None, metadata={
        "description": "the e-mail of the employee the complaint is about: never its "
                       "handler (回避)"})


class AssignComplaint(Command):
    """A complaint given to another handler by a team lead or supervisor."""

    handler = Email(required=True)
    reason = Text(load_default=None, max_length=REASON_MAX)
    version = Integer(load_default=None)


class ComplaintEvent(Command):
    """An event on a complaint (the workflow's: advance, win, extend…)."""

    event = Text(required=True)
    reason = Text(load_default=None, max_length=REASON_MAX)
    version = Integer(load_default=None)


class CauseActionInput(Command):
    """A corrective action on a recurring cause (溯源整改)."""

    cause = Text(required=True, max_length=64)
    action = Text(required=True, max_length=REASON_MAX)
    owner = Email(required=True)
