"""Accounts: a password change and the sockets of each session, over a real daphne."""

from datetime import timedelta

import pytest
from django.utils import timezone

from editor.models import Connection

from . import http
from .conftest import ADA_PASSWORD, session_headers
from .waiting import eventually_async
from .wire import Wire, closed_with

OLD, NEW = ADA_PASSWORD, "a brand new pass phrase"

pytestmark = pytest.mark.usefixtures("ada_password")


def change_password(server, headers) -> int:
    return http.post(
        server.url,
        "/accounts/password_change/",
        {"old_password": OLD, "new_password1": NEW, "new_password2": NEW},
        cookie=headers["Cookie"],
    )


async def test_a_password_change_closes_the_other_sessions_sockets_at_once(server, doc, ada):
    """The other session's socket closes with 4401 within a second (no periodic check runs
    that soon); the changing session's socket stays and still commits."""
    changing, other = session_headers(ada, server), session_headers(ada, server)
    async with Wire(server.ws(doc.pk), changing) as mine, Wire(server.ws(doc.pk), other) as theirs:
        await mine.join("m")
        await theirs.join("t")
        assert change_password(server, changing) == 302
        assert await closed_with(theirs, timeout=1.0) == 4401
        await mine.send({"type": "op", "seq": 1, "base": 1, "ops": [{"pos": 0, "insert": "x"}]})
        assert (await mine.recv_until("ack"))[-1]["rev"] == 2


async def test_the_changing_sessions_sockets_survive_the_periodic_checks(limited_server, doc, ada):
    """With a check every second, rounds after the change keep the changing session's socket."""
    changing = session_headers(ada, limited_server)
    async with Wire(limited_server.ws(doc.pk), changing) as mine:
        await mine.join("m")
        # The row is written just after ``ready``.
        await eventually_async(Connection.objects.exists, what="the socket's connection row")
        assert change_password(limited_server, changing) == 302
        for _ in range(2):  # two rounds of the watcher, each seen refreshing the row
            long_ago = timezone.now() - timedelta(hours=1)
            Connection.objects.update(seen=long_ago)
            await eventually_async(
                lambda: not Connection.objects.filter(seen=long_ago).exists(),  # noqa: B023 - awaited in this turn
                what="the watcher's refresh of the connection row",
            )
        assert mine.ws.close_code is None
        await mine.send({"type": "op", "seq": 1, "base": 1, "ops": [{"pos": 0, "insert": "x"}]})
        assert (await mine.recv_until("ack"))[-1]["rev"] == 2
