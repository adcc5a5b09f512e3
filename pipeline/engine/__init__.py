"""The workflow engine: pure Python, no Flask, no SQLAlchemy.

Services hand it plain objects (a :class:`~pipeline.engine.machine.ProspectState` and the
prospect's record data) and apply what it returns to their rows.
"""
from pipeline.engine.definition import (  # noqa: F401
    EVENTS,
    STATUSES,
    TIERS,
    Workflow,
    WorkflowError,
    load_workflow,
    load_workflows,
)
from pipeline.engine.machine import (  # noqa: F401
    Engine,
    EventNotAllowed,
    Outcome,
    Problem,
    ProspectState,
    TransitionRefused,
    UnknownEvent,
)
