"""The customer-book import page's forms: the file to check, then the checked file to import."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField


class UploadForm(FlaskForm):
    file = FileField(_l("Customer book file (CSV or XLSX)"),
                     validators=[FileRequired(_l("Choose a file."))])


class ConfirmForm(FlaskForm):
    token = HiddenField()
