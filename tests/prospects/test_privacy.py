"""Personal data: masking, who sees it in full, and that the prospects and audit packages
answer that themselves rather than through the API."""
from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipeline.prospects.privacy import mask, sees_personal_data

PIPELINE = Path(__file__).resolve().parents[2] / "pipeline"


@pytest.mark.parametrize("value, masked", [
    (None, None), ("", ""), ("1234567", "*******"), ("13800138000", "138****8000"),
    ("110101198001011234", "110***********1234"),
])
def test_mask_keeps_the_first_three_and_last_four(value, masked):
    assert mask(value) == masked


def test_owner_and_owners_team_lead_see_personal_data():
    prospect = SimpleNamespace(owner_id=1, team_id=10)
    user = SimpleNamespace
    assert sees_personal_data(user(id=1, role="manager", team_id=10), prospect)
    assert sees_personal_data(user(id=2, role="team_lead", team_id=10), prospect)
    assert not sees_personal_data(user(id=3, role="team_lead", team_id=11), prospect)
    assert not sees_personal_data(user(id=4, role="manager", team_id=10), prospect)
    assert not sees_personal_data(user(id=5, role="supervisor", team_id=None), prospect)


def imported_modules(package: str) -> dict[str, set[str]]:
    out = {}
    for path in (PIPELINE / package).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        out[str(path.relative_to(PIPELINE))] = names
    return out


@pytest.mark.parametrize("package", ["prospects", "audit"])
def test_prospects_and_audit_do_not_import_the_api(package):
    offenders = {path: sorted(n for n in names if n == "pipeline.api"
                              or n.startswith("pipeline.api."))
                 for path, names in imported_modules(package).items()}
    assert {path: names for path, names in offenders.items() if names} == {}
