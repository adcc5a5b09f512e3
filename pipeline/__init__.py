"""Sales-pipeline workflow engine for retail banks.

Importing the package stays light (the pure engine in ``pipeline.engine`` must not pull in
Flask or SQLAlchemy); the app factory lives in ``pipeline.app``.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

__version__ = "0.1.0"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app (see :func:`pipeline.app.create_app`)."""
    from pipeline.app import create_app as _create_app

    return _create_app(config)
