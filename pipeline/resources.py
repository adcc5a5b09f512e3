"""Where the app's files are: templates, static files, workflows, migrations, catalogues.

An installed package carries them in ``pipeline/_data`` (the build copies the project's
top-level ``templates/``, ``static/``, ``workflows/`` and ``migrations/`` there and
compiles the catalogues next to their ``messages.po``). A checkout — run from the
repository or installed editable — has no ``_data`` and uses the top-level folders.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
SHIPPED_DIR = PACKAGE_DIR / "_data"
CHECKOUT_DIR = PACKAGE_DIR.parent


def data_dir(name: str) -> Path:
    """The folder ``name`` shipped in the package, else the checkout's."""
    shipped = SHIPPED_DIR / name
    return shipped if shipped.is_dir() else CHECKOUT_DIR / name


TEMPLATES_DIR = data_dir("templates")
STATIC_DIR = data_dir("static")
WORKFLOWS_DIR = data_dir("workflows")
MIGRATIONS_DIR = data_dir("migrations")


def translation_dirs() -> list[Path]:
    """Each package keeps its own catalogue: ``pipeline/[<package>/]translations``."""
    return [p for p in sorted(PACKAGE_DIR.glob("**/translations")) if p.is_dir()]
