"""`make lint`'s dependency audit: a vulnerability fails it, and so does an audit that could
not run, unless the operator says the machine is offline."""
from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "audit_dependencies.py"


@pytest.fixture
def audit(monkeypatch):
    spec = importlib.util.spec_from_file_location("audit_dependencies", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def answering(stdout: str):
        monkeypatch.setattr(module.subprocess, "run", lambda *a, **kw: subprocess.CompletedProcess(
            a, 1, stdout=stdout, stderr="ConnectionError: no route to pypi.org"))
        return module.main()
    monkeypatch.delenv("PIPELINE_AUDIT_OFFLINE", raising=False)
    return answering


def report(*deps: dict) -> str:
    return json.dumps({"dependencies": list(deps)})


def test_an_audit_that_could_not_run_fails(audit, capsys):
    assert audit("not json") == 2
    assert "NOT RUN" in capsys.readouterr().err
    assert audit(report({"name": "flask", "version": "3.0", "skip_reason": "offline"})) == 2


def test_an_operator_may_say_the_machine_is_offline(audit, monkeypatch, capsys):
    monkeypatch.setenv("PIPELINE_AUDIT_OFFLINE", "1")
    assert audit("not json") == 0
    assert "note: dependency audit NOT RUN" in capsys.readouterr().err


def test_a_known_vulnerability_fails_and_a_clean_audit_passes(audit, capsys):
    vulnerable = {"name": "flask", "version": "0.1", "vulns": [
        {"id": "PYSEC-0", "fix_versions": ["3.0"]}]}
    assert audit(report(vulnerable)) == 1
    assert "PYSEC-0" in capsys.readouterr().out
    assert audit(report({"name": "flask", "version": "3.0", "vulns": []})) == 0
