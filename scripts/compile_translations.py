"""Compile every ``messages.po`` under pipeline/ into the ``.mo`` Flask-Babel reads.

Run from the checkout (``make install``, the test run) it compiles in place; the package
build (``setup.py``) calls :func:`compile_all` with the build folder as ``target``.
"""
from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent / "pipeline"


def compile_all(source: Path = ROOT, target: Path | None = None) -> list[Path]:
    """Compile each catalogue under ``source`` to the same place under ``target`` (default:
    beside its ``.po``), skipping those already newer than their ``.po``. Returns the
    ``.mo`` files written."""
    written = []
    for po in sorted(source.glob("**/translations/*/LC_MESSAGES/messages.po")):
        mo = (target / po.relative_to(source) if target else po).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as f:
            catalog = read_po(f)
        mo.parent.mkdir(parents=True, exist_ok=True)
        with mo.open("wb") as f:
            write_mo(f, catalog)
        written.append(mo)
    return written


if __name__ == "__main__":
    n = len(compile_all())
    if n:
        print(f"compiled {n} translation catalogue(s)", file=sys.stderr)
