"""One way to validate a command's input: a marshmallow schema, loaded with :func:`load`.

A command (create a prospect, log a contact, fire an event, decide an escalation) has one
schema. The API loads the request's JSON with it, a form hands it what the browser sent
(:class:`pipeline.forms.CommandForm`), and a service loads the plain dict its caller
passed; bad input is one :class:`~pipeline.errors.Invalid` (422) whose details name each
bad field with its messages.

Messages are English, as the API answers. Each is a :class:`Message` that also knows how
a form words it (WTForms' catalogue, or the product's own), so a form can show it beside
its field in the reader's language.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from pipeline import clock
from pipeline.engine.records import StrictInteger, StrictNumber, StrictString
from pipeline.errors import Invalid

REQUIRED = "This field is required."


class Message(str):
    """An error message: the English text the API answers with, plus the template (and
    plural, count and values) a form translates to say the same in the reader's
    language. Without a template the text is its own template."""

    template: str
    plural: str | None
    num: int | None
    values: dict[str, Any]

    def __new__(cls, text: str, template: str | None = None, plural: str | None = None,
                num: int | None = None, **values: Any) -> Message:
        self = super().__new__(cls, text)
        self.template, self.plural, self.num, self.values = (template or text), plural, num, \
            values
        return self


class Command(Schema):
    """A command's input: unknown fields are refused."""

    class Meta:
        unknown = RAISE


_INSTANCES: dict[type[Schema], Schema] = {}


def _instance(schema: type[Schema]) -> Schema:
    """One instance per schema class, made on first use: building a schema copies its
    declared fields (about half the cost of a small load), and loading keeps no state on
    the instance, so threads share it."""
    found = _INSTANCES.get(schema)
    if found is None:
        found = _INSTANCES.setdefault(schema, schema())
    return found


def load(schema: type[Schema], data: Any) -> dict[str, Any]:
    """``data`` validated and normalised by ``schema``; raises Invalid (422) with the
    messages of each bad field (``_schema`` for what belongs to none)."""
    try:
        return _instance(schema).load(data)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise Invalid("invalid input: " + ", ".join(sorted(messages)), details=messages) \
            from None


# ---------------------------------------------------------------- validators

class Length(validate.Length):
    def _format_error(self, value: Any, message: str) -> str:
        text = super()._format_error(value, message)
        if self.max is not None and len(value) > self.max:
            return Message(text, "Field cannot be longer than %(max)d character.",
                           "Field cannot be longer than %(max)d characters.", self.max,
                           max=self.max)
        return Message(text, "Field must be at least %(min)d character long.",
                       "Field must be at least %(min)d characters long.", self.min, min=self.min)


class Range(validate.Range):
    def _format_error(self, value: Any, message: str) -> str:
        text = super()._format_error(value, message)
        if self.max is None:
            template = "Number must be at least %(min)s."
        elif self.min is None:
            template = "Number must be at most %(max)s."
        else:
            template = "Number must be between %(min)s and %(max)s."
        return Message(text, template, min=self.min, max=self.max)


class OneOf(validate.OneOf):
    def _format_error(self, value: Any) -> str:
        return Message(super()._format_error(value), "Not a valid choice.")


# ---------------------------------------------------------------- fields

class _Required:
    """A required value that is missing or null gets the form's "This field is required."."""

    def make_error(self, key: str, **kwargs: Any) -> ValidationError:
        error = super().make_error(key, **kwargs)  # type: ignore[misc]
        if key in ("required", "null"):
            return ValidationError(Message(str(error.messages[0]), REQUIRED))
        return error


class Text(_Required, StrictString):
    """A string, trimmed; blank is None (refused when required), ``max_length`` at most."""

    def __init__(self, *, max_length: int | None = None, **kwargs: Any) -> None:
        given = kwargs.pop("validate", None) or []
        validators = list(given) if isinstance(given, (list, tuple)) else [given]
        if max_length is not None:
            validators.insert(0, Length(max=max_length))
        super().__init__(validate=validators, **kwargs)

    def _validate(self, value: Any) -> None:
        if value is None and self.required:
            raise ValidationError(Message("Must not be blank.", REQUIRED))
        super()._validate(value)


class Integer(_Required, StrictInteger):
    """A whole number (not a numeric string, not a boolean)."""


class Number(_Required, StrictNumber):
    """A finite number (not a numeric string, not a boolean)."""


class Email(_Required, fields.Email):
    """An e-mail address, trimmed."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        value = super()._deserialize(value, attr, data, **kwargs)
        return value.strip() or None

    def _validate(self, value: Any) -> None:
        if value is not None:
            super()._validate(value)


class UserRef(_Required, fields.Field):
    """A user named by id (a positive whole number) or by e-mail address."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).setdefault("oneOf", [
            {"type": "integer", "minimum": 1}, {"type": "string", "format": "email"}])
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        if isinstance(value, str) and value.strip():
            value = value.strip()
            validate.Email(error="Not a valid user id or e-mail address.")(value)
            return value
        raise ValidationError("Not a valid user id or e-mail address.")


class Moment(_Required, fields.DateTime):
    """A moment: an aware datetime or an ISO-8601 string (``Z`` allowed), as aware UTC;
    blank is None."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, datetime):
            try:
                return clock.as_utc(value)
            except OverflowError:
                raise ValidationError("Must be an ISO-8601 date-time.") from None
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                return clock.parse(value)
            except ValueError:
                raise ValidationError("Must be an ISO-8601 date-time.") from None
        raise ValidationError("Must be a date-time.")

    def _validate(self, value: Any) -> None:
        if value is not None:
            super()._validate(value)


class Day(_Required, fields.Date):
    """A calendar date: a date or an ISO-8601 string (YYYY-MM-DD); blank is None."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, datetime):
            raise ValidationError(Message("Must be a date (YYYY-MM-DD)."))
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                raise ValidationError(Message("Must be a date (YYYY-MM-DD).")) from None
        raise ValidationError(Message("Must be a date (YYYY-MM-DD)."))

    def _validate(self, value: Any) -> None:
        if value is not None:
            super()._validate(value)
