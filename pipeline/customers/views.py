"""The customer book's pages: the import template (supervisors and administrators)."""
from __future__ import annotations

from flask import Blueprint, Response, abort
from flask_login import current_user, login_required

from pipeline.customers.services import template_csv

bp = Blueprint("customers", __name__, url_prefix="/imports")

IMPORTERS = ("supervisor", "admin")


@bp.before_request
@login_required
def _importers_only() -> None:
    if current_user.role not in IMPORTERS:
        abort(403)


@bp.get("/customers/template.csv")
def template():
    """The import file's header row and one example row (UTF-8 with BOM)."""
    return Response(template_csv(), mimetype="text/csv", headers={
        "Content-Disposition": "attachment; filename=customers-template.csv"})
