"""The peer's FSM (django-viewflow's ``viewflow.fsm``) and its two operations: ``advance``
(lock, guard, new state, history row, in one committed transaction) and the manager's
board read (the open prospects of one owner with their current stage's records).

The FSM is built from the product's workflow: one ``advance`` transition per forward move
the workflow file lists, each with a condition that runs the workflow's guards on the
stage's records (the product's guard functions, so both sides apply the same rules)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import CharField, F, JSONField, Max, OuterRef, Prefetch, Q, Subquery, Value
from django.db.models.expressions import Case, When
from viewflow import fsm

from bench.peer.models import Prospect, StageEvent, StageRecord
from pipeline.engine.guards import GUARDS, GuardContext
from pipeline.engine.machine import Engine
from pipeline.prospects.events import state_of

ADVANCE = "advance"  # the workflow's forward event


def _condition(workflow: Any, transition: Any):
    """A viewflow condition: the transition's guards find nothing missing in the records
    the flow holds."""
    stage = workflow.stage(transition.source)

    def records_complete(flow: Any) -> Any:
        ctx = GuardContext(workflow, stage, flow.records)
        problems = [p for name in transition.guards for p in GUARDS[name](ctx)]
        return fsm.State.CONDITION(not problems, f"{len(problems)} missing")

    return records_complete


def flow_class(workflow: Any) -> type:
    """A viewflow flow over a peer ``Prospect``: its ``stage`` field is the FSM's state and
    ``advance(now)`` its forward transitions (the transition body starts the new stage's
    clock; viewflow has set the new stage before the body runs)."""
    stage = fsm.State([s.key for s in workflow.stages])

    def __init__(self, prospect: Prospect, records: dict[str, dict]) -> None:
        self.prospect = prospect
        self.records = records

    def get_stage(self) -> str:
        return self.prospect.stage

    def set_stage(self, value: str) -> None:
        self.prospect.stage = value

    def advance(self, now: datetime) -> None:
        p = self.prospect
        limit = workflow.limit_days(p.stage)
        p.due_at = now + timedelta(days=limit) if limit else None
        p.warn_at = p.due_at - timedelta(days=limit) * 0.2 if p.due_at else None
        p.stage_entered_at = p.clock_started_at = p.updated_at = now
        p.paused_seconds = 0
        p.clock_no += 1
        p.version += 1

    stage.getter()(get_stage)
    stage.setter()(set_stage)
    descriptor: Any = advance
    for t in workflow.transitions:
        if t.event == ADVANCE:
            descriptor = stage.transition(source=t.source, target=t.dest,
                                          conditions=[_condition(workflow, t)])(descriptor)
    return type("ProspectFlow", (), {"stage": stage, "__init__": __init__,
                                     "get_stage": get_stage, "set_stage": set_stage,
                                     ADVANCE: descriptor})


def advance(flow_cls: type, prospect_id: int, owner_id: int, now: datetime) -> Prospect:
    """One advance, committed: lock the row, read its records, fire the FSM's transition
    (its condition is the guard), save the prospect, append the history row."""
    with transaction.atomic():
        p = Prospect.objects.select_for_update().get(pk=prospect_id, owner_id=owner_id)
        records = dict(StageRecord.objects.filter(prospect_id=p.pk)
                       .values_list("record_key", "data"))
        source = p.stage
        getattr(flow_cls(p, records), ADVANCE)(now)
        p.save()
        last = StageEvent.objects.filter(prospect_id=p.pk).aggregate(m=Max("seq"))["m"]
        StageEvent.objects.create(prospect=p, seq=(last or 0) + 1, event=ADVANCE,
                                  from_stage=source, to_stage=p.stage,
                                  from_status=p.status, to_status=p.status,
                                  actor_id=owner_id, owner_id=p.owner_id,
                                  team_id=p.team_id, at=now)
    return p


def ready(limit: int, seed_sample: Any) -> list[tuple[int, int]]:
    """(id, owner id) of active peer prospects whose current stage's record is complete and
    whose next step is ``advance``; ``seed_sample(rows, n)`` picks ``n`` of them."""
    from pipeline import workflows

    wf = workflows.workflow()
    sources = {t.source for t in wf.transitions if t.event == ADVANCE}
    match = Q()
    for s in wf.stages:
        for r in s.records:
            if s.key in sources:
                match |= Q(prospect__stage=s.key, record_key=r.key)
    rows = list(StageRecord.objects.filter(match, complete=True, prospect__status="active")
                .order_by("prospect_id").values_list("prospect_id", "prospect__owner_id"))
    return seed_sample(rows, min(limit, len(rows)))


class BoardRead:
    """The board's rows for one owner: open prospects with the owner's name, each active
    card's current-stage records and what they miss, counts and overdue counts per stage,
    and the owner's maintained count. Two ways a Django team would write the read:
    ``prefetch`` (``select_related`` + ``prefetch_related`` of the records) and
    ``subquery`` (each current record as a correlated ``Subquery`` annotation)."""

    def __init__(self, workflows_module: Any, open_statuses: tuple[str, ...],
                 maintained: tuple[str, ...]) -> None:
        self.wf = workflows_module
        self.open = open_statuses
        self.maintained = maintained
        self.keys = {(key, s.key): tuple(r.key for r in s.records)
                     for key, engine in workflows_module.all_engines().items()
                     for s in engine.workflow.stages if s.records}
        self.width = max((len(k) for k in self.keys.values()), default=0)

    def _base(self, owner_id: int):
        return (Prospect.objects.filter(owner_id=owner_id, status__in=self.open)
                .select_related("owner")
                .order_by("stage", F("due_at").asc(nulls_last=True), "id"))

    def prefetch(self, owner_id: int, now: datetime) -> dict[str, Any]:
        qs = self._base(owner_id).prefetch_related(Prefetch(
            "records", queryset=StageRecord.objects.only("id", "prospect_id", "record_key",
                                                         "data")))
        cards = []
        for p in qs:
            keys = self.keys.get((p.workflow_key, p.stage), ())
            records = {r.record_key: r.data or {} for r in p.records.all()
                       if r.record_key in keys}
            cards.append((p, records))
        return self._board(owner_id, cards, now)

    def subquery(self, owner_id: int, now: datetime) -> dict[str, Any]:
        keys_at, records_at = {}, {}
        for n in range(self.width):
            whens = [When(workflow_key=wf, stage=st, then=Value(keys[n]))
                     for (wf, st), keys in self.keys.items() if len(keys) > n]
            keys_at[f"key_{n}"] = Case(*whens, default=None, output_field=CharField())
            records_at[f"record_{n}"] = Subquery(
                StageRecord.objects.filter(prospect_id=OuterRef("pk"),
                                           record_key=OuterRef(f"key_{n}"))
                .values("data")[:1], output_field=JSONField())
        cards = []
        for p in self._base(owner_id).annotate(**keys_at).annotate(**records_at):
            keys = self.keys.get((p.workflow_key, p.stage), ())
            records = {key: getattr(p, f"record_{i}") or {} for i, key in enumerate(keys)
                       if getattr(p, f"record_{i}") is not None}
            cards.append((p, records))
        return self._board(owner_id, cards, now)

    def _board(self, owner_id: int, cards: list, now: datetime) -> dict[str, Any]:
        columns: dict[str, list] = {}
        overdue: dict[str, int] = {}
        for p, records in cards:
            active = p.status == "active"
            missing = (self._engine(p.workflow_key).missing(state_of(p), records)
                       if active else [])
            late = active and p.due_at is not None and p.due_at < now
            soon = (active and p.due_at is not None and not late and p.warn_at is not None
                    and p.warn_at <= now)
            columns.setdefault(p.stage, []).append((p.pk, p.owner.name, missing, late, soon))
            overdue[p.stage] = overdue.get(p.stage, 0) + late
        mine = Prospect.objects.filter(owner_id=owner_id, status__in=self.maintained).count()
        return {"columns": columns, "overdue": overdue, "mine": mine}

    def _engine(self, key: str) -> Engine:
        return self.wf.engine(key)
