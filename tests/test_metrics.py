"""/metrics on a real daphne: the figures move with what clients do, and only the
token's holder (or, without a token, a loopback client) may read them."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest
from websockets.asyncio.client import connect as ws_connect

from editor.client import CollabClient
from editor.domain import services

from .conftest import Daphne, closing_connections, session_headers

TOKEN = "metrics-token-for-tests"


def scrape(server: Daphne, token: str | None = TOKEN) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"{server.url}/metrics", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def value(text: str, name: str, **labels: str) -> float:
    """One sample of the exposition; 0 when it is absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = "^" + re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if wanted else "") + r" (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


@pytest.fixture
def metered(transactional_db):
    server = Daphne(COLLAB_METRICS_TOKEN=TOKEN).start()
    yield server
    server.stop()


@closing_connections
async def test_figures_follow_sockets_commits_catchups_and_refusals(metered, make_user):
    """Joins, three ops, one refused message and one refused socket show up."""
    ada, eve = make_user("ada"), make_user("eve")
    doc = services.document_create(title="Counted", owner=ada, content="")
    status, before = scrape(metered)
    assert status == 200
    first = CollabClient(metered.ws(doc.pk), headers=session_headers(ada, metered))
    await first.connect()
    for word in ("one ", "two ", "three "):
        first.insert(len(first.text), word)
        await first.wait_synced()
        if word == "two ":
            await first.drop_connection()  # it joins again from its revision: a catch-up
    second = CollabClient(metered.ws(doc.pk), headers=session_headers(ada, metered))
    await second.connect()
    async with ws_connect(metered.ws(doc.pk), additional_headers=session_headers(ada, metered)) as raw:
        await raw.send("not json")
        assert json.loads(await raw.recv())["code"] == "bad_json"
    async with ws_connect(metered.ws(doc.pk), additional_headers=session_headers(eve, metered)) as denied:
        await denied.wait_closed()
    _, after = scrape(metered)
    assert value(after, "collab_open_sockets") == 2
    assert value(after, "collab_documents_open") == 1
    assert value(after, "collab_ops_committed_total") - value(before, "collab_ops_committed_total") == 3
    assert value(after, "collab_commit_seconds_count") - value(before, "collab_commit_seconds_count") == 3
    assert value(after, "collab_catchups_total", kind="snapshot") >= 1
    assert value(after, "collab_catchups_total", kind="revisions") >= 1
    assert value(after, "collab_refusals_total", code="bad_json") == 1
    assert value(after, "collab_refusals_total", code="4403") == 1
    for client in (first, second):
        await client.close()


def test_metrics_need_the_token_when_one_is_set(metered):
    """No token or a wrong one: 403, and nothing of the figures in the answer."""
    for token in (None, "wrong"):
        status, body = scrape(metered, token)
        assert status == 403 and "collab_" not in body


def test_without_a_token_only_loopback_clients_may_read(server):
    """The test daphne has no token: a client on 127.0.0.1 reads the figures."""
    status, body = scrape(server, None)
    assert status == 200 and "collab_open_sockets" in body
