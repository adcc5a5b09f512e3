"""A peer for the benchmarks: the same ``advance`` and the same manager's board read, written
the way a Python team would likely write them with Django's ORM and django-viewflow's FSM.

Its own tables in its own PostgreSQL database (``pipeline_peer``, or the one
``BENCH_PEER_DATABASE`` names, on the province's server), loaded with a copy of the
province's rows (:mod:`bench.peer.load`); the stage rules (which transitions exist, what
their guards ask of the stage's records) come from the product's workflow file through
:mod:`pipeline.workflows`, so both sides check the same things.

Django is configured in code (:func:`setup`), no ``manage.py``; nothing here is imported by
the product or by its tests.
"""
from __future__ import annotations

import os
from typing import Any

# Its own database beside ours; ``BENCH_PEER_DATABASE`` names another, so two runs on one
# server do not drop each other's copy.
PEER_DATABASE = os.environ.get("BENCH_PEER_DATABASE") or "pipeline_peer"


def peer_params(url: str) -> dict[str, Any]:
    """Connection parameters of the peer's database on the server of ``url`` (ours)."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return {"host": u.host or "127.0.0.1", "port": u.port or 5432,
            "user": u.username or "postgres", "password": u.password or "",
            "dbname": PEER_DATABASE}


def setup(url: str) -> None:
    """Configure Django for the peer's database (once per process)."""
    import django
    from django.conf import settings

    if settings.configured:
        return
    p = peer_params(url)
    settings.configure(
        DATABASES={"default": {
            "ENGINE": "django.db.backends.postgresql", "NAME": p["dbname"],
            "USER": p["user"], "PASSWORD": p["password"], "HOST": p["host"],
            "PORT": str(p["port"]),
            # One connection kept for the whole run, as a worker process would keep it.
            "CONN_MAX_AGE": None}},
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth",
                        "bench.peer.apps.PeerConfig"],
        USE_TZ=True, TIME_ZONE="UTC", DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        DEBUG=False)
    django.setup()
