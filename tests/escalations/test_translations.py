"""Every string of the escalation screens and messages has its Chinese translation."""
from __future__ import annotations

from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [*(ROOT / "pipeline" / "escalations").glob("*.py"),
           *(ROOT / "pipeline" / "notifications").glob("*.py")]
TEMPLATES = list((ROOT / "templates" / "escalations").glob("*.html"))
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None}


def msgids() -> set[str]:
    found: set[str] = set()
    for path, method in [*((p, "python") for p in SOURCES),
                         *((p, "jinja2") for p in TEMPLATES)]:
        for _line, message, _comments, _context in extract_from_file(method, str(path),
                                                                     keywords=KEYWORDS):
            found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_string_is_translated_to_chinese():
    catalogue = read_po((ROOT / "pipeline/escalations/translations/zh_CN/LC_MESSAGES/"
                         "messages.po").open("rb"))
    ids = msgids()
    assert len(ids) > 60
    missing = sorted(m for m in ids if not (catalogue.get(m) and catalogue.get(m).string))
    assert missing == []
