#!/usr/bin/env bash
# Lints first (scripts/lint.sh: ruff, mypy, eslint; a finding fails the run at once),
# then runs every test. First on the embedded default (SQLite, in-memory channel layer),
# then again on PostgreSQL and Redis when they are reachable. Under CI=true both
# passes are required: an unreachable PostgreSQL or Redis fails the run.
# The fault suite (tests/faults, marker `faults`) is left out of both passes and runs
# once more, on PostgreSQL and a Redis of its own, in a third step.
#   ./test.sh                 -> everything
#   ./test.sh tests/test_ot.py -> pytest arguments are passed through
#   ./test.sh tests/faults/test_process_faults.py -> only that part of the fault suite
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh requirements-dev.txt
bash scripts/lint.sh
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
# The fault suite starts a redis-server of its own; as root on a fresh machine, install it.
if ! command -v redis-server >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing redis-server for the fault suite"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
PG_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/collab}"
REDIS="${TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"

# Paths under tests/faults go to the fault step only; options (one word each, e.g.
# -kname) go to every step.
FAULT_ARGS=() OTHER_ARGS=() PATHS=0 FAULT_PATHS=0
for arg in "$@"; do
  case "$arg" in
    tests/faults*) FAULT_ARGS+=("$arg"); PATHS=$((PATHS + 1)); FAULT_PATHS=$((FAULT_PATHS + 1)) ;;
    -*) FAULT_ARGS+=("$arg"); OTHER_ARGS+=("$arg") ;;
    *) OTHER_ARGS+=("$arg"); PATHS=$((PATHS + 1)) ;;
  esac
done
RUN_PASSES=$([ "$FAULT_PATHS" = 0 ] || [ "$PATHS" != "$FAULT_PATHS" ] && echo 1 || echo 0)
RUN_FAULTS=$([ "$PATHS" = 0 ] || [ "$FAULT_PATHS" != 0 ] && echo 1 || echo 0)
[ "$FAULT_PATHS" = 0 ] && FAULT_ARGS+=(tests/faults)

if [ "$RUN_PASSES" = 1 ]; then
  echo "== pass 1: SQLite + in-memory channel layer"
  env -u DATABASE_URL -u REDIS_URL .venv/bin/python -m pytest ${OTHER_ARGS[@]+"${OTHER_ARGS[@]}"}
fi

if .venv/bin/python scripts/reachable.py "$PG_URL" "$REDIS"; then
  if [ "$RUN_PASSES" = 1 ]; then
    echo "== pass 2: PostgreSQL + Redis"
    DATABASE_URL="$PG_URL" REDIS_URL="$REDIS" COLLAB_REDIS_PREFIX="collab-test-$$" \
      .venv/bin/python -m pytest ${OTHER_ARGS[@]+"${OTHER_ARGS[@]}"}
  fi
  if [ "$RUN_FAULTS" = 1 ]; then
    # The scenarios start a redis-server of their own (never the one above), so that
    # killing it harms nothing else; the report lands in COLLAB_FAULT_REPORT if set.
    echo "== faults: PostgreSQL + Redis"
    DATABASE_URL="$PG_URL" REDIS_URL="$REDIS" COLLAB_REDIS_PREFIX="collab-faults-$$" \
      .venv/bin/python -m pytest -m faults "${FAULT_ARGS[@]}"
  fi
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL or Redis is unreachable; CI requires both." >&2
  exit 1
else
  echo "== pass 2 and the fault suite skipped: PostgreSQL or Redis unreachable"
fi
