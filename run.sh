#!/usr/bin/env bash
# Starts the editor on the embedded default: SQLite and the in-memory channel layer.
#   ./run.sh            -> http://127.0.0.1:8000/
#   PORT=9000 ./run.sh  -> another port
set -euo pipefail
cd "$(dirname "$0")"
# A local run asks for debug (a built-in secret key, plain http cookies); the settings
# default to production behaviour when DJANGO_DEBUG is unset.
export DJANGO_DEBUG="${DJANGO_DEBUG:-1}"
bash scripts/setup.sh requirements.txt
.venv/bin/python manage.py migrate --noinput -v0
.venv/bin/python manage.py ensureadmin
max_frame=$(.venv/bin/python -c 'import django,os;os.environ.setdefault("DJANGO_SETTINGS_MODULE","collab.settings");django.setup();from django.conf import settings;print(settings.COLLAB_MAX_FRAME_BYTES)')
exec .venv/bin/daphne -b "${HOST:-127.0.0.1}" -p "${PORT:-8000}" \
  --websocket-max-message-size "$max_frame" collab.asgi:application
