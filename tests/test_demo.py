"""The demo branch is an imported customer book: its customers pass the importer's checks,
the allocated ones have the prospects the demo plays, the rest wait in the unallocated
book (with their branch areas) for the allocation page, and the same book file checked
again would change nothing but give lost customers a new prospect."""
from __future__ import annotations

import random

from sqlalchemy import func, select

from pipeline import workflows
from pipeline.auth.models import AuditEntry, User
from pipeline.customers import services
from pipeline.customers.models import BookCustomer
from pipeline.demo import AREAS, book_file, seed_demo_branch
from pipeline.prospects.models import Prospect
from pipeline.prospects.services import tier_from_assets


def test_the_demo_book_is_imported_with_unallocated_customers(session):
    summary = seed_demo_branch(session, prospects=120, unallocated=15)
    assert summary["created"] is True and summary["unallocated"] == 15
    assert session.scalar(select(func.count()).select_from(Prospect)) == 120
    book = session.scalars(select(BookCustomer)).all()
    assert len(book) == 15 and {b.area for b in book} <= set(AREAS)
    engine = workflows.engine()
    prospects = session.scalars(select(Prospect)).all()
    # The tier is the importer's: from the assets by the workflow's thresholds.
    assert all(p.tier == tier_from_assets(engine, p.assets) and not p.tier_manual
               for p in [*prospects, *book])
    assert {p.area for p in prospects} <= set(AREAS) and None not in {p.area for p in prospects}
    numbers = [p.customer_no for p in prospects] + [b.customer_no for b in book]
    assert len(set(numbers)) == 135
    audit = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "customers_imported")).one()
    assert audit.detail["channel"] == "demo" and audit.detail["unallocated"] == 15


def test_the_demo_file_imported_again_changes_nothing(session):
    seed_demo_branch(session, prospects=60, unallocated=6, seed=3)
    managers = list(session.scalars(select(User).where(User.role == "manager")
                                    .order_by(User.id)))
    # The same draw as the demo's first: the file it imported.
    again = book_file(random.Random(3), managers, 60, 6)
    plan, summary = services.check_file(session, again, "csv")
    assert summary.errors == []
    # A customer whose prospect is lost is free again: the file would give them a new
    # prospect (as any import would); every other customer is unchanged.
    lost = set(session.scalars(select(Prospect.customer_no).where(Prospect.status == "lost")))
    assert lost and {row.customer_no for row, _ in plan.new_prospects} == lost
    assert (plan.prospect_updates, plan.new_book, plan.book_updates, plan.from_book) == (
        [], [], [], [])
