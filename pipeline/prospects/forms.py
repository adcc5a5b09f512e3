"""Forms of the customer manager's workspace.

Stage-record forms are built from the workflow definition: one form class per record,
a WTForms field per record field (by its type), labels in the user's language. The form
checks what a browser can get wrong (types, lengths, choices) and turns its data into the
plain dict the service takes; the service validates again with the record's schema.

The other forms are command forms (:class:`pipeline.forms.CommandForm`): they hand what
was sent to the command's schema (:mod:`pipeline.prospects.schemas`), which alone decides
what is valid.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    FieldList,
    FloatField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from pipeline import clock, labels
from pipeline.engine.definition import (
    CONTACT_KINDS,
    CONTACT_OUTCOMES,
    POTENTIALS,
    TIERS,
    Field,
    Record,
)
from pipeline.forms import CommandForm, hints, option, options
from pipeline.prospects.schemas import CreateProspect, FireEvent, LogContact, UpdateCustomer

STRING_MAX = 200
TEXT_MAX = 4000
LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]

def value_label(value: str) -> str:
    return labels.label(labels.VALUES, value)


def split_items(text: str | None) -> list[str]:
    """Free-text list items: commas (either width), semicolons or new lines."""
    return [p.strip() for p in re.split(r"[,，;；、\n]", text or "") if p.strip()]


class Range(NumberRange):
    """NumberRange that leaves a value that did not parse to the field's own message."""

    def __call__(self, form: Any, field: Any) -> None:
        if field.data is None:
            return
        super().__call__(form, field)


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class VersionedForm(CommandForm):
    version = HiddenField()

    def version_value(self) -> int | None:
        try:
            return int(self.version.data) if self.version.data not in (None, "") else None
        except ValueError:
            return None


class RecordForm(VersionedForm):
    """Base of the generated record forms; ``then`` is the event a board drop wanted."""

    then = HiddenField()

    record: Record
    tz: str = "Asia/Shanghai"
    hidden_keys: frozenset[str] = frozenset()  # personal fields this viewer may not see
    index_fields: tuple[str, ...] = ()  # integer fields that pick an item of a list field

    def validate(self, extra_validators: Mapping | None = None) -> bool:
        ok = super().validate(extra_validators)
        for key in self.index_fields:
            field = self[key]
            if field.data not in (None, "") and not field.errors:
                options = [o for o in self._list_values()]
                if int(field.data) >= len(options):
                    field.errors = list(field.errors) + [
                        str(_l("Choose one of the proposals offered."))]
                    ok = False
        return ok

    def _list_values(self) -> list:
        for f in self.record.fields:
            if f.type == "list":
                return [e.data.strip() for e in self[f.key] if (e.data or "").strip()]
        return []

    def visible_fields(self) -> list:
        return [self[f.key] for f in self.record.fields if f.key not in self.hidden_keys]

    def record_data(self) -> dict[str, Any]:
        """The form's values as the service's dict (empty fields clear the stored value)."""
        out: dict[str, Any] = {}
        for f in self.record.fields:
            if f.key in self.hidden_keys:
                continue
            out[f.key] = _to_value(self, f)
        return out


def _to_value(form: RecordForm, f: Field) -> Any:
    field = form[f.key]
    data = field.data
    if f.type in ("string", "text", "choice"):
        return (data or "").strip() or None
    if f.type == "boolean":
        return bool(data)
    if f.type in ("integer", "number"):
        if f.key in form.index_fields:
            return int(data) if data not in (None, "") else None
        return data
    if f.type == "date":
        return data.isoformat() if data else None
    if f.type == "datetime":
        if not data:
            return None
        return clock.as_utc(data.replace(tzinfo=ZoneInfo(form.tz))).isoformat()
    if f.type == "string_list":
        items = list(data or []) if f.suggestions else []
        other = form[f.key + "_other"].data if f.suggestions else data
        for item in split_items(other):
            if item not in items:
                items.append(item)
        return items or None
    if f.type == "list":
        items = [e.data.strip() for e in field if (e.data or "").strip()]
        return items or None
    return data  # pragma: no cover - every field type is handled above


def _form_field(record: Record, f: Field, label: str, index_of: str | None):
    """The WTForms field for one record field."""
    if f.type == "string":
        if f.suggestions:
            return SelectField(label, choices=options([("", "—")] + [
                (s, value_label(s)) for s in f.suggestions]), validators=[Optional()],
                validate_choice=False)
        return StringField(label, validators=[Optional(), Length(max=STRING_MAX)])
    if f.type == "text":
        return TextAreaField(label, validators=[Optional(), Length(max=TEXT_MAX)])
    if f.type == "integer":
        if index_of:
            return SelectField(label, choices=options([("", "—")] + [
                (str(i), _l("Proposal %(n)s", n=i + 1)) for i in range(_list_size(record))]),
                validators=[Optional()])
        return IntegerField(label, validators=[Optional(), Range(min=0, max=10**9)])
    if f.type == "number":
        return FloatField(label, validators=[Optional(), Range(min=0)])
    if f.type == "boolean":
        return BooleanField(label)
    if f.type == "date":
        return DateField(label, validators=[Optional()])
    if f.type == "datetime":
        return DateTimeLocalField(label, format=LOCAL_FORMATS, validators=[Optional()])
    if f.type == "choice":
        return SelectField(label, choices=options([("", "—")] + [
            (c, value_label(c)) for c in f.choices or ()]), validators=[Optional()])
    if f.type == "string_list":
        if f.suggestions:
            return MultiCheckboxField(label, choices=options(
                (s, value_label(s)) for s in f.suggestions))
        return TextAreaField(label, validators=[Optional(), Length(max=TEXT_MAX)],
                             description=_l("One per line."))
    if f.type == "list":
        return FieldList(StringField(validators=[Optional(), Length(max=STRING_MAX)]),
                         label=label, min_entries=_list_size(record),
                         max_entries=_list_size(record))
    raise ValueError(f"no form field for type {f.type!r}")  # pragma: no cover


def _list_size(record: Record) -> int:
    for f in record.fields:
        if f.type == "list":
            return f.max_items or 3
    return 3


_classes: dict[tuple, type[RecordForm]] = {}


def record_form_class(record: Record, locale: str, *, hidden: Iterable[str] = ()) -> type:
    """The form class of a record in ``locale`` (built once per record, language and
    hidden-field set). An integer field named ``chosen`` in a record with a list field
    picks one of the list's items."""
    hidden = frozenset(hidden)
    key = (id(record), record.key, locale, hidden)
    cached = _classes.get(key)
    if cached is not None and cached.record is record:
        return cached
    has_list = any(f.type == "list" for f in record.fields)
    attrs: dict[str, Any] = {"record": record, "hidden_keys": hidden}
    index_fields = []
    for f in record.fields:
        if f.key in hidden:
            continue
        index_of = "list" if (has_list and f.type == "integer" and f.key == "chosen") else None
        if index_of:
            index_fields.append(f.key)
        attrs[f.key] = _form_field(record, f, f.label.get(locale), index_of)
        if f.type == "string_list" and f.suggestions:
            attrs[f.key + "_other"] = StringField(
                _l("Other (comma-separated)"), validators=[Optional(), Length(max=STRING_MAX)])
    attrs["index_fields"] = tuple(index_fields)
    cls = type("".join(p.title() for p in record.key.split("_")) + "Form", (RecordForm,), attrs)
    _classes[key] = cls
    return cls


def initial_data(record: Record, data: Mapping[str, Any], tz: str) -> dict[str, Any]:
    """Stored record data as the form's initial values (times in the user's zone)."""
    out: dict[str, Any] = {}
    zone = ZoneInfo(tz)
    for f in record.fields:
        value = data.get(f.key)
        if value is None:
            continue
        if f.type == "datetime":
            try:
                out[f.key] = clock.parse(value).astimezone(zone).replace(tzinfo=None)
            except (TypeError, ValueError):
                continue
        elif f.type == "date":
            try:
                out[f.key] = datetime.fromisoformat(value).date()
            except (TypeError, ValueError):
                continue
        elif f.type == "string_list" and f.suggestions:
            out[f.key] = [v for v in value if v in f.suggestions]
            out[f.key + "_other"] = ", ".join(v for v in value if v not in f.suggestions)
        elif f.type == "string_list":
            out[f.key] = "\n".join(value)
        elif f.type == "list":
            out[f.key] = [v if isinstance(v, str) else (v.get("name") or str(v))
                          for v in value]
        elif f.type == "integer" and f.key == "chosen" and any(
                x.type == "list" for x in record.fields):
            out[f.key] = str(value)
        else:
            out[f.key] = value
    return out


def build_record_form(record: Record, locale: str, tz: str, data: Mapping[str, Any], *,
                      hidden: Iterable[str] = (), formdata: Any = None, version: int | None = None,
                      then: str | None = None) -> RecordForm:
    """A bound record form: ``formdata`` (a POST) or the stored ``data``."""
    cls = record_form_class(record, locale, hidden=hidden)
    form = cls(formdata=formdata, data=initial_data(record, data, tz), prefix=record.key)
    form.tz = tz
    form.shown = dict(data)  # what the fields not in the form show (read-only)
    for f in record.fields:
        # A value stored through the API that is not among the suggestions stays selectable.
        if f.type == "string" and f.suggestions and f.key not in form.hidden_keys:
            current = data.get(f.key)
            if current and current not in f.suggestions:
                form[f.key].choices = list(form[f.key].choices) + [option(current)]
    if formdata is None:
        form.version.data = "" if version is None else str(version)
        form.then.data = then or ""
    return form


# ---------------------------------------------------------------- command forms

class MoveForm(VersionedForm):
    """A board move: to the next stage (advance / win) or back a stage (with a reason).
    ``to`` names the column; the view turns it into the event."""

    to = StringField(_l("Move to"), validators=[DataRequired(), Length(max=64)])
    reason = TextAreaField(_l("Reason"), validators=[hints(FireEvent, "reason")])

    def command(self, *, event: str) -> dict[str, Any]:
        return {"event": event, "reason": self.reason.data, "version": self.version_value()}


class EventForm(VersionedForm):
    """An event fired from the prospect page (:class:`~pipeline.prospects.schemas.FireEvent`);
    whether it needs a reason is the workflow's to say."""

    schema = FireEvent
    event = HiddenField()
    reason = TextAreaField(_l("Reason"), validators=[hints(FireEvent, "reason")])
    # The lose event's category, offered (and then required) when the workflow lists
    # lost_reasons; the choices are set with :meth:`offer_categories`.
    reason_category = SelectField(_l("Reason category"), choices=[], validate_choice=False)

    def offer_categories(self, categories: Any, locale: str) -> None:
        self.reason_category.choices = [option("", "—")] + [
            option(c.key, c.name.get(locale)) for c in categories]

    def validate_reason_category(self, field: Any) -> None:
        if len(field.choices or ()) > 1 and not field.data:
            raise ValidationError(_l("Choose the category of the reason."))

    def command(self) -> dict[str, Any]:
        return {"event": self.event.data, "reason": self.reason.data,
                "reason_category": self.reason_category.data or None,
                "version": self.version_value()}


class TaskForm(FlaskForm):
    """Mark a cadence task done (the CSRF token is all it carries)."""


class ContactForm(CommandForm):
    """A touch with the customer (:class:`~pipeline.prospects.schemas.LogContact`); ``tz``
    (set by the view) is the zone of the local time the user typed."""

    schema = LogContact
    tz = "Asia/Shanghai"
    kind = SelectField(_l("Kind"), choices=options(labels.choices(labels.CONTACT_KINDS, CONTACT_KINDS)),
                       validate_choice=False)
    outcome = SelectField(_l("Outcome"), choices=options([("", "—")] + labels.choices(
        labels.CONTACT_OUTCOMES, CONTACT_OUTCOMES)), validate_choice=False)
    at = DateTimeLocalField(_l("When"), format=LOCAL_FORMATS, validators=[Optional()],
                            description=_l("Leave empty for now."))
    note = TextAreaField(_l("Note"), validators=[hints(LogContact, "note")])
    callback_at = DateTimeLocalField(_l("Call back at"), format=LOCAL_FORMATS,
                                     validators=[Optional()],
                                     description=_l("A callback task for the manager."))
    override_reason = StringField(_l("Reason to call over the monthly cap"),
                                  validators=[hints(LogContact, "override_reason")])

    def command(self) -> dict[str, Any]:
        at, callback = self.at.data, self.callback_at.data
        zone = ZoneInfo(self.tz)
        return {"kind": self.kind.data, "outcome": self.outcome.data, "note": self.note.data,
                "at": clock.as_utc(at.replace(tzinfo=zone)) if at else None,
                "callback_at": clock.as_utc(callback.replace(tzinfo=zone)) if callback
                else None,
                "override_reason": self.override_reason.data or None}


# A tier chosen by hand, or none: the tier follows the assets.
TIER_CHOICES = options([("", _l("From the assets"))] + labels.choices(labels.TIERS, TIERS))
TIER_HINT = _l("From the assets: the tier follows them. A tier chosen here is kept.")


class ProspectForm(CommandForm):
    """A new prospect (:class:`~pipeline.prospects.schemas.CreateProspect`); the owner's
    choices are the managers the viewer may give prospects to, set by the view."""

    schema = CreateProspect
    name = StringField(_l("Customer name"), validators=[hints(CreateProspect, "name")])
    tier = SelectField(_l("Tier"), choices=TIER_CHOICES, default="", validate_choice=False,
                       description=TIER_HINT)
    # One of the managers offered (the service then checks the viewer may choose them).
    owner = SelectField(_l("Customer manager"), choices=[])
    customer_no = StringField(_l("Customer number"),
                              validators=[hints(CreateProspect, "customer_no")])
    phone = StringField(_l("Mobile phone"), validators=[hints(CreateProspect, "phone")])
    id_number = StringField(_l("ID number"), validators=[hints(CreateProspect, "id_number")])
    birthday = DateField(_l("Birthday"), validators=[Optional()],
                         description=_l("Taken from the ID number when left empty."))
    assets = FloatField(_l("Assets (CNY)"),
                        validators=[Optional(), hints(CreateProspect, "assets")])
    potential = SelectField(_l("Potential"), choices=options([("", "—")] + labels.choices(
        labels.POTENTIALS, POTENTIALS)), default="", validate_choice=False)

    def command(self) -> dict[str, Any]:
        return {"name": self.name.data, "tier": self.tier.data or None,
                "owner": self.owner.data or None, "customer_no": self.customer_no.data,
                "phone": self.phone.data, "id_number": self.id_number.data,
                "birthday": self.birthday.data, "assets": self.assets.data,
                "potential": self.potential.data or None}


class CustomerForm(VersionedForm):
    """The customer's assets, potential and tier on the prospect page
    (:class:`~pipeline.prospects.schemas.UpdateCustomer`): empty assets stay as they are;
    "from the assets" lets the tier follow them."""

    schema = UpdateCustomer
    assets = FloatField(_l("Assets (CNY)"),
                        validators=[Optional(), hints(UpdateCustomer, "assets")])
    potential = SelectField(_l("Potential"), choices=options([("", "—")] + labels.choices(
        labels.POTENTIALS, POTENTIALS)), validate_choice=False)
    tier = SelectField(_l("Tier"), choices=TIER_CHOICES, validate_choice=False,
                       description=TIER_HINT)

    @classmethod
    def for_prospect(cls, prospect: Any) -> CustomerForm:
        """The form as the prospect stands: a tier that follows the assets shows as such."""
        follows = not prospect.tier_manual and prospect.assets is not None
        return cls(formdata=None, prefix="customer", data={
            "assets": prospect.assets, "potential": prospect.potential or "",
            "tier": "" if follows else prospect.tier, "version": str(prospect.version)})

    def command(self) -> dict[str, Any]:
        out: dict[str, Any] = {"potential": self.potential.data or None,
                               "tier": self.tier.data or None,
                               "version": self.version_value()}
        if self.assets.data is not None:
            out["assets"] = self.assets.data
        return out
