"""Every string of the report pages has its Chinese translation."""
from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None}
SOURCES = [("pipeline/reports", [("**.py", "python")]),
           ("templates/reports", [("**.html", "jinja2")]),
           ("templates/funnel", [("**.html", "jinja2")])]


def extracted() -> set[str]:
    out: set[str] = set()
    for folder, method_map in SOURCES:
        for _file, _line, message, _comments, _ctx in extract_from_dir(
                ROOT / folder, method_map, keywords=KEYWORDS):
            out.add(message if isinstance(message, str) else message[0])
    return out


def test_every_report_string_is_translated_to_chinese():
    with open(ROOT / "pipeline/reports/translations/zh_CN/LC_MESSAGES/messages.po", "rb") as f:
        catalog = read_po(f)
    strings = extracted()
    assert "Stage funnel" in strings and "Lost reasons" in strings  # extraction works
    missing = sorted(s for s in strings if not (catalog.get(s) and catalog.get(s).string))
    assert missing == []
    fuzzy = sorted(m.id for m in catalog if m.id and m.fuzzy)
    assert fuzzy == []
