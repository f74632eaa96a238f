"""Production static files: collectstatic's hashed names, served by daphne (ServeStatic)
with immutable caching, ES-module imports rewritten to the hashed names."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request

import pytest
from django.conf import settings

from editor.domain import services

from .conftest import ROOT, Daphne, server_env, session_headers

IMPORT = re.compile(r'(?:import|export)\b[^"\';]*?from\s*"(\./[^"]+)"')


def production_env(static_root) -> dict[str, str]:
    """A production-like process on plain HTTP, signing sessions like the tests do."""
    return {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "COLLAB_STATIC_ROOT": str(static_root),
    }


def collectstatic(static_root) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=server_env(**production_env(static_root)),
        check=True,
        timeout=120,
    )


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=15) as response:
        return response.status, response.read().decode(), dict(response.headers)


@pytest.fixture
def production_site(transactional_db, tmp_path):
    static_root = tmp_path / "static"
    collectstatic(static_root)
    server = Daphne(**production_env(static_root)).start()
    yield server
    server.stop()


def test_editor_page_loads_hashed_modules_that_are_cached_for_good(production_site, make_user):
    """The page names editor.<hash>.js; it and every module it imports, transitively, are
    hashed names served with immutable caching."""
    ada = make_user("ada")
    doc = services.document_create(title="Notes", owner=ada, content="")
    _, page, _ = fetch(f"{production_site.url}/documents/{doc.pk}/", session_headers(ada, production_site))
    entry = re.search(r'<script type="module" src="(/static/editor/editor\.[0-9a-f]{12}\.js)"', page)
    assert entry, page
    assert re.search(r'href="/static/editor/style\.[0-9a-f]{12}\.css"', page)
    seen, queue = set(), [entry.group(1)]
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        status, body, headers = fetch(production_site.url + path)
        assert status == 200
        assert "immutable" in headers["Cache-Control"] and "max-age=315360000" in headers["Cache-Control"]
        assert headers["Content-Type"].startswith("text/javascript")
        for target in IMPORT.findall(body):
            assert re.fullmatch(r"\./\w+\.[0-9a-f]{12}\.js", target), f"{path} imports {target}"
            queue.append(path.rsplit("/", 1)[0] + "/" + target[2:])
    names = {re.sub(r"\.[0-9a-f]{12}\.js$", ".js", p.rsplit("/", 1)[1]) for p in seen}
    assert {"editor.js", "client.js", "ot.js", "socket.js", "textarea.js"} <= names


def test_unhashed_names_are_not_cached_for_good(production_site):
    """The plain name still answers (for old links) but may change, so it is not immutable."""
    status, _, headers = fetch(f"{production_site.url}/static/editor/ot.js")
    assert status == 200 and "immutable" not in headers.get("Cache-Control", "")


def test_debug_serves_the_files_as_they_are_without_collectstatic(server):
    """The development server (./run.sh) serves editor/static directly, uncached."""
    status, body, headers = fetch(f"{server.url}/static/editor/editor.js")
    assert status == 200 and 'from "./client.js"' in body
    assert "immutable" not in headers.get("Cache-Control", "")
