"""Forms whose input a command schema validates (:mod:`pipeline.validation`).

A :class:`CommandForm` renders its fields, checks the CSRF token and parses what an HTML
input sends (a number, a local date-time); :meth:`CommandForm.command` gives what was sent
in the shape of the command's schema, the same schema the API and the service load. The
rules live in the schema only: :class:`hints` shows its limits to the browser
(``required``, ``maxlength``, ``min``, ``max``), and its messages are shown beside their
fields in the reader's language.
"""
from __future__ import annotations

from typing import Any

from flask_babel import get_translations
from flask_wtf import FlaskForm
from flask_wtf.i18n import translations as wtforms_translations
from marshmallow import Schema, validate
from wtforms.fields.choices import SelectChoice

from pipeline.errors import Invalid, ServiceError
from pipeline.validation import Message, load


def option(value: Any, label: Any = None) -> SelectChoice:
    """One option of a select field (value, shown label)."""
    return SelectChoice(value, value if label is None else label)


def options(pairs: Any) -> list[SelectChoice]:
    """The options of a select field from (value, label) pairs."""
    return [option(value, label) for value, label in pairs]


class hints:  # noqa: N801 - used like WTForms' validator classes
    """A schema field's limits as WTForms field flags, which the widgets render as HTML
    attributes; it checks nothing (the schema does)."""

    def __init__(self, schema: type[Schema], name: str) -> None:
        field = schema().fields[name]
        flags: dict[str, Any] = {}
        if field.required:
            flags["required"] = True
        for validator in field.validators:
            if isinstance(validator, validate.Length) and validator.max is not None:
                flags["maxlength"] = validator.max
            if isinstance(validator, validate.Range):
                if validator.min is not None:
                    flags["min"] = validator.min
                if validator.max is not None:
                    flags["max"] = validator.max
        self.field_flags = flags

    def __call__(self, form: Any, field: Any) -> None:
        return None


def translated(message: str) -> str:
    """A schema's message in the reader's language: through the product's catalogue, or
    WTForms' for the wording WTForms' own validators use; as the form words it in English
    when neither has it."""
    if not isinstance(message, Message):
        return str(message)
    singular, plural, num = message.template, message.plural, message.num
    for catalogue in (get_translations(), wtforms_translations):
        text = catalogue.ngettext(singular, plural, num) if plural else \
            catalogue.gettext(singular)
        if text not in (singular, plural):
            return text % message.values if message.values else text
    text = plural if plural and num != 1 else singular
    return text % message.values if message.values else text


class CommandForm(FlaskForm):
    """A form that hands what was sent to a command schema; see the module.

    With ``schema`` set, :meth:`validate` also loads :meth:`command` with it: the schema's
    messages join the fields' own (a number that did not parse) so that one submission
    shows every problem, and :attr:`values` holds the command as the schema loaded it.
    """

    schema: type[Schema] | None = None
    values: dict[str, Any] | None = None

    def command(self) -> dict[str, Any]:
        """What was sent, in the shape of the command's schema (not yet validated)."""
        raise NotImplementedError

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        self.values = None
        if self.schema is not None:
            try:
                self.values = load(self.schema, self.command())
            except Invalid as exc:
                self._add_errors(exc, every=True)
                return False
        return ok

    def show(self, exc: ServiceError) -> bool:
        """Put the schema's messages in ``exc`` beside the fields they name, in the reader's
        language; True when a field took one. Other refusals (a full manager, an unknown
        user) are the caller's to word."""
        return self._add_errors(exc, every=False)

    def _add_errors(self, exc: ServiceError, *, every: bool) -> bool:
        shown = False
        for key, messages in (exc.details or {}).items():
            if key not in self or not isinstance(messages, list):
                continue
            ours = [m for m in messages if every or isinstance(m, Message)]
            if ours:
                self[key].errors = [*self[key].errors, *(translated(m) for m in ours)]
                shown = True
        return shown
