"""Exit 0 when every URL's host:port accepts a TCP connection (postgres://, redis://)."""

import socket
import sys
from urllib.parse import urlsplit

DEFAULT_PORTS = {"postgres": 5432, "postgresql": 5432, "redis": 6379}

for url in sys.argv[1:]:
    parts = urlsplit(url)
    try:
        socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or DEFAULT_PORTS[parts.scheme]), timeout=2
        ).close()
    except OSError:
        sys.exit(1)
