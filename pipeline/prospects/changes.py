"""What a record save changed, as its audit entry keeps it and the log page shows it.

A save's entry keeps, per changed field, the value before and after. The audit log is read
by supervisors and administrators, who by the one masking policy
(:mod:`pipeline.prospects.privacy`) never see another's customer's personal data in full:
a personal field's values are kept masked, so the append-only table holds no ID or phone
number in full, and the page masks them once more when it shows them.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pipeline.prospects import privacy

if TYPE_CHECKING:
    from pipeline.engine.definition import Record


def record_changes(record: Record, record_key: str, old: Mapping[str, Any],
                   new: Mapping[str, Any], changed: Iterable[str]) -> dict[str, Any]:
    """The detail of a ``record_saved`` entry: the record, the changed fields (the personal
    ones named apart) and each one's old and new value, personal ones masked."""
    personal = privacy.personal_fields(record)
    fields = sorted(changed)
    return {"record": record_key, "fields": fields,
            "personal_fields": [k for k in fields if k in personal],
            "changes": {k: {"old": _shown(old.get(k), k in personal),
                            "new": _shown(new.get(k), k in personal)} for k in fields}}


def _shown(value: Any, personal: bool) -> Any:
    return privacy.mask_value(value) if personal else value


def masked_detail(detail: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """An entry's detail as the log page shows it: the old and new values of the fields it
    names as personal masked (already so when written; masking again keeps them so)."""
    if not detail:
        return None if detail is None else {}
    changes = detail.get("changes")
    if not isinstance(changes, Mapping):
        return dict(detail)
    personal = set(detail.get("personal_fields") or ())
    return {**detail, "changes": {
        key: ({side: _shown(value, True) for side, value in change.items()}
              if key in personal and isinstance(change, Mapping) else change)
        for key, change in changes.items()}}
