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


def _field_names(record: Record, value: Any) -> list[str] | None:
    """``value`` as a list of the record's field keys, or None when it is not one."""
    if not isinstance(value, list) or not value or not all(
            isinstance(v, str) and record.field(v) is not None for v in value):
        return None
    return value


def _is_set(record: Record, name: str, value: Any) -> bool:
    """A boolean field is set when ticked; any other when filled."""
    spec = record.field(name)
    if spec is not None and spec.type == "boolean":
        return value is True
    return is_filled(value)


def _required(record: Record, data: Mapping[str, Any], names: list[str]) -> list[Problem]:
    return [Problem("field_required", f"{record.key}.{name} must be set", record.key, name)
            for name in names if not _is_set(record, name, data.get(name))]


@guard("fields_set")
def fields_set(record: Record, data: Mapping[str, Any]) -> list[Problem]:
    """Every field named in ``params.fields`` is set (ticked, filled, a non-empty list)."""
    return _required(record, data, record.params["fields"])


def _check_fields(record: Record) -> str | None:
    if _field_names(record, record.params.get("fields")) is None:
        return ("fields_set needs params.fields: a list of the record's fields "
                f"(got {record.params.get('fields')!r})")
    return None


fields_set.check_params = _check_fields  # type: ignore[attr-defined]


def option_bounds(record: Record) -> tuple[int, int]:
    """How few and how many options :func:`option_chosen` asks of ``record``."""
    return int(record.params.get("min", 1)), int(record.params.get("max", 1_000))


@guard("option_chosen")
def option_chosen(record: Record, data: Mapping[str, Any]) -> list[Problem]:
    """Between ``min`` and ``max`` entries in the ``options`` field, and the ``chosen`` field
    holds the (0-based) index of one of them."""
    p = record.params
    lo, hi = option_bounds(record)
    options = data.get(p["options"]) or []
    out = []
    if not lo <= len(options) <= hi:
        out.append(Problem("options_count",
                           f"{lo}–{hi} options must be offered (there are {len(options)})",
                           record.key, p["options"]))
    chosen = data.get(p["chosen"])
    if not isinstance(chosen, int) or isinstance(chosen, bool) or not 0 <= chosen < len(options):
        out.append(Problem("field_required", "one of the options must be chosen",
                           record.key, p["chosen"]))
    return out


def _check_option_params(record: Record) -> str | None:
    p = record.params
    if _field_names(record, [p.get("options"), p.get("chosen")]) is None:
        return "option_chosen needs params.options and params.chosen naming the record's fields"
    lo, hi = p.get("min", 1), p.get("max", 1_000)
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in (lo, hi)) \
            or not 0 <= lo <= hi:
        return "option_chosen needs whole numbers params.min <= params.max"
    return None


option_chosen.check_params = _check_option_params  # type: ignore[attr-defined]


def rank(record: Record, name: str, value: Any) -> int | None:
    """The position of ``value`` among the choice field's choices (lowest risk first)."""
    spec = record.field(name)
    choices = spec.choices if spec is not None else None
    return choices.index(value) if choices and value in choices else None


@guard("checklist_suitable")
def checklist_suitable(record: Record, data: Mapping[str, Any]) -> list[Problem]:
    """Every step in ``params.steps`` is ticked, and the product's rating (the ``rating``
    choice field) is not above the customer's tolerance (the ``tolerance`` choice field):
    both fields' choices run from the lowest risk to the highest."""
    p = record.params
    out = _required(record, data, p["steps"])
    tolerance, rating = data.get(p["tolerance"]), data.get(p["rating"])
    tolerance_rank = rank(record, p["tolerance"], tolerance)
    rating_rank = rank(record, p["rating"], rating)
    for name, value in ((p["tolerance"], tolerance_rank), (p["rating"], rating_rank)):
        if value is None:
            out.append(Problem("field_required", f"{record.key}.{name} must be set",
                               record.key, name))
    if tolerance_rank is not None and rating_rank is not None and rating_rank > tolerance_rank:
        out.append(Problem("risk_mismatch",
                           f"a {tolerance} customer may not buy a {rating} product",
                           record.key, p["rating"]))
    return out


def _check_checklist_params(record: Record) -> str | None:
    p = record.params
    if _field_names(record, p.get("steps")) is None:
        return "checklist_suitable needs params.steps: a list of the record's fields"
    for name in ("tolerance", "rating"):
        spec = record.field(p.get(name)) if isinstance(p.get(name), str) else None
        if spec is None or not spec.choices:
            return f"checklist_suitable needs params.{name} naming one of the record's choice fields"
    return None


checklist_suitable.check_params = _check_checklist_params  # type: ignore[attr-defined]


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

