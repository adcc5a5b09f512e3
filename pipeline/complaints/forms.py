"""The complaint forms; their input is validated by the same schemas as the API's."""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, StringField, TextAreaField

from pipeline.complaints.schemas import (
    AssignComplaint,
    CauseActionInput,
    ComplaintEvent,
    FileComplaint,
)
from pipeline.forms import CommandForm, hints


class ComplaintForm(CommandForm):
    """A complaint received (:class:`~pipeline.complaints.schemas.FileComplaint`); the
    customer is the page's (``customer_id``) or found by the customer number typed."""

    schema = FileComplaint
    customer_id = HiddenField()
    customer_no = StringField(_l("Customer number"))
    summary = TextAreaField(_l("What the customer complains about"),
                            validators=[hints(FileComplaint, "summary")])
    category = StringField(_l("Category"), validators=[hints(FileComplaint, "category")])
    named_employee = StringField(_l("Employee the complaint is about (e-mail)"),
                                 description=_l("Leave empty when it names nobody."))

    def command(self) -> dict[str, Any]:
        raw = (self.customer_id.data or "").strip()
        return {"customer_id": int(raw) if raw.isdigit() else None,
                "summary": self.summary.data, "category": self.category.data,
                "named_employee": self.named_employee.data or None}


class StepEventForm(CommandForm):
    """An event on a complaint: the next step, settling, or an extension with a reason."""

    schema = ComplaintEvent
    event = HiddenField()
    version = HiddenField()
    reason = TextAreaField(_l("Reason"), validators=[hints(ComplaintEvent, "reason")])

    def command(self) -> dict[str, Any]:
        raw = (self.version.data or "").strip()
        return {"event": self.event.data, "reason": self.reason.data,
                "version": int(raw) if raw.isdigit() else None}


class AssignForm(CommandForm):
    """A team lead or supervisor gives the complaint to another handler."""

    schema = AssignComplaint
    handler = StringField(_l("New handler (e-mail)"), validators=[hints(AssignComplaint,
                                                                          "handler")])
    reason = TextAreaField(_l("Reason"), validators=[hints(AssignComplaint, "reason")])

    def command(self) -> dict[str, Any]:
        return {"handler": self.handler.data, "reason": self.reason.data}


class CauseActionForm(CommandForm):
    """A corrective action on a recurring cause, with its owner (溯源整改)."""

    schema = CauseActionInput
    cause = StringField(_l("Cause"), validators=[hints(CauseActionInput, "cause")])
    action = TextAreaField(_l("Corrective action"), validators=[hints(CauseActionInput,
                                                                      "action")])
    owner = StringField(_l("Owner (e-mail)"), validators=[hints(CauseActionInput, "owner")])

    def command(self) -> dict[str, Any]:
        return {"cause": self.cause.data, "action": self.action.data, "owner": self.owner.data}
