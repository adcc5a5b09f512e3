"""The core catalogue (base, sign-in, errors, board, prospect pages) is complete in zh_CN
and en: every string those templates and modules mark for translation is translated."""
from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = ROOT / "pipeline" / "translations"
SOURCES = ["templates/base.html", "templates/_macros", "templates/auth", "templates/errors",
           "templates/board", "templates/prospects", "pipeline/prospects/views.py",
           "pipeline/prospects/presenters.py",
           "pipeline/prospects/forms.py", "pipeline/auth/views.py", "pipeline/auth/forms.py"]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}


def extracted() -> set:
    out = set()
    for source in SOURCES:
        path = ROOT / source
        directory, wanted = (path, None) if path.is_dir() else (path.parent, path.name)
        method = [("**.html", "jinja2"), ("**.py", "python")]
        for filename, _line, message, _comments, _ctx in extract_from_dir(
                str(directory), method_map=method, keywords=KEYWORDS):
            if wanted and Path(filename).name != wanted:
                continue
            out.add(message)
    return {m for m in out if m}


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_catalogue_translates_every_string(locale):
    with open(CATALOGUES / locale / "LC_MESSAGES" / "messages.po", "rb") as f:
        catalog = read_po(f)
    messages = extracted()
    assert len(messages) > 150
    missing = []
    for message in messages:
        entry = catalog.get(message if isinstance(message, str) else message[0])
        strings = [] if entry is None else (
            [entry.string] if isinstance(entry.string, str) else list(entry.string))
        if not strings or not all(strings):
            missing.append(message)
    assert missing == []


def test_chinese_catalogue_is_chinese_and_keeps_placeholders():
    import re

    with open(CATALOGUES / "zh_CN" / "LC_MESSAGES" / "messages.po", "rb") as f:
        catalog = read_po(f)
    for entry in catalog:
        if not entry.id:
            continue
        source = entry.id if isinstance(entry.id, str) else entry.id[0]
        target = entry.string if isinstance(entry.string, str) else entry.string[0]
        placeholders = r"%\(\w+\)[sd]"
        assert sorted(re.findall(placeholders, source)) == sorted(
            re.findall(placeholders, target)), source
        if source not in ("SMS",):
            assert re.search(r"[\u4e00-\u9fff]", target), source
