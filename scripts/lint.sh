#!/usr/bin/env bash
# Lint and types, run by test.sh before the tests (a finding fails the run) and on
# their own as `bash scripts/lint.sh`:
#   ruff check   the Python (rules in pyproject.toml, [tool.ruff.lint])
#   ruff format  its layout (`.venv/bin/ruff format .` applies it)
#   mypy         editor, collab, tests and bench, with django-stubs (pyproject.toml, [tool.mypy])
#   eslint       the browser client's modules and their node tests (scripts/eslint)
# ESLint's packages are installed from scripts/eslint/package-lock.json (npm ci) when the
# lock changed; without node and npm, or when that install fails (offline), that step is
# skipped, except under CI=true.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh

echo "== lint: ruff check"
.venv/bin/ruff check .

echo "== lint: ruff format --check"
.venv/bin/ruff format --check .

echo "== types: mypy"
# The django-stubs plugin loads collab.settings, which outside debug wants a secret key.
env -u DATABASE_URL -u REDIS_URL DJANGO_DEBUG=1 .venv/bin/mypy

echo "== lint: eslint"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [ "${CI:-}" = "true" ]; then
    echo "node or npm is missing, and CI requires the JavaScript to be linted." >&2
    exit 1
  fi
  echo "skipped: node or npm is not installed"
  exit 0
fi
eslint=scripts/eslint
stamp="$eslint/node_modules/.installed-$(sha256sum "$eslint/package-lock.json" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  if ! (cd "$eslint" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
    # Offline on first use: the tests can still run; CI must lint.
    [ "${CI:-}" = "true" ] && exit 1
    echo "skipped: ESLint could not be installed (npm ci failed)"
    exit 0
  fi
  touch "$stamp"
fi
"$eslint/node_modules/.bin/eslint" --config "$eslint/eslint.config.js" --max-warnings 0 \
  editor/static/editor tests/js
echo "No problems found."
