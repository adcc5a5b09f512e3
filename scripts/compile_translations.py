"""Compile every ``messages.po`` under pipeline/ into the ``.mo`` Flask-Babel reads."""
from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent / "pipeline"


def compile_all() -> int:
    count = 0
    for po in sorted(ROOT.glob("**/translations/*/LC_MESSAGES/messages.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as f:
            catalog = read_po(f)
        with mo.open("wb") as f:
            write_mo(f, catalog)
        count += 1
    return count


if __name__ == "__main__":
    n = compile_all()
    if n:
        print(f"compiled {n} translation catalogue(s)", file=sys.stderr)
