#!/usr/bin/env bash
# Starts one daphne process of the editor on 127.0.0.1:PORT (systemd runs it as
# collab@PORT). The frame limit is the application's own COLLAB_MAX_FRAME_BYTES.
#   deploy/daphne.sh 8001
set -euo pipefail
cd "$(dirname "$0")/.."
port="${1:?usage: deploy/daphne.sh PORT}"
max_frame=$(.venv/bin/python -c 'import django,os;os.environ.setdefault("DJANGO_SETTINGS_MODULE","collab.settings");django.setup();from django.conf import settings;print(settings.COLLAB_MAX_FRAME_BYTES)')
# exec: systemd's SIGTERM reaches daphne itself, which then shuts down gracefully.
exec .venv/bin/daphne -b 127.0.0.1 -p "$port" --proxy-headers \
  --websocket-max-message-size "$max_frame" collab.asgi:application
