"""The in-process sweep for the embedded default (``make run``): APScheduler's
BackgroundScheduler runs the sweep and the outbox every ``PIPELINE_SWEEP_MINUTES``, and
the jobs other domains register in :data:`PERIODIC` on intervals of their own (the build
of the funnel's rollups every ``PIPELINE_ROLLUP_MINUTES``).

Started by ``create_app`` only when ``PIPELINE_SCHEDULER`` is on and the app is not
testing; once per process, and under Flask's reloader only in the serving child (the
watcher process loads the app too). Several processes on PostgreSQL may each run one:
the sweep is exactly-once by design.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask

from pipeline import clock
from pipeline.db import get_db
from pipeline.escalations.outbox import deliver_after_commit
from pipeline.escalations.services import sweep_due

log = logging.getLogger("pipeline.scheduler")

_lock = threading.Lock()
_scheduler = None
_last_full: str | None = None  # the UTC day of this process's last full sweep
# Other outboxes each scheduled run delivers after the sweep and the e-mail (name ->
# callable(app) -> summary), registered at app start by the domains that own them.
DELIVERIES: dict[str, Callable[[Flask], Any]] = {}
# Other jobs on intervals of their own (name -> (the config key of its minutes, 0 for
# none; callable(app) -> summary)), registered at app start by the domains that own them:
# the funnel's rollups.
PERIODIC: dict[str, tuple[str, Callable[[Flask], Any]]] = {}


def should_start(app: Flask) -> bool:
    if not app.config.get("PIPELINE_SCHEDULER") or app.testing:
        return False
    # `flask run --debug` reloads: the outer watcher process must not sweep.
    return not (app.debug and os.environ.get("WERKZEUG_RUN_MAIN") != "true")


def run_once(app: Flask) -> dict:
    """One scheduled run: sweep at the current time, then deliver the outbox. The first run
    of each UTC day (and the first after start) is a full sweep, with the repair pass."""
    global _last_full

    with app.app_context():
        session = get_db(app).sessionmaker()
        now = clock.now()
        full = _last_full != now.date().isoformat()
        try:
            summary = sweep_due(session, now, full=full).as_dict()
            if full:
                _last_full = now.date().isoformat()
        finally:
            session.close()
        summary["mail"] = deliver_after_commit(app)
        for name, deliver in DELIVERIES.items():
            summary[name] = deliver(app)
    log.info("sweep: %s", summary)
    return summary


def start(app: Flask):
    """Start the scheduler for ``app`` if the configuration asks for it (idempotent)."""
    global _scheduler
    if not should_start(app):
        return None
    with _lock:
        if _scheduler is not None:
            return _scheduler
        from apscheduler.schedulers.background import BackgroundScheduler

        minutes = max(int(app.config.get("PIPELINE_SWEEP_MINUTES") or 5), 1)
        from datetime import timedelta

        scheduler = BackgroundScheduler(daemon=True, timezone="UTC")
        # First run shortly after start; then every few minutes, never two at once.
        scheduler.add_job(run_once, "interval", args=[app], minutes=minutes, id="sweep",
                          max_instances=1, coalesce=True,
                          next_run_time=clock.now() + timedelta(seconds=10))
        for name, (key, job) in PERIODIC.items():
            every = int(app.config.get(key) or 0)
            if every > 0:
                scheduler.add_job(job, "interval", args=[app], minutes=every, id=name,
                                  max_instances=1, coalesce=True,
                                  next_run_time=clock.now() + timedelta(seconds=20))
        scheduler.start()
        atexit.register(_shutdown, scheduler)
        _scheduler = scheduler
        log.info("sweep scheduled every %s minutes", minutes)
        return scheduler


def _shutdown(scheduler) -> None:
    if scheduler.running:
        scheduler.shutdown(wait=False)


def stop() -> None:
    global _scheduler
    with _lock:
        if _scheduler is not None:
            _shutdown(_scheduler)
            _scheduler = None
