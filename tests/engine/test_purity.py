"""The engine is pure: importing and using it pulls in neither Flask nor SQLAlchemy."""
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_engine_imports_neither_flask_nor_sqlalchemy():
    code = textwrap.dedent("""
        import sys
        from datetime import datetime, timezone
        from pipeline.engine import Engine, load_workflow
        engine = Engine(load_workflow("workflows/seven_step.yaml"))
        state = engine.start(datetime(2026, 1, 1, tzinfo=timezone.utc))
        engine.available_events(state, {})
        bad = sorted(m for m in sys.modules
                     if m.split(".")[0] in {"flask", "sqlalchemy", "werkzeug", "flask_login"})
        print(",".join(bad))
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""
    assert "pipeline.engine" not in out.stderr


def test_engine_sources_do_not_mention_flask_or_sqlalchemy():
    for path in (ROOT / "pipeline" / "engine").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "import flask" not in text and "from flask" not in text, path
        assert "sqlalchemy" not in text, path
