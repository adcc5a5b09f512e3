"""Named guards that workflow files refer to (the ``GUARDS`` registry).

A guard takes a :class:`GuardContext` and returns the problems that stop the transition
(an empty list lets it through). Record guards (``complete_when``) look at one record;
transition guards look at the whole context.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.engine.definition import Record, Stage, Workflow
from pipeline.engine.records import completeness, is_filled


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    record: str | None = None
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d = {"code": self.code, "message": self.message}
        if self.record:
            d["record"] = self.record
        if self.field:
            d["field"] = self.field
        return d


@dataclass
class GuardContext:
    workflow: Workflow
    stage: Stage
    records: Mapping[str, Mapping[str, Any]]
    reason: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


Guard = Callable[..., list]
GUARDS: dict[str, Guard] = {}


def guard(name: str, kind: str = "record") -> Callable[[Guard], Guard]:
    """Register a guard; ``kind`` is ``record`` (complete_when) or ``transition``."""
    def register(fn: Guard) -> Guard:
        fn.kind = kind  # type: ignore[attr-defined]
        GUARDS[name] = fn
        return fn
    return register


# ---------------------------------------------------------------- record guards
# Signature: (record definition, record data) -> list[Problem]

@guard("field_set")
def field_set(record: Record, data: Mapping[str, Any]) -> list[Problem]:
    name = record.params["field"]
    if is_filled(data.get(name)):
        return []
    return [Problem("field_required", f"{record.key}.{name} must be set", record.key, name)]


def _check_field_param(record: Record) -> str | None:
    name = record.params.get("field")
    if not name or record.field(name) is None:
        return f"field_set needs params.field naming one of the record's fields (got {name!r})"
    return None


field_set.check_params = _check_field_param  # type: ignore[attr-defined]


@guard("completeness_at_least")
def completeness_at_least(record: Record, data: Mapping[str, Any]) -> list[Problem]:
    need = float(record.params.get("min", 0.7))
    have = completeness(record, dict(data))
    if have + 1e-9 >= need:
        return []
    return [Problem("incomplete",
                    f"{record.key} is {have:.0%} complete; at least {need:.0%} is needed",
                    record.key)]


def _check_min(record: Record) -> str | None:
    need = record.params.get("min", 0.7)
    if isinstance(need, bool) or not isinstance(need, (int, float)) or not 0 < need <= 1:
        return "completeness_at_least needs params.min between 0 and 1"
    return None


completeness_at_least.check_params = _check_min  # type: ignore[attr-defined]


@guard("decision_maker_identified")
def decision_maker_identified(record: Record, data: Mapping[str, Any]) -> list[Problem]:
    out = []
    if data.get("identified") is not True:
        out.append(Problem("field_required", "the decision maker must be identified",
                           record.key, "identified"))
    if not is_filled(data.get("name")):
        out.append(Problem("field_required", "the decision maker's name must be set",
                           record.key, "name"))
    return out


@guard("needs_found")
def needs_found(record: Record, data: Mapping[str, Any]) -> list[Problem]:
    out = []
    if not is_filled(data.get("life_stage")):
        out.append(Problem("field_required", "the customer's life stage must be set",
                           record.key, "life_stage"))
    if not data.get("needs"):
        out.append(Problem("field_required", "at least one need must be recorded",
                           record.key, "needs"))
    return out


@guard("proposal_chosen")
def proposal_chosen(record: Record, data: Mapping[str, Any]) -> list[Problem]:
    lo = int(record.params.get("min_options", 2))
    hi = int(record.params.get("max_options", 3))
    options = data.get("options") or []
    out = []
    if not lo <= len(options) <= hi:
        out.append(Problem("options_count",
                           f"{lo}–{hi} proposals must be offered (there are {len(options)})",
                           record.key, "options"))
    chosen = data.get("chosen")
    if not isinstance(chosen, int) or isinstance(chosen, bool) or not 0 <= chosen < len(options):
        out.append(Problem("field_required", "the customer's chosen proposal must be marked",
                           record.key, "chosen"))
    return out


CHECKLIST = ("recommended", "risk_disclosed", "confirmed", "signed", "ledger")


def risk_number(level: Any, prefix: str) -> int | None:
    if isinstance(level, str) and len(level) == 2 and level[0] == prefix and level[1] in "12345":
        return int(level[1])
    return None


@guard("closing_checklist_passed")
def closing_checklist_passed(record: Record, data: Mapping[str, Any]) -> list[Problem]:
    out = [
        Problem("field_required", f"checklist step {step} must be done", record.key, step)
        for step in CHECKLIST if data.get(step) is not True
    ]
    customer = risk_number(data.get("customer_risk_level"), "C")
    product = risk_number(data.get("product_risk_level"), "R")
    if customer is None:
        out.append(Problem("field_required", "the customer's risk tolerance (C1–C5) must be set",
                           record.key, "customer_risk_level"))
    if product is None:
        out.append(Problem("field_required", "the product's risk rating (R1–R5) must be set",
                           record.key, "product_risk_level"))
    if customer is not None and product is not None and product > customer:
        out.append(Problem(
            "risk_mismatch",
            f"a {data['customer_risk_level']} customer may not buy an "
            f"{data['product_risk_level']} product",
            record.key, "product_risk_level"))
    return out


# ---------------------------------------------------------------- transition guards
# Signature: (GuardContext) -> list[Problem]

def record_problems(ctx: GuardContext, record: Record) -> list[Problem]:
    data = ctx.records.get(record.key) or {}
    return GUARDS[record.complete_when](record, data)


@guard("stage_records_complete", kind="transition")
def stage_records_complete(ctx: GuardContext) -> list[Problem]:
    out: list[Problem] = []
    for record in ctx.stage.records:
        out.extend(record_problems(ctx, record))
    return out


@guard("reason_given", kind="transition")
def reason_given(ctx: GuardContext) -> list[Problem]:
    if ctx.reason and ctx.reason.strip():
        return []
    return [Problem("reason_required", "a reason is required", None, "reason")]


@guard("cadence_tried", kind="transition")
def cadence_tried(ctx: GuardContext) -> list[Problem]:
    """Every cadence step with a done field has been done (the contact log shows it), or
    cancelled (its ``cancelled_by`` field is set: the customer replied)."""
    out = []
    for step in ctx.stage.cadence:
        if not step.done_field:
            continue
        if step.cancelled_by:
            holder = next(r for r in ctx.stage.records if r.field(step.cancelled_by))
            if is_filled((ctx.records.get(holder.key) or {}).get(step.cancelled_by)):
                continue
        record = next(r for r in ctx.stage.records if r.field(step.done_field))
        if not is_filled((ctx.records.get(record.key) or {}).get(step.done_field)):
            out.append(Problem("cadence_not_tried",
                               f"{step.name.en} not done yet ({record.key}.{step.done_field})",
                               record.key, step.done_field))
    return out

