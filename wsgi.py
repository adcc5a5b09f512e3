"""WSGI entry point: ``gunicorn wsgi:app`` or ``flask --app wsgi run``."""
from pipeline import create_app
from pipeline.app import ConfigurationError
from pipeline.engine import WorkflowError

try:
    app = create_app()
except (ConfigurationError, WorkflowError) as exc:
    # One clear line and exit status 1: a configuration mistake is not a crash to debug.
    raise SystemExit(f"Error: {exc}") from None
