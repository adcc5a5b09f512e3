"""Stage records: validation of submitted fields and completeness.

Each record of a workflow gets a marshmallow schema built from its field list; the same
schema validates API and form input and documents the API (OpenAPI).
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from pipeline import clock
from pipeline.engine import identity
from pipeline.engine.definition import Field, Record

# A moment "done" is refused when it lies more than a week ahead: a slip of the year or
# the month, not a time typed roughly or a call ticked ahead of the day it was planned for
# (a contact logged on its own is held to minutes, LogContact). One "planned" may have
# been booked for earlier today and entered now.
PAST_SKEW = timedelta(days=7)
UPCOMING_GRACE = timedelta(days=1)
_PHONE = re.compile(r"\+?[0-9][0-9 ()-]{4,24}")


class StrictString(fields.String):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str):
            raise ValidationError("Must be a string.")
        if "\x00" in value:  # no database text column takes it
            raise ValidationError("Must not contain a NUL character.")
        for check in self.validators:  # a maximum length holds for the text as sent
            if isinstance(check, validate.Length) and check.max is not None \
                    and len(value) > check.max:
                check(value)
        value = value.strip()
        return value or None

    def _validate(self, value: Any) -> None:
        # A blank string became None: required fields refuse it, length checks skip it.
        if value is None:
            if self.required:
                raise ValidationError("Must not be blank.")
            return
        super()._validate(value)


class StrictBoolean(fields.Boolean):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, bool):
            raise ValidationError("Must be true or false.")
        return value


class StrictInteger(fields.Integer):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("Must be a whole number.")
        return value


class StrictNumber(fields.Float):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError("Must be a number.")
        if not math.isfinite(value):
            raise ValidationError("Must be a finite number.")
        return value


class ISODateTime(fields.DateTime):
    """An ISO-8601 date-time; stored as an ISO string in UTC."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str):
            raise ValidationError("Must be an ISO-8601 date-time.")
        try:
            return clock.parse(value).isoformat()
        except ValueError:
            raise ValidationError("Must be an ISO-8601 date-time.") from None


class ISODate(fields.Date):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str):
            raise ValidationError("Must be an ISO-8601 date (YYYY-MM-DD).")
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise ValidationError("Must be an ISO-8601 date (YYYY-MM-DD).") from None


def _format_check(fmt: str):
    """The check and normal form of a string field's ``format``."""
    def check(value: str | None) -> str | None:
        if value is None:
            return None
        if fmt == "mobile":
            value = identity.normal_mobile(value)
            problem = identity.mobile_problem(value)
        elif fmt == "id_number":
            value = identity.normal_id_number(value)
            problem = identity.id_number_problem(value)
        else:
            problem = None if _PHONE.fullmatch(value) and sum(
                c.isdigit() for c in value) >= 5 else "Must be a phone number."
        if problem:
            raise ValidationError(problem)
        return value
    return check


class FormattedString(StrictString):
    """A string field with a ``format``: checked and stored in its normal form."""

    def __init__(self, fmt: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = _format_check(fmt)
        self.metadata.setdefault("format", fmt)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        return self.check(super()._deserialize(value, attr, data, **kwargs))


class Choice(fields.String):
    def __init__(self, choices: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.choices = choices
        self.metadata.setdefault("enum", list(choices))

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if value not in self.choices:
            raise ValidationError(f"Must be one of: {', '.join(self.choices)}.")
        return value


class StringList(fields.List):
    def __init__(self, max_items: int | None = None, **kwargs: Any) -> None:
        super().__init__(StrictString(), **kwargs)
        self.max_items = max_items

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, list):
            raise ValidationError("Must be a list of strings.")
        if self.max_items is not None and len(value) > self.max_items:
            raise ValidationError(f"At most {self.max_items} items.")
        out = []
        for item in value:
            if not isinstance(item, str):
                raise ValidationError("Must be a list of strings.")
            if len(item) > MAX_LENGTH["string"]:
                raise ValidationError(f"Each item is at most {MAX_LENGTH['string']} characters.")
            if item.strip():
                out.append(item.strip())
        return out


class AnyList(fields.List):
    """A list of strings or objects (for example allocation proposals)."""

    def __init__(self, max_items: int | None = None, **kwargs: Any) -> None:
        super().__init__(fields.Raw(), **kwargs)
        self.max_items = max_items

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, list):
            raise ValidationError("Must be a list.")
        if self.max_items is not None and len(value) > self.max_items:
            raise ValidationError(f"At most {self.max_items} items.")
        for item in value:
            if not isinstance(item, (str, dict)) or item in ("", {}):
                raise ValidationError("Each item must be a non-empty string or object.")
        return value


_SIMPLE = {
    "string": StrictString,
    "text": StrictString,
    "integer": StrictInteger,
    "number": StrictNumber,
    "boolean": StrictBoolean,
    "date": ISODate,
    "datetime": ISODateTime,
}


# The longest value a record's text field takes, from the API as from the forms.
MAX_LENGTH = {"string": 200, "text": 4000}  # as the record forms (prospects.forms)


def marshmallow_field(f: Field) -> fields.Field:
    meta = {"description": f.label.en}
    if f.type in MAX_LENGTH and not f.format:
        return StrictString(allow_none=True, metadata=meta,
                            validate=validate.Length(max=MAX_LENGTH[f.type]))
    if f.type == "choice":
        return Choice(f.choices or (), allow_none=True, metadata=meta)
    if f.type == "string_list":
        return StringList(f.max_items, allow_none=True, metadata=meta)
    if f.type == "list":
        return AnyList(f.max_items, allow_none=True, metadata=meta)
    if f.format:
        return FormattedString(f.format, allow_none=True, metadata=meta)
    if f.min is not None or f.max is not None:
        return _SIMPLE[f.type](allow_none=True, metadata=meta,
                               validate=validate.Range(min=f.min, max=f.max))
    return _SIMPLE[f.type](allow_none=True, metadata=meta)


_schemas: dict[int, tuple[Record, Schema]] = {}


def record_schema(record: Record) -> Schema:
    """The marshmallow schema of a record (built once per record definition)."""
    cached = _schemas.get(id(record))
    if cached is not None and cached[0] is record:
        return cached[1]
    cls = Schema.from_dict(
        {f.key: marshmallow_field(f) for f in record.fields},
        name="".join(p.title() for p in record.key.split("_")) + "Record",
    )
    schema = cls(unknown=RAISE)
    _schemas[id(record)] = (record, schema)
    return schema


def validate_record(record: Record, data: Any, *, now: datetime | None = None) -> dict[str, Any]:
    """Validate a (partial) record submission at ``now`` (the clock's by default).

    Returns the normalised values; raises ValidationError whose ``messages`` map each
    bad or unknown field to its messages. A date-time field's ``when`` is checked against
    ``now``: something done is not in the future, something planned not in the past.
    """
    if not isinstance(data, dict):
        raise ValidationError({"_schema": ["A record must be a JSON object."]})
    values = record_schema(record).load(data, partial=True)
    now = now or clock.now()
    errors: dict[str, list[str]] = {}
    for f in record.fields:
        value = values.get(f.key)
        if f.when is None or value is None:
            continue
        moment = clock.parse(value)
        if f.when == "past" and moment > now + PAST_SKEW:
            errors[f.key] = ["Must not be in the future."]
        elif f.when == "upcoming" and moment < now - UPCOMING_GRACE:
            errors[f.key] = ["Must not be in the past."]
    if errors:
        raise ValidationError(errors)
    return values


def is_filled(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, (str, list, dict)):
        return len(value) > 0
    return True


def completeness(record: Record, data: dict[str, Any]) -> float:
    """The share of the record's counted fields that are filled (0..1)."""
    counted = [f for f in record.fields if f.counts]
    if not counted:
        return 1.0
    filled = sum(1 for f in counted if is_filled(data.get(f.key)))
    return round(filled / len(counted), 4)


def merge(existing: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A partial save: given fields replace, ``null`` clears."""
    out = dict(existing)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


# ---------------------------------------------------------------- values known elsewhere

def source_value(f: Field, records: Mapping[str, Mapping[str, Any]],
                 customer: Mapping[str, Any]) -> Any:
    """The value ``f``'s ``from`` names: the customer's column or another record's field."""
    if f.source is None:
        return None
    head, _dot, tail = f.source.partition(".")
    value = customer.get(tail) if head == "customer" else (records.get(head) or {}).get(tail)
    return value.isoformat() if isinstance(value, date) else value


def derive(record: Record, data: Mapping[str, Any], records: Mapping[str, Mapping[str, Any]],
           customer: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with each derived field holding its source's value (absent when it has none)."""
    out = dict(data)
    for f in record.fields:
        if f.derived:
            value = source_value(f, records, customer)
            if is_filled(value):
                out[f.key] = value
            else:
                out.pop(f.key, None)
    return out


def prefilled(record: Record, data: Mapping[str, Any], records: Mapping[str, Mapping[str, Any]],
              customer: Mapping[str, Any]) -> dict[str, Any]:
    """What a record's form starts from: ``data``, its derived fields from their sources and
    each empty field with a ``from`` filled from it (data entered once)."""
    out = derive(record, data, records, customer)
    for f in record.fields:
        if f.source and not f.derived and not is_filled(out.get(f.key)):
            value = source_value(f, records, customer)
            if is_filled(value):
                out[f.key] = value
    return out


def derived_mismatches(record: Record, values: Mapping[str, Any],
                       records: Mapping[str, Mapping[str, Any]],
                       customer: Mapping[str, Any]) -> dict[str, list[str]]:
    """Derived fields sent with a value other than their source's, by field: a derived
    field is never typed, so such a value is refused rather than silently replaced."""
    out: dict[str, list[str]] = {}
    for f in record.fields:
        if f.derived and f.key in values and values[f.key] is not None \
                and values[f.key] != source_value(f, records, customer):
            out[f.key] = [f"Taken from {f.source}; change it there."]
    return out


def dependents(records: Any, record_key: str) -> list[Record]:
    """The records (of ``records``, a workflow's) with a derived field from ``record_key``."""
    return [r for r in records if any(
        f.derived and f.source and f.source.split(".", 1)[0] == record_key for f in r.fields)]
