#!/usr/bin/env bash
# Restore a backup made by scripts/backup.sh. Stop the app first.
#   scripts/restore.sh BACKUP_FILE DATABASE_URL
# PostgreSQL: into an existing (preferably new, empty) database; objects of the backup that
# exist already are dropped first. SQLite: the database file is replaced.
set -euo pipefail
file=${1:?usage: restore.sh BACKUP_FILE DATABASE_URL}
url=${2:?usage: restore.sh BACKUP_FILE DATABASE_URL}
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -f "$file" ] || { echo "Error: no backup file $file" >&2; exit 1; }
case "$url" in
  postgres://*|postgresql://*|postgresql+*://*)
    libpq_url="postgresql://${url#*://}"
    pg_restore --clean --if-exists --no-owner --exit-on-error --single-transaction \
      --dbname="$libpq_url" "$file"
    ;;
  sqlite:///*)
    path="${url#sqlite:///}"
    "$PY" - "$file" "$path" <<'PYEOF'
import sqlite3, sys
source = sqlite3.connect(sys.argv[1])
if source.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
    sys.exit(f"Error: {sys.argv[1]} is damaged")
target = sqlite3.connect(sys.argv[2])
with target:
    source.backup(target)
target.close()
source.close()
PYEOF
    ;;
  *) echo "Error: unsupported DATABASE_URL (postgresql:// or sqlite:///)" >&2; exit 1 ;;
esac
echo "restored $file"
