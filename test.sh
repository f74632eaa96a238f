#!/usr/bin/env bash
# Runs every test. First on the embedded default (SQLite, in-memory channel layer),
# then again on PostgreSQL and Redis when they are reachable. Under CI=true both
# passes are required: an unreachable PostgreSQL or Redis fails the run.
#   ./test.sh                 -> everything
#   ./test.sh tests/test_ot.py -> pytest arguments are passed through
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh requirements-dev.txt
# The browser tests drive Debian's Chromium, the deployment test nginx and a
# redis-server of its own; as root on a fresh machine, install them.
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
[ -x /usr/sbin/nginx ] || missing="$missing nginx"
[ -x /usr/bin/redis-server ] || missing="$missing redis-server"
if [ -n "$missing" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing$missing for the browser and deployment tests"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
PG_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/collab}"
REDIS="${TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"

echo "== pass 1: SQLite + in-memory channel layer"
env -u DATABASE_URL -u REDIS_URL .venv/bin/python -m pytest "$@"

if .venv/bin/python scripts/reachable.py "$PG_URL" "$REDIS"; then
  echo "== pass 2: PostgreSQL + Redis"
  DATABASE_URL="$PG_URL" REDIS_URL="$REDIS" COLLAB_REDIS_PREFIX="collab-test-$$" \
    .venv/bin/python -m pytest "$@"
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL or Redis is unreachable; CI requires both." >&2
  exit 1
else
  echo "== pass 2 skipped: PostgreSQL or Redis unreachable"
fi
