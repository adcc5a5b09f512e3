"""Allocating the unallocated book (seed 002: the branch head lists the customers, managers
claim the ones they know, the head approves and allocates; one manager per customer, at
most the workflow's cap each; later re-allocation comes with a handover letter).

* :func:`book_page` — the unallocated book filtered by tier, assets and branch area, paged
  (numbers masked by :func:`book_row`).
* :func:`allocate` — a supervisor gives book customers to a manager under the cap: each
  becomes a prospect in the workflow's first stage with its cadence tasks, the outcome of
  :meth:`Engine.create <pipeline.engine.machine.Engine.create>` written by the one event
  path (:func:`pipeline.prospects.events.apply`), its book row removed, an audit row; one
  transaction. The manager's row is locked first (the cap holds under concurrent
  allocations to one manager) and the book rows next (of two supervisors allocating one
  customer, the second finds it gone: 409 ``already_allocated``).
* :func:`claim`, :func:`approve_claim`, :func:`refuse_claim` — a manager's claim (申领), the
  supervisor's approval (the allocation above) or refusal with a note (an inbox message).
  An allocation closes the customer's other pending claims.
* :func:`move_customers` — a manager leaves: every customer they maintain moves to the
  receiving managers, spread under the cap (or nothing moves, saying how many places are
  missing); each move is the engine's ``transfer`` outcome through the one event path (a
  ``reassign`` history row from whom to whom), a :class:`Handover` row with its letter,
  an audit row; each receiver gets one inbox message with the count and the letters.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from marshmallow import ValidationError, fields, validates_schema
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline import clock, workflows
from pipeline.auth.models import User
from pipeline.auth.services import audit
from pipeline.customers.models import BookCustomer, CustomerClaim
from pipeline.db import unit_of_work
from pipeline.engine.definition import TIERS
from pipeline.errors import MAX_ID, Conflict, Forbidden, Invalid, NotFound, parse_id
from pipeline.escalations.models import Handover
from pipeline.escalations.services import handover_letter
from pipeline.logs import log_event
from pipeline.notifications.services import N_, Message, Recipient, notify_many
from pipeline.prospects import events, queries
from pipeline.prospects.models import Prospect
from pipeline.prospects.privacy import mask
from pipeline.prospects.services import engine_of, insert_or_duplicate, lock_managers
from pipeline.validation import Command, OneOf, Text, UserRef, load
from pipeline.validation import Message as FieldMessage

ALLOCATORS = ("supervisor", "admin")
PER_PAGE = 50
MAX_PER_PAGE = 200
MAX_SELECTED = 500  # customers in one allocation or claim
MAX_PAGE = 100_000  # beyond any book (and within what an OFFSET takes)
NOTE_MAX = 2000
AREA_MAX = 64

OVER_CAP = "Maintains %(count)d of %(cap)d customers: %(selected)d more would pass the cap."
MISSING_PLACES = "The receiving managers lack %(missing)d places under the cap of %(cap)d."
NOT_A_MANAGER = "Must be an active customer manager."
UNKNOWN_USER = "Unknown user."
LEAVING_RECEIVES = "The leaving manager cannot receive."
NOT_IN_BOOK = "Not in the unallocated book (allocated meanwhile?)."
ALREADY_CLAIMED = "You have already claimed this customer."
ASSETS_ORDER = "Must not be less than the lower bound."


def _may_allocate(actor: User) -> None:
    if actor.role not in ALLOCATORS:
        raise Forbidden("only a supervisor or an administrator allocates the customer book")


# ---------------------------------------------------------------- the book, filtered

class QueryNumber(fields.Float):
    """A number from a query string or a form (text), or a JSON number; blank is None."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValidationError(FieldMessage("Must be a number."))
        try:
            number = float(value.replace(",", "")) if isinstance(value, str) else float(value)
        except ValueError:
            raise ValidationError(FieldMessage("Must be a number.")) from None
        if not math.isfinite(number) or number < 0:
            raise ValidationError(FieldMessage("Must be a number of at least 0."))
        return number


class QueryPage(fields.Integer):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return 1
        try:
            page = int(value)
        except (TypeError, ValueError):
            raise ValidationError(FieldMessage("Must be a whole number.")) from None
        if not 1 <= page <= MAX_PAGE:
            raise ValidationError(FieldMessage(
                f"Must be a page number from 1 to {MAX_PAGE}.",
                "Must be a page number from 1 to %(max)d.", max=MAX_PAGE))
        return page


class BookFilter(Command):
    """The allocation page's filter: ``tier``, ``assets_from`` and ``assets_to`` (CNY,
    inclusive), ``area``, ``page``."""

    tier = Text(load_default=None, allow_none=True, validate=OneOf(TIERS))
    assets_from = QueryNumber(load_default=None, allow_none=True)
    assets_to = QueryNumber(load_default=None, allow_none=True)
    area = Text(load_default=None, allow_none=True, max_length=AREA_MAX)
    page = QueryPage(load_default=1)

    @validates_schema
    def _bounds(self, data: dict[str, Any], **kwargs: Any) -> None:
        low, high = data.get("assets_from"), data.get("assets_to")
        if low is not None and high is not None and high < low:
            raise ValidationError({"assets_to": [FieldMessage(ASSETS_ORDER)]})


@dataclass
class BookPage:
    items: list[BookCustomer]
    total: int
    page: int
    per_page: int
    areas: list[str] = field(default_factory=list)
    filters: dict[str, Any] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def load_filter(data: Any) -> dict[str, Any]:
    """The filter as :class:`BookFilter` loads it; Invalid naming each bad field."""
    return load(BookFilter, {k: v for k, v in dict(data).items() if k in BookFilter().fields})


def book_page(session: Session, viewer: User, filters: Any,
              per_page: int = PER_PAGE) -> BookPage:
    """The unallocated book filtered (``filters``: see :class:`BookFilter`), largest
    assets first, one page. Supervisors, administrators and managers (who claim) see it;
    Forbidden for others."""
    if viewer.role not in (*ALLOCATORS, "manager"):
        raise Forbidden("the unallocated book is for supervisors and managers")
    f = load_filter(filters)
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    where = []
    if f["tier"]:
        where.append(BookCustomer.tier == f["tier"])
    if f["assets_from"] is not None:
        where.append(BookCustomer.assets >= f["assets_from"])
    if f["assets_to"] is not None:
        where.append(BookCustomer.assets <= f["assets_to"])
    if f["area"]:
        where.append(BookCustomer.area == f["area"])
    total = session.scalar(select(func.count()).select_from(BookCustomer).where(*where)) or 0
    items = list(session.scalars(
        select(BookCustomer).where(*where)
        .order_by(BookCustomer.assets.desc().nulls_last(), BookCustomer.id)
        .limit(per_page).offset((f["page"] - 1) * per_page)))
    return BookPage(items, total, f["page"], per_page, areas(session), f)


def areas(session: Session) -> list[str]:
    """The branch areas of the unallocated book, for the filter's choices."""
    return list(session.scalars(select(BookCustomer.area).distinct()
                                .where(BookCustomer.area.is_not(None))
                                .order_by(BookCustomer.area)))


def book_row(book: BookCustomer) -> dict[str, Any]:
    """A book customer as the page and the API show it: ID and phone numbers masked (no
    one maintains the customer yet, so nobody sees them in full)."""
    return {"id": book.id, "customer_no": book.customer_no, "name": book.name,
            "id_number": mask(book.id_number), "phone": mask(book.phone),
            "assets": book.assets, "potential": book.potential, "tier": book.tier,
            "area": book.area}


# ---------------------------------------------------------------- commands

class Ids(fields.List):
    """A non-empty list of row ids (whole numbers, or their text from a form)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(fields.Raw(), **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise ValidationError(FieldMessage("Must be a list of ids."))
        out = []
        for item in value:
            if isinstance(item, bool):
                raise ValidationError(FieldMessage("Must be a list of ids."))
            try:
                number = int(item)
            except (TypeError, ValueError):
                raise ValidationError(FieldMessage("Must be a list of ids.")) from None
            if not 0 < number <= MAX_ID:
                raise ValidationError(FieldMessage("Must be a list of ids."))
            out.append(number)
        if not out:
            raise ValidationError(FieldMessage("Choose at least one customer."))
        if len(out) > MAX_SELECTED:
            raise ValidationError(FieldMessage(f"At most {MAX_SELECTED} at once.",
                                               "At most %(n)d at once.", n=MAX_SELECTED))
        return sorted(set(out))


class UserField(UserRef):
    """A user by id (a number or its text) or by e-mail address."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool):
            raise ValidationError(FieldMessage("Not a valid user id or e-mail address."))
        if isinstance(value, int) and 0 < value <= MAX_ID:
            return value
        if isinstance(value, str) and value.strip():
            value = value.strip()
            if value.isdigit() and 0 < int(value) <= MAX_ID:
                return int(value)
            if "@" in value and "\x00" not in value and len(value) <= 254:
                return value.lower()
        raise ValidationError(FieldMessage("Not a valid user id or e-mail address."))


class Allocate(Command):
    customers = Ids(required=True)
    manager = UserField(required=True)


class Claim(Command):
    customers = Ids(required=True)
    note = Text(load_default=None, allow_none=True, max_length=NOTE_MAX)


class Refuse(Command):
    note = Text(required=True, max_length=NOTE_MAX)


class Move(Command):
    leaving = UserField(required=True)
    receivers = fields.List(UserField(), load_default=list)
    deactivate = fields.Boolean(load_default=False)
    note = Text(load_default=None, allow_none=True, max_length=NOTE_MAX)

    @validates_schema
    def _receivers(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data.get("receivers"):
            raise ValidationError({"receivers": [FieldMessage(
                "Choose at least one receiving manager.")]})


def _user(session: Session, ref: Any, name: str, *, lock: bool, managers_only: bool = True,
          active: bool = True) -> User:
    stmt = select(User).where(User.id == ref if isinstance(ref, int)
                              else func.lower(User.email) == ref)
    if lock:
        stmt = stmt.with_for_update()
    user = session.scalars(stmt.execution_options(populate_existing=True)).first()
    if user is None:
        raise Invalid("no such user", details={name: [FieldMessage(UNKNOWN_USER)]})
    if managers_only and (user.role != "manager" or (active and not user.active)):
        raise Invalid("not an active customer manager",
                      details={name: [FieldMessage(NOT_A_MANAGER)]})
    return user


def _cap() -> int:
    return workflows.engine(workflows.DEFAULT_KEY).workflow.escalation.max_active_per_manager


def check_room(session: Session, owner: User, adding: int) -> None:
    """Refuse ``adding`` more customers for ``owner`` past the cap: 422 ``over_capacity``
    naming the manager's count."""
    lock_managers(session, [owner.id])
    cap = _cap()
    count = queries.maintained_count(session, owner.id)
    if count + adding > cap:
        raise Invalid(f"the manager maintains {count} of {cap} customers; {adding} more would "
                      "pass the cap", code="over_capacity", details={
                          "manager": [FieldMessage(OVER_CAP % {
                              "count": count, "cap": cap, "selected": adding},
                              OVER_CAP, count=count, cap=cap, selected=adding)],
                          "count": count, "cap": cap, "selected": adding})


@dataclass(frozen=True)
class Allocated:
    customer_id: int  # the book row's id (gone now)
    prospect: Prospect


def allocate(session: Session, data: Any, *, actor: User) -> list[Allocated]:
    """Give book customers to a manager (``data``: ``customers`` — book ids — and
    ``manager`` — id or e-mail). Returns the prospects created. Raises Forbidden (not a
    supervisor or admin), Invalid (bad fields; ``over_capacity`` naming the manager's
    count), Conflict (``already_allocated``: a customer left the book meanwhile;
    ``duplicate_customer``). One transaction."""
    _may_allocate(actor)
    command = load(Allocate, data)
    with unit_of_work(session):
        owner = _user(session, command["manager"], "manager", lock=True)
        done = _allocate(session, command["customers"], owner, actor=actor, via="allocation")
    log_event("customers_allocated", actor_id=actor.id, owner_id=owner.id, count=len(done),
              via="allocation")
    return done


def _allocate(session: Session, ids: list[int], owner: User, *, actor: User, via: str,
              claim: CustomerClaim | None = None) -> list[Allocated]:
    """Allocate the book rows ``ids`` to ``owner`` (whose row the caller locked) in the
    caller's transaction."""
    books = list(session.scalars(
        select(BookCustomer).where(BookCustomer.id.in_(ids)).order_by(BookCustomer.id)
        .with_for_update().execution_options(populate_existing=True)))
    gone = sorted(set(ids) - {b.id for b in books})
    if gone:
        raise Conflict("a customer is no longer in the unallocated book (allocated "
                       "meanwhile); reload and choose again", code="already_allocated",
                       details={"customers": [FieldMessage(NOT_IN_BOOK)], "ids": gone})
    check_room(session, owner, len(books))
    now = clock.now()
    done = []
    for book in books:
        engine = workflows.engine(book.workflow_key)
        outcome = engine.create(now)
        outcome = replace(outcome, data={"via": via, **({"claim_id": claim.id} if claim
                                                         else {})})
        prospect = Prospect(
            workflow_key=engine.workflow.key, name=book.name, tier=book.tier,
            tier_manual=book.tier_manual, owner_id=owner.id, team_id=owner.team_id,
            customer_no=book.customer_no, id_number=book.id_number, phone=book.phone,
            birthday=book.birthday, assets=book.assets, potential=book.potential,
            area=book.area, created_at=now, updated_at=now)
        events.apply_state(prospect, outcome.state)
        book_id, customer_no = book.id, book.customer_no
        session.delete(book)
        session.flush()  # the book row goes before its customer's prospect arrives
        insert_or_duplicate(session, prospect)
        events.apply(session, prospect, outcome, actor=actor, now=now, inserted=True)
        closed = session.execute(
            update(CustomerClaim).where(
                CustomerClaim.customer_no == customer_no, CustomerClaim.status == "pending",
                CustomerClaim.id != (claim.id if claim else 0))
            .values(status="closed", decided_at=now, decided_by_id=actor.id)
            .execution_options(synchronize_session=False)).rowcount
        audit(session, "customer_allocated", actor=actor, target_type="prospect",
              target_id=prospect.id, detail={
                  "owner_id": owner.id, "book_customer_id": book_id, "via": via,
                  "claim_id": claim.id if claim else None, "claims_closed": closed or 0})
        done.append(Allocated(book_id, prospect))
    return done


# ---------------------------------------------------------------- claims

def claim(session: Session, data: Any, *, actor: User) -> list[CustomerClaim]:
    """A manager claims book customers they know (``data``: ``customers``, ``note``):
    one pending claim each, for the supervisor to decide. Raises Forbidden (not an active
    manager), Conflict (``already_allocated``; ``already_claimed``: a pending claim of
    theirs exists), Invalid. One transaction."""
    if actor.role != "manager" or not actor.active:
        raise Forbidden("only a customer manager claims customers")
    command = load(Claim, data)
    with unit_of_work(session):
        numbers = dict(session.execute(select(BookCustomer.id, BookCustomer.customer_no)
                                       .where(BookCustomer.id.in_(command["customers"]))).all())
        gone = sorted(set(command["customers"]) - set(numbers))
        if gone:
            raise Conflict("a customer is no longer in the unallocated book",
                           code="already_allocated",
                           details={"customers": [FieldMessage(NOT_IN_BOOK)], "ids": gone})
        held = set(session.scalars(select(CustomerClaim.customer_no).where(
            CustomerClaim.manager_id == actor.id, CustomerClaim.status == "pending",
            CustomerClaim.customer_no.in_(numbers.values()))))
        if held:
            raise Conflict("you have a pending claim on a customer already",
                           code="already_claimed", details={
                               "customers": [FieldMessage(ALREADY_CLAIMED)],
                               "ids": sorted(i for i, n in numbers.items() if n in held)})
        now = clock.now()
        rows = [CustomerClaim(customer_no=numbers[i], manager_id=actor.id, status="pending",
                              note=command["note"], created_at=now)
                for i in command["customers"]]
        session.add_all(rows)
        try:
            session.flush()
        except IntegrityError:
            raise Conflict("you have a pending claim on a customer already",
                           code="already_claimed",
                           details={"customers": [FieldMessage(ALREADY_CLAIMED)]}) from None
    log_event("customers_claimed", actor_id=actor.id, count=len(rows))
    return rows


@dataclass(frozen=True)
class ClaimView:
    claim: CustomerClaim
    manager: str  # the manager's name
    manager_count: int  # customers the manager maintains
    customer: BookCustomer | None  # None once the customer left the book


def claims(session: Session, viewer: User, *, status: str | None = "pending",
           limit: int = 500) -> list[ClaimView]:
    """Claims with their customer and manager: every manager's for a supervisor or
    administrator (pending first by default), a manager's own otherwise."""
    stmt = select(CustomerClaim, User.name).join(User, User.id == CustomerClaim.manager_id)
    if viewer.role == "manager":
        stmt = stmt.where(CustomerClaim.manager_id == viewer.id)
    elif viewer.role not in ALLOCATORS:
        raise Forbidden("claims are for supervisors and managers")
    if status:
        stmt = stmt.where(CustomerClaim.status == status)
    rows = session.execute(stmt.order_by(CustomerClaim.created_at.desc(),
                                         CustomerClaim.id.desc()).limit(limit)).all()
    books = {b.customer_no: b for b in session.scalars(select(BookCustomer).where(
        BookCustomer.customer_no.in_({c.customer_no for c, _ in rows})))}
    counts = queries.maintained_counts(session, {c.manager_id for c, _ in rows})
    return [ClaimView(c, name, counts.get(c.manager_id, 0), books.get(c.customer_no))
            for c, name in rows]


def pending_claims(session: Session) -> int:
    """How many claims wait for a supervisor."""
    return session.scalar(select(func.count()).select_from(CustomerClaim).where(
        CustomerClaim.status == "pending")) or 0


def _pending_claim(session: Session, claim_id: Any) -> CustomerClaim:
    row = session.scalars(select(CustomerClaim).where(
        CustomerClaim.id == parse_id(claim_id, "claim")).with_for_update()
        .execution_options(populate_existing=True)).first()
    if row is None:
        raise NotFound("no such claim")
    if row.status != "pending":
        raise Conflict(f"the claim is {row.status} already", code="claim_decided",
                       details={"status": row.status})
    return row


def approve_claim(session: Session, claim_id: Any, *, actor: User) -> Allocated:
    """The supervisor approves a pending claim: the customer is allocated to the claiming
    manager (under the cap), the customer's other claims close, the manager is told.
    Raises Forbidden, NotFound, Conflict (``claim_decided``, ``already_allocated``),
    Invalid (``over_capacity``; a manager no longer active). One transaction."""
    with unit_of_work(session):
        _may_allocate(actor)
        row = _pending_claim(session, claim_id)
        owner = _user(session, row.manager_id, "manager", lock=True)
        book_id = session.scalar(select(BookCustomer.id).where(
            BookCustomer.customer_no == row.customer_no))
        if book_id is None:
            raise Conflict("the customer is no longer in the unallocated book",
                           code="already_allocated",
                           details={"customers": [FieldMessage(NOT_IN_BOOK)]})
        done = _allocate(session, [book_id], owner, actor=actor, via="claim", claim=row)[0]
        now = clock.now()
        row.status, row.decided_by_id, row.decided_at = "approved", actor.id, now
        row.prospect_id = done.prospect.id
        notify_many(session, [Message(
            Recipient.of(owner), "claim", N_("Your claim was approved: %(name)s is now yours"),
            {"name": done.prospect.name}, prospect_id=done.prospect.id,
            dedupe_key=f"claim:{row.id}:approved")])
        session.flush()
    log_event("customers_allocated", actor_id=actor.id, owner_id=owner.id, count=1,
              via="claim", claim_id=row.id)
    return done


def refuse_claim(session: Session, claim_id: Any, data: Any, *, actor: User) -> CustomerClaim:
    """The supervisor refuses a pending claim with a ``note`` (required), which the
    manager receives in the inbox. One transaction."""
    _may_allocate(actor)
    command = load(Refuse, data)
    with unit_of_work(session):
        row = _pending_claim(session, claim_id)
        now = clock.now()
        row.status, row.decided_by_id, row.decided_at = "refused", actor.id, now
        row.decision_note = command["note"]
        manager = session.get(User, row.manager_id)
        name = session.scalar(select(BookCustomer.name).where(
            BookCustomer.customer_no == row.customer_no)) or row.customer_no
        notify_many(session, [Message(
            Recipient.of(manager), "claim", N_("Your claim on %(name)s was refused"),
            {"name": name}, text=command["note"], dedupe_key=f"claim:{row.id}:refused")])
        audit(session, "claim_refused", actor=actor, target_type="claim", target_id=row.id,
              detail={"manager_id": row.manager_id}, note=command["note"])
        session.flush()
    log_event("claim_refused", actor_id=actor.id, claim_id=row.id)
    return row


# ---------------------------------------------------------------- a manager leaves

@dataclass
class Moved:
    """What :func:`move_customers` did."""

    leaving_id: int
    moved: int
    to: dict[int, int]  # receiver id → customers received
    handovers: list[int]
    deactivated: bool

    def as_dict(self) -> dict[str, Any]:
        return {"leaving": self.leaving_id, "moved": self.moved,
                "to": [{"manager": k, "count": v} for k, v in self.to.items()],
                "handovers": len(self.handovers), "deactivated": self.deactivated}


def spread(prospect_ids: list[int], room: dict[int, int]) -> dict[int, int]:
    """Each prospect's receiver: the one with the most room left (first given on a tie),
    so the customers spread evenly and nobody passes the cap. ``room`` must hold enough
    places."""
    left = dict(room)
    order = {r: i for i, r in enumerate(room)}
    out = {}
    for pid in prospect_ids:
        target = max(left, key=lambda r: (left[r], -order[r]))
        out[pid] = target
        left[target] -= 1
    return out


def move_customers(session: Session, data: Any, *, actor: User) -> Moved:
    """Move every customer the ``leaving`` manager maintains (active, paused, won) to the
    ``receivers`` (ids or e-mails), spread under the cap; ``deactivate`` also closes the
    leaving manager's account (and their pending claims); ``note`` goes in the history and
    the handovers. Raises Forbidden, Invalid (bad fields; ``over_capacity`` saying how many
    places are missing: nothing moves). One transaction."""
    _may_allocate(actor)
    command = load(Move, data)
    with unit_of_work(session):
        leaving = _user(session, command["leaving"], "leaving", lock=False, active=False)
        receivers = [_user(session, ref, "receivers", lock=False)
                     for ref in command["receivers"]]
        ids = [r.id for r in receivers]
        if leaving.id in ids:
            raise Invalid("the leaving manager cannot receive",
                          details={"receivers": [FieldMessage(LEAVING_RECEIVES)]})
        ids = list(dict.fromkeys(ids))
        by_id = {r.id: r for r in receivers}
        # Locked in one order (the ids'), so two moves never wait for each other.
        list(session.scalars(select(User.id).where(User.id.in_([leaving.id, *ids]))
                             .order_by(User.id).with_for_update()))
        prospects = list(session.scalars(
            select(Prospect).where(Prospect.owner_id == leaving.id,
                                   Prospect.status.in_(queries.MAINTAINED),
                                   queries.of_workflow())  # customers, not their complaints
            .order_by(Prospect.id).with_for_update()
            .execution_options(populate_existing=True)))
        cap = _cap()
        lock_managers(session, ids)
        counts = queries.maintained_counts(session, ids)
        room = {r: max(cap - counts[r], 0) for r in ids}
        missing = len(prospects) - sum(room.values())
        if missing > 0:
            raise Invalid(f"the receiving managers lack {missing} places under the cap",
                          code="over_capacity", details={
                              "receivers": [FieldMessage(MISSING_PLACES % {
                                  "missing": missing, "cap": cap},
                                  MISSING_PLACES, missing=missing, cap=cap)],
                              "missing": missing, "cap": cap, "customers": len(prospects)})
        now = clock.now()
        plan = spread([p.id for p in prospects], room)
        handovers: list[Handover] = []
        letters: dict[int, list[str]] = {r: [] for r in ids}
        day = clock.as_utc(now).astimezone(_tz()).strftime("%Y-%m-%d")
        for prospect in prospects:
            target = by_id[plan[prospect.id]]
            outcome = engine_of(prospect).transfer(
                events.state_of(prospect), target.id, reason=command["note"],
                data={"from_owner_id": leaving.id, "to_owner_id": target.id,
                      "via": "manager_leaving"})
            events.apply(session, prospect, outcome, actor=actor, now=now)
            handover = Handover(prospect_id=prospect.id, from_user_id=leaving.id,
                                to_user_id=target.id, actor_id=actor.id, at=now,
                                note=command["note"])
            session.add(handover)
            handovers.append(handover)
            letters[target.id].append(handover_letter(
                target.locale, customer=prospect.name, old_manager=leaving.name,
                new_manager=target.name, day=day))
            audit(session, "prospect_reassigned", actor=actor, target_type="prospect",
                  target_id=prospect.id, detail={"from_owner_id": leaving.id,
                                                 "to_owner_id": target.id,
                                                 "via": "manager_leaving"})
        session.flush()
        received = Counter(plan.values())
        key = f"move:{leaving.id}:{handovers[0].id}" if handovers else None
        notify_many(session, [Message(
            Recipient.of(by_id[r]), "handovers",
            N_("%(count)d customers handed over to you from %(old)s"),
            {"count": received[r], "old": leaving.name},
            text="\n\n――――――――\n\n".join(letters[r]), dedupe_key=key)
            for r in ids if received[r]])
        if command["deactivate"]:
            leaving.active = False
            session.execute(update(CustomerClaim).where(
                CustomerClaim.manager_id == leaving.id, CustomerClaim.status == "pending")
                .values(status="closed", decided_at=now, decided_by_id=actor.id)
                .execution_options(synchronize_session=False))
        result = Moved(leaving.id, len(prospects), {r: received[r] for r in ids},
                       [h.id for h in handovers], bool(command["deactivate"]))
        audit(session, "customers_moved", actor=actor, target_type="user",
              target_id=leaving.id, detail={
                  "moved": result.moved, "to": {str(k): v for k, v in result.to.items()},
                  "deactivated": result.deactivated}, note=command["note"])
        session.flush()
    log_event("customers_moved", actor_id=actor.id, from_owner_id=leaving.id,
              moved=result.moved, receivers=len(ids), deactivated=result.deactivated)
    return result


def _tz() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(workflows.workflow(workflows.DEFAULT_KEY).timezone)


def manager_choices(session: Session, viewer: User) -> list[tuple[int, str, str, int]]:
    """(id, name, e-mail, customers maintained) of the active managers, for the choice
    lists ("n/250" beside each)."""
    return [(m.id, m.name, m.email, m.count) for m in queries.manager_loads(session, viewer)]


def cap() -> int:
    """The most customers a manager maintains (the workflow's)."""
    return _cap()

