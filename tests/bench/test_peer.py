"""The peer benchmark's place: Django and django-viewflow are installed by ``make bench``
alone, and the benchmark package imports without them (the product's tests never load
them)."""
from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PEER_REQUIREMENTS = "bench/peer/requirements.txt"


def test_django_is_no_dependency_of_the_package():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    declared = [config["options"]["install_requires"],
                *config["options.extras_require"].values()]
    names = [line.strip().lower() for block in declared for line in block.splitlines()]
    assert names and not [n for n in names if n.startswith(("django", "viewflow"))]
    peer = (ROOT / PEER_REQUIREMENTS).read_text(encoding="utf-8").lower()
    assert "django" in peer and "django-viewflow" in peer


def test_only_the_bench_target_installs_the_peer():
    targets: dict[str, list[str]] = {}
    current = None
    for line in (ROOT / "Makefile").read_text(encoding="utf-8").splitlines():
        if line and not line[0].isspace() and ":" in line and "=" not in line.split(":")[0]:
            current = line.split(":")[0].strip()
        elif line.startswith("\t") and current:
            targets.setdefault(current, []).append(line)
    installing = [t for t, recipe in targets.items()
                  if any(PEER_REQUIREMENTS in r for r in recipe)]
    assert installing == ["bench"]


def test_the_benchmarks_import_without_django():
    # Django and viewflow made unimportable: the sections, the peer's package and its
    # settings helper must still import (Django is loaded only when the peer runs).
    code = ("import sys; sys.modules['django'] = None; sys.modules['viewflow'] = None; "
            "import bench.__main__, bench.peer, bench.peer_section; "
            "assert 'peer' in bench.__main__.NAMES")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
