#!/usr/bin/env bash
# Runs the whole suite. Every database test runs on SQLite and on PostgreSQL: when
# TEST_DATABASE_URL is not set and a PostgreSQL server answers on 127.0.0.1:5432, a fresh
# database is created for this run and dropped afterwards. Browser tests need Chromium:
# installed from Debian's packages here when missing and possible.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}

if [ -z "${TEST_DATABASE_URL:-}" ] && command -v psql >/dev/null 2>&1 \
   && psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
  db="pipeline_test_$$"
  psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $db" >/dev/null
  trap 'psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
  export TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:5432/$db"
fi
if [ -z "${TEST_DATABASE_URL:-}" ]; then
  echo "note: no PostgreSQL found; database tests run on SQLite only" >&2
fi

bash scripts/ensure-chromium.sh || echo "note: Chromium could not be installed; browser tests will say so" >&2

exec "$PY" -m pytest "$@"
