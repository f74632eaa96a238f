"""The editor page's scripts must be reachable under the application ./run.sh serves."""

import urllib.error
import urllib.request


def test_the_project_application_serves_the_editor_scripts(server):
    """daphne running collab.asgi:application answers the editor's script URL."""
    url = f"{server.url}/static/editor/editor.js"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    assert status == 200
