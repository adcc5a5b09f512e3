"""The loaded workflows of this process: one validated definition and engine per key.

Loaded once at start-up (``create_app``) and on first use elsewhere; a bad file stops
the start with the file and key named.
"""
from __future__ import annotations

import threading
from pathlib import Path

from pipeline import resources
from pipeline.engine import Engine, Workflow, WorkflowError, load_workflows
from pipeline.errors import NotFound

DEFAULT_DIR = resources.WORKFLOWS_DIR
DEFAULT_KEY = "seven_step"

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_loaded_from: Path | None = None


def install(directory: str | Path | None = None) -> dict[str, Engine]:
    """Validate every workflow in ``directory`` and make them current (all or nothing)."""
    global _engines, _loaded_from
    directory = Path(directory or DEFAULT_DIR)
    loaded = load_workflows(directory)
    if DEFAULT_KEY not in loaded:  # an empty or mistyped folder is a configuration mistake
        raise WorkflowError(str(directory), DEFAULT_KEY,
                            "no workflow file with the default key in this folder")
    # History rows and stage visits carry a stage key, not a workflow: one key, one workflow.
    owner: dict[str, str] = {}
    for wf in loaded.values():
        for stage in wf.stage_keys:
            if stage in owner:
                raise WorkflowError(wf.source, f"stages.{stage}",
                                    f"stage key also used by workflow {owner[stage]!r}")
            owner[stage] = wf.key
    with _lock:
        _engines = {key: Engine(wf) for key, wf in loaded.items()}
        _loaded_from = directory
    return _engines


def engine(key: str = DEFAULT_KEY) -> Engine:
    if _loaded_from is None:
        install()
    try:
        return _engines[key]
    except KeyError:
        raise NotFound(f"no workflow {key!r}", code="unknown_workflow") from None


def workflow(key: str = DEFAULT_KEY) -> Workflow:
    return engine(key).workflow


def all_engines() -> dict[str, Engine]:
    if _loaded_from is None:
        install()
    return dict(_engines)
