#!/usr/bin/env bash
# Creates .venv and installs the locked requirements (requirements.lock, every package
# pinned with its hashes) when the lock changed. Run by run.sh and test.sh, and so by
# CI; PYTHON picks the interpreter (default python3).
# The lock is compiled from requirements-dev.txt (which includes requirements.txt);
# refresh it after changing either (docs/deploy.md, "Dependencies"):
#   pip-compile --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
#     --no-emit-find-links -o requirements.lock requirements-dev.txt
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
lock=requirements.lock
if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum "$lock" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r "$lock"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
