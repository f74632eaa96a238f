#!/usr/bin/env bash
# Creates .venv and installs the project's requirements when they changed.
# Sourced by run.sh and test.sh; PYTHON picks the interpreter (default python3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
want="${1:-requirements.txt}"
if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
stamp=".venv/.installed-$(cat requirements.txt "$want" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$want"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
