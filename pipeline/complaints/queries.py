"""Reads of complaints, scoped like every case: a handler sees their own, a team lead the
team's, a supervisor the branch's."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from pipeline.auth.models import User
from pipeline.complaints.models import Complaint
from pipeline.complaints.services import WORKFLOW_KEY
from pipeline.prospects import queries
from pipeline.prospects.models import Prospect

OPEN = ("active", "paused")


def listed(viewer: User, *, customer_id: int | None = None, stage: str | None = None,
           status: str | None = None, overdue: bool = False) -> Select:
    """The viewer's complaints (cases of the complaint workflow) with the list filters."""
    stmt = queries.filtered(viewer, stage=stage, status=status, overdue=overdue,
                            workflow=WORKFLOW_KEY)
    if customer_id is not None:
        stmt = stmt.where(Prospect.customer_id == customer_id)
    return stmt


def complaints_of(session: Session, viewer: User, customer_id: int) -> list[tuple[Prospect,
                                                                                    Complaint]]:
    """The complaints about one customer the viewer may see, newest first (one query)."""
    stmt = listed(viewer, customer_id=customer_id).add_columns(Complaint) \
        .join(Complaint, Complaint.prospect_id == Prospect.id) \
        .order_by(Complaint.received_at.desc(), Prospect.id.desc())
    return [(p, c) for p, c in session.execute(stmt)]


def details(session: Session, case_ids: Iterable[int]) -> dict[int, Complaint]:
    ids = list(case_ids)
    if not ids:
        return {}
    return {c.prospect_id: c for c in session.scalars(
        select(Complaint).where(Complaint.prospect_id.in_(ids)))}


def open_counts(session: Session, customer_ids: Iterable[int]) -> dict[int, int]:
    """How many complaints are open (not settled) about each customer, in one query; the
    customer's card shows it whoever handles them (a count, nothing of their content)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    return dict(session.execute(
        select(Prospect.customer_id, func.count()).where(
            Prospect.customer_id.in_(ids), Prospect.workflow_key == WORKFLOW_KEY,
            Prospect.status.in_(OPEN)).group_by(Prospect.customer_id)).all())


def page_ids(stmt: Select, after: int | None, limit: int) -> Any:
    if after is not None:
        stmt = stmt.where(Prospect.id > after)
    return stmt.order_by(Prospect.id).limit(limit + 1)
