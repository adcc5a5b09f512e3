#!/usr/bin/env bash
# Back up the pipeline database while the app runs.
#   scripts/backup.sh DATABASE_URL BACKUP_FILE
# PostgreSQL: pg_dump in its custom format (a consistent snapshot; restore with
# scripts/restore.sh or pg_restore). SQLite: SQLite's online backup (consistent even while
# the app writes; never copy the file itself with cp while the app runs: WAL mode).
set -euo pipefail
url=${1:?usage: backup.sh DATABASE_URL BACKUP_FILE}
out=${2:?usage: backup.sh DATABASE_URL BACKUP_FILE}
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
case "$url" in
  postgres://*|postgresql://*|postgresql+*://*)
    libpq_url="postgresql://${url#*://}"
    pg_dump --format=custom --no-owner --file="$out" "$libpq_url"
    ;;
  sqlite:///*)
    path="${url#sqlite:///}"
    [ -f "$path" ] || { echo "Error: no SQLite database at $path" >&2; exit 1; }
    "$PY" - "$path" "$out" <<'PYEOF'
import sqlite3, sys
source = sqlite3.connect(sys.argv[1])
target = sqlite3.connect(sys.argv[2])
with target:
    source.backup(target)
target.close()
source.close()
PYEOF
    ;;
  *) echo "Error: unsupported DATABASE_URL (postgresql:// or sqlite:///)" >&2; exit 1 ;;
esac
echo "backed up to $out"
