"""The prospect commands' input, as the API, the forms and the services load it (with
:func:`pipeline.validation.load`). Stage records have their own schemas, built from the
workflow (:mod:`pipeline.engine.records`)."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from marshmallow import ValidationError, post_load, validates_schema

from pipeline import clock
from pipeline.engine import identity
from pipeline.engine.definition import (
    CONTACT_KINDS,
    CONTACT_OUTCOMES,
    EVENTS,
    POTENTIALS,
    TIERS,
)
from pipeline.validation import (
    Command,
    Day,
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
TIER_OR_ASSETS = "Give a tier, or the assets it follows."
NOTHING_TO_CHANGE = "Give the assets, the potential or the tier."
REASON_MAX = 2000


def _today() -> date:
    # A day's leeway: the product's clock is UTC, a customer may be born in UTC+8's today.
    return (clock.now() + timedelta(days=1)).date()


class IdNumber(Text):
    """A mainland resident ID number (:mod:`pipeline.engine.identity`), spaces removed and
    the check letter upper-cased."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        value = super()._deserialize(value, attr, data, **kwargs)
        if value is None:
            return None
        value = identity.normal_id_number(value)
        if problem := identity.id_number_problem(value, today=_today()):
            raise ValidationError(Message(problem))
        return value


class Mobile(Text):
    """A mainland mobile number, stored as its 11 digits."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        value = super()._deserialize(value, attr, data, **kwargs)
        if value is None:
            return None
        value = identity.normal_mobile(value)
        if problem := identity.mobile_problem(value):
            raise ValidationError(Message(problem))
        return value


class CustomerNo(Text):
    """The bank's customer number: 1–32 letters, digits or dashes."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        value = super()._deserialize(value, attr, data, **kwargs)
        if value is not None and (problem := identity.customer_no_problem(value)):
            raise ValidationError(Message(problem))
        return value


class CreateProspect(Command):
    """A new prospect in the workflow's first stage (:func:`~pipeline.prospects.services.
    create_prospect`)."""

    name = Text(required=True, max_length=NAME_MAX)
    tier = Text(load_default=None, validate=OneOf(TIERS), metadata={
        "description": "given, the tier is kept whatever the assets (set by hand); left out, "
                       "it comes from the assets by the workflow's thresholds and follows them"})
    owner = Email(load_default=None, metadata={"description": "manager's e-mail; "
                                               "default: the caller"})
    customer_no = CustomerNo(load_default=None, max_length=identity.CUSTOMER_NO_MAX,
                             metadata={"description": "the bank's customer number; one "
                                       "prospect that is not lost per number"})
    id_number = IdNumber(load_default=None, max_length=NUMBER_MAX, metadata={
        "description": "resident ID number (18 characters, GB 11643 check digit); one "
                       "prospect that is not lost per number"})
    phone = Mobile(load_default=None, max_length=NUMBER_MAX, metadata={
        "description": "mainland mobile number; +86, spaces and dashes are removed"})
    birthday = Day(load_default=None, metadata={
        "description": "ISO date; must be the ID number's date of birth (taken from it "
                       "when not given)"})
    assets = Number(load_default=None, validate=Range(min=0, max=identity.ASSETS_MAX),
                    metadata={"description": "CNY under management at the bank"})
    potential = Text(load_default=None, validate=OneOf(POTENTIALS))
    workflow = Text(load_default=None, metadata={"description": "workflow key; "
                                                 "default: seven_step"})

    @validates_schema(skip_on_field_errors=False)
    def _birthday_is_the_id_numbers(self, data: dict[str, Any], **kwargs: Any) -> None:
        birthday = data.get("birthday")
        if birthday is not None and (problem := identity.birthday_problem(
                birthday, data.get("id_number"), today=_today())):
            raise ValidationError(Message(problem), "birthday")

    @post_load
    def _birthday_from_id_number(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if data.get("birthday") is None and data.get("id_number"):
            data["birthday"] = identity.birth_date(data["id_number"])
        return data

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _tier_or_assets(self, data: dict[str, Any], original: Any, **kwargs: Any) -> None:
        if not isinstance(original, Mapping) or original.get("assets") is not None:
            return
        tier = original.get("tier")
        if tier is None or isinstance(tier, str) and not tier.strip():
            raise ValidationError(Message(TIER_OR_ASSETS), "tier")


def happened(value: datetime) -> None:
    """A contact is logged once it happened (five minutes' leeway for clocks that differ)."""
    if value > clock.now() + timedelta(minutes=5):
        raise ValidationError(Message("A contact cannot be in the future."))


def ahead(value: datetime) -> None:
    """A callback is fixed for later."""
    if value <= clock.now():
        raise ValidationError(Message("A callback must be later than now."))


class LogContact(Command):
    """A touch with the customer (:func:`~pipeline.prospects.services.log_contact`)."""

    kind = Text(required=True, validate=OneOf(CONTACT_KINDS))
    outcome = Text(load_default=None, validate=OneOf(CONTACT_OUTCOMES))
    note = Text(load_default=None, max_length=NOTE_MAX)
    at = Moment(load_default=None, validate=happened,
                metadata={"description": "when it happened; default: now"})
    callback_at = Moment(load_default=None, validate=ahead, metadata={
        "description": "when to contact the customer next: a dated callback task for the "
                       "owner"})
    override_reason = Text(load_default=None, max_length=REASON_MAX, metadata={
        "description": "why a call over the monthly cap is made (seed 000: at most 3 calls "
                       "a month to a customer with assets over 200,000); kept and audited"})


# A retention task's result (seed 002): the customer retained, partly retained, or gone
# (the customer left, with the reason in the note).
RETENTION_OUTCOMES = ("retained", "partly_retained", "left")
LEFT_NEEDS_A_NOTE = "Say why the customer left."


class CompleteTask(Command):
    """A task marked done (:func:`~pipeline.prospects.services.complete_task`)."""

    note = Text(load_default=None, max_length=NOTE_MAX)
    outcome = Text(load_default=None, validate=OneOf(RETENTION_OUTCOMES), metadata={
        "description": "a retention task's result: retained, partly_retained or left (with "
                       "a note)"})

    @validates_schema(skip_on_field_errors=True)
    def _left_with_a_note(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("outcome") == "left" and not (data.get("note") or "").strip():
            raise ValidationError(Message(LEFT_NEEDS_A_NOTE), "note")


class FireEvent(Command):
    """An event on a prospect (:func:`~pipeline.prospects.services.advance_prospect`).

    Which events exist, which may fire now and which need a reason is the workflow's to
    say: the engine refuses the others (``unknown_event``, ``event_not_allowed``,
    ``transition_refused``)."""

    event = Text(required=True, metadata={"enum": list(EVENTS),
                                          "description": "one of " + ", ".join(EVENTS)})
    reason = Text(load_default=None, max_length=REASON_MAX)
    reason_category = Text(load_default=None, max_length=64, metadata={
        "description": "lose only: one of the workflow's lost_reasons keys, beside the "
                       "free-text reason; optional (a lose without one counts as other)"})
    version = Integer(load_default=None, metadata={
        "description": "the version as last read; a stale one is refused with 409"})
    new_owner = Email(load_default=None, metadata={
        "description": "reopen only: the new owner's e-mail"})


class UpdateCustomer(Command):
    """A change of the customer's assets, potential or tier (:func:`~pipeline.prospects.
    services.update_customer`); a field left out stays as it is."""

    assets = Number(validate=Range(min=0, max=identity.ASSETS_MAX), metadata={
        "description": "CNY under management at the bank; a tier that follows the assets "
                       "moves with them"})
    potential = Text(allow_none=True, validate=OneOf(POTENTIALS), metadata={
        "description": "high or low; null: not known (after-sale upkeep by the tier)"})
    tier = Text(allow_none=True, validate=OneOf(TIERS), metadata={
        "description": "a tier set by hand, kept whatever the assets; null: the tier follows "
                       "the assets again"})
    version = Integer(load_default=None, metadata={
        "description": "the version as last read; a stale one is refused with 409"})

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _something_to_change(self, data: dict[str, Any], original: Any, **kwargs: Any) -> None:
        if isinstance(original, Mapping) and not {"assets", "potential", "tier"} & set(original):
            raise ValidationError(Message(NOTHING_TO_CHANGE), "_schema")
