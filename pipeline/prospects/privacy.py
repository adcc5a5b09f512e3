"""Who sees a customer's personal data in full, and how others see it.

One policy for every representation: the prospect's ID and phone numbers, and each record
field the workflow file marks ``personal: true`` (which fields those are is data, read
through the definition). The owner and the owner's team lead see them in full; everybody
else sees them masked (:func:`mask`), in the API's answers (the records and a save's echo
included) and on the pages (a record form leaves them out).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.auth.models import User
    from pipeline.engine.definition import Record, Workflow
    from pipeline.prospects.models import Prospect

MASK = "***"  # a personal value that is not a text (a number, a list) shows as this
UNMASKERS = ("supervisor", "admin")  # may see the data in full, stating why each time
REASON_LENGTH = (10, 200)


def mask(value: str | None) -> str | None:
    """Keep the first 3 and last 4 characters of an ID or phone number."""
    if not value:
        return value
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def sees_personal_data(viewer: User, prospect: Prospect) -> bool:
    """Only the owner and the owner's team lead see ID and phone numbers in full."""
    if viewer.id == prospect.owner_id:
        return True
    return viewer.role == "team_lead" and viewer.team_id == prospect.team_id


def personal_fields(record: Record | None) -> frozenset[str]:
    """The keys of the record's fields that hold personal data."""
    if record is None:
        return frozenset()
    return frozenset(f.key for f in record.fields if f.personal)


def mask_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return mask(value)
    return MASK


def record_data(workflow: Workflow, record_key: str, data: Mapping[str, Any], *,
                show: bool) -> dict[str, Any]:
    """A record's stored values as a viewer may see them: in full when ``show``, else with
    each personal field masked."""
    if show:
        return dict(data)
    personal = personal_fields(workflow.record(record_key))
    return {key: mask_value(value) if key in personal else value
            for key, value in data.items()}


def unchanged_masks(workflow: Workflow, record_key: str, stored: Mapping[str, Any],
                    values: Mapping[str, Any]) -> list[str]:
    """The personal fields of ``values`` that only repeat the masked form of the stored
    value (a client sending back what it was shown): saving them would destroy the real
    value, so the caller leaves them out."""
    personal = personal_fields(workflow.record(record_key))
    return [key for key, value in values.items()
            if key in personal and value is not None and stored.get(key) is not None
            and value != stored.get(key) and value == mask_value(stored.get(key))]


def unmask_reason(viewer: User, prospect: Prospect, reason: str | None) -> str | None:
    """The reason a supervisor or an administrator gave to see a prospect's personal data
    in full (the audit keeps it), or None when none is given or the viewer sees it anyway.

    Raises Invalid (``reason``) for a reason too short to say anything or too long, and
    Forbidden for a role that may not unmask.
    """
    from flask import g

    from pipeline.errors import Forbidden, Invalid

    if reason is None or sees_personal_data(viewer, prospect):
        return None
    reason = " ".join(reason.split())
    low, high = REASON_LENGTH
    if not low <= len(reason) <= high:
        raise Invalid(f"the reason is {low} to {high} characters",
                      details={"reason": [f"Length must be between {low} and {high}."]})
    if viewer.role not in UNMASKERS:
        raise Forbidden("only a supervisor or an administrator sees another's customer's "
                        "personal data in full", code="unmask_not_allowed")
    g.unmask_reason = reason
    return reason
