"""The package build: metadata lives in setup.cfg.

The wheel carries what the app reads at run time: the project's top-level ``templates/``,
``static/``, ``workflows/`` and ``migrations/`` go into ``pipeline/_data`` (where
``pipeline.resources`` finds them), and every translation catalogue is compiled to the
``.mo`` Flask-Babel reads. An editable install keeps using the checkout's folders and
compiles the catalogues in place.
"""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
DATA_FOLDERS = ("templates", "static", "workflows", "migrations")


def compile_catalogues(target: Path | None = None) -> None:
    """The checkout's ``scripts/compile_translations.py`` (one compiler for make and build)."""
    spec = importlib.util.spec_from_file_location(
        "compile_translations", HERE / "scripts" / "compile_translations.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.compile_all(HERE / "pipeline", target)


class BuildPyWithData(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            compile_catalogues()
            return
        package = Path(self.build_lib) / "pipeline"
        data = package / "_data"
        shutil.rmtree(data, ignore_errors=True)  # nothing left over from an earlier build
        for name in DATA_FOLDERS:
            shutil.copytree(HERE / name, data / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"))
        compile_catalogues(package)


setup(cmdclass={"build_py": BuildPyWithData})
