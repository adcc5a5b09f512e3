"""Who sees a prospect's ID and phone numbers in full, and how others see them."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.auth.models import User
    from pipeline.prospects.models import Prospect


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
