"""The customer book's pages (supervisors and administrators): the import page — upload a
CSV or XLSX file, preview what it would do with every row error, nothing written, then
import the same file (kept server-side under a random token held in the session) — and the
import template."""
from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from pipeline.customers import services
from pipeline.customers.forms import ConfirmForm, UploadForm
from pipeline.customers.services import template_csv
from pipeline.db import get_session
from pipeline.errors import ServiceError

bp = Blueprint("customers", __name__, url_prefix="/imports")

IMPORTERS = ("supervisor", "admin")
MAX_BYTES = services.MAX_FILE_BYTES
SESSION_KEY = "customer_import"
TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


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


def _upload_dir() -> Path:
    folder = Path(current_app.instance_path) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _pending() -> tuple[str, str] | None:
    """The checked file waiting in the session: (token, kind), when its file is still kept."""
    held = session.get(SESSION_KEY)
    if not isinstance(held, dict) or not TOKEN.match(str(held.get("token", ""))) \
            or held.get("kind") not in ("csv", "xlsx"):
        return None
    return held["token"], held["kind"]


def _path(token: str) -> Path:
    return _upload_dir() / f"{token}.upload"


def _forget() -> None:
    pending = _pending()
    session.pop(SESSION_KEY, None)
    if pending is not None:
        _path(pending[0]).unlink(missing_ok=True)


def _keep(data: bytes, kind: str) -> str:
    _forget()
    token = secrets.token_urlsafe(24)
    path = _path(token)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    session[SESSION_KEY] = {"token": token, "kind": kind}
    return token


def _page(upload: UploadForm, *, summary: services.Summary | None = None,
          refused: bool = False, confirm: ConfirmForm | None = None, status: int = 200):
    return render_template("customers/import.html", form=upload, summary=summary,
                           refused=refused, confirm=confirm, message=_message,
                           column=_column), status


def _message(text: str) -> str:
    """A check's message in the reader's language, when the catalogue has it."""
    return _(text)


def _column(name: str) -> str:
    if name == services.FILE_FIELD:
        return _("(the file)")
    if name == "_row":
        return _("(the row)")
    return name


@bp.route("/customers", methods=["GET", "POST"])
def import_page():
    """GET: the upload form. POST ``preview``: the file checked in dry-run mode, the counts
    and every row error, nothing written. POST ``import`` (with the preview's token): the
    previewed file imported in one transaction."""
    upload = UploadForm()
    if request.method == "GET":
        return _page(upload)
    if "import" in request.form:
        return _import()
    if not upload.validate_on_submit():
        return _page(upload, status=400 if upload.errors else 200)
    file = upload.file.data
    data = file.stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        upload.file.errors.append(_("The file is larger than %(mb)d MB.",
                                    mb=MAX_BYTES // (1024 * 1024)))
        return _page(upload, status=413)
    kind = services.kind_of(data, filename=file.filename)
    try:
        summary = services.import_customers(get_session(), data, kind=kind,
                                            actor=current_user, dry_run=True, channel="web")
    except services.ImportRefused as exc:
        _forget()
        return _page(upload, summary=exc.summary, refused=True, status=422)
    confirm = ConfirmForm(formdata=None, token=_keep(data, kind))
    return _page(upload, summary=summary, confirm=confirm)


def _import():
    confirm = ConfirmForm()
    pending = _pending()
    if not confirm.validate_on_submit() or pending is None \
            or not secrets.compare_digest(pending[0], confirm.token.data or "") \
            or not _path(pending[0]).exists():
        flash(_("Upload the file and preview it again before importing."), "error")
        return redirect(url_for("customers.import_page"))
    token, kind = pending
    data = _path(token).read_bytes()
    try:
        summary = services.import_customers(get_session(), data, kind=kind,
                                            actor=current_user, channel="web")
    except services.ImportRefused as exc:
        _forget()
        return _page(UploadForm(formdata=None), summary=exc.summary, refused=True,
                     status=422)
    except ServiceError as exc:
        _forget()
        flash(_("Nothing was imported: %(reason)s", reason=exc.message), "error")
        return redirect(url_for("customers.import_page"))
    _forget()
    flash(_("Imported: %(created)d created, %(updated)d updated, %(allocated)d allocated, "
            "%(unallocated)d left unallocated.", created=summary.created,
            updated=summary.updated, allocated=summary.allocated,
            unallocated=summary.unallocated), "success")
    return redirect(url_for("customers.import_page"))
