"""The per-process watcher: batched session and role checks, presence, sign-out notices."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.utils import timezone

from editor.domain import access, selectors, services
from editor.models import Connection, Membership
from editor.realtime import dbthread
from editor.realtime.bus import user_group
from editor.realtime.watch import Watcher

from . import http
from .conftest import session_headers
from .test_security import closed_with
from .waiting import Clock, eventually_async
from .wire import Wire


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def doc(ada):
    return services.document_create(title="Notes", owner=ada, content="hello")


@pytest.fixture
async def watcher(transactional_db):
    """A watcher of its own, stopped (and its database thread closed) after the test."""
    w = Watcher()
    yield w
    await w.stop()
    await asyncio.to_thread(dbthread.close)


def session_of(user) -> str:
    """The key of a new signed-in session of ``user``."""
    client = Client()
    client.force_login(user)
    key = client.session.session_key
    assert key is not None  # force_login saved the session
    return key


async def until_closed(socket) -> None:
    """Wait until the watcher has told ``socket`` to close."""
    await eventually_async(lambda: socket.closed is not None)


class FakeSocket:
    """What the watcher sees of a consumer, recording what it was told."""

    def __init__(self, *, user, document_id: str, session_key: str, role: str = "editor", joined: bool = True):
        self.user_id = user.pk
        self.document_id = document_id
        self.session_key = session_key
        self.role: str | None = role
        self.joined = joined
        self.name = ""
        self.closed: str | None = None  # why

    async def signed_out(self) -> None:
        self.role, self.closed = None, "signed out"

    async def role_checked(self, role) -> None:
        if isinstance(role, Exception):
            self.role, self.closed = None, type(role).__name__
        elif role != self.role:
            self.role, self.closed = None, "role changed"


# --- the batched queries keep the rules of the one-by-one checks ------------------------


def test_sessions_are_checked_in_two_queries_by_the_rules_of_one(ada, bob, make_user, django_assert_num_queries):
    """Deleted, expired, someone else's, or older than a password change: not signed in."""
    carl, dora = make_user("carl"), make_user("dora")
    good, other, gone, expired, stale, inactive = (session_of(u) for u in (ada, ada, ada, ada, bob, carl))
    dora_session = session_of(dora)
    Session.objects.filter(session_key=gone).delete()
    Session.objects.filter(session_key=expired).update(expire_date=timezone.now() - timedelta(seconds=1))
    bob.set_password("changed")  # every session bob had is signed out
    bob.save()
    carl.is_active = False
    carl.save()
    pairs = [
        (good, ada.pk),
        (other, ada.pk),
        (gone, ada.pk),
        (expired, ada.pk),
        (stale, bob.pk),
        (inactive, carl.pk),
        (good, bob.pk),
        (dora_session, dora.pk),
        ("", ada.pk),
        ("no-such-session", ada.pk),
    ]
    with django_assert_num_queries(2):
        signed_in = access.sessions_signed_in(pairs)
    assert signed_in == {(good, ada.pk), (other, ada.pk), (dora_session, dora.pk)}


def test_roles_are_read_in_three_queries_as_document_role_decides_them(ada, bob, make_user, django_assert_num_queries):
    """Owner, editor, viewer, stranger, staff and a deleted document, for several documents at once."""
    carl, dora, sam = make_user("carl"), make_user("dora"), make_user("sam")
    sam.is_staff = True
    sam.save()
    sam.user_permissions.add(Permission.objects.get(codename="change_document"))
    one = services.document_create(title="One", owner=ada)
    two = services.document_create(title="Two", owner=bob)
    Membership.objects.create(document=one, user=bob, role="editor")
    Membership.objects.create(document=one, user=carl, role="viewer")
    Membership.objects.create(document=two, user=dora, role="viewer")
    users = (ada, bob, carl, dora, sam)
    pairs = [(d, u.pk) for d in (one.pk, two.pk, "missing") for u in users]
    with django_assert_num_queries(3):
        found = access.roles(pairs)
    assert set(found) == set(pairs)
    for document_id, user_id in pairs:
        try:
            user = type(ada).objects.get(pk=user_id)
            expected = selectors.document_role(document_id=document_id, user=user)
        except (selectors.DocumentNotFound, selectors.AccessDenied) as exc:
            expected = type(exc)
        got = found[document_id, user_id]
        assert (type(got) if isinstance(got, Exception) else got) == expected, (document_id, user_id)
    assert found[one.pk, carl.pk] == "viewer" and isinstance(found["missing", ada.pk], selectors.DocumentNotFound)
    assert found[one.pk, sam.pk] == found[two.pk, sam.pk] == "editor"


# --- one round over fake sockets ----------------------------------------------------------


async def test_one_round_closes_what_must_close_and_refreshes_the_presence_of_the_rest(
    watcher, ada, bob, make_user, doc
):
    """Each socket gets the outcome of its own session and role; only joined survivors are refreshed."""
    carl, dora = make_user("carl"), make_user("dora")
    Membership.objects.create(document=doc, user=bob, role="editor")
    Membership.objects.create(document=doc, user=carl, role="viewer")
    gone = services.document_create(title="Gone", owner=dora)
    sockets = {
        "owner": FakeSocket(user=ada, document_id=doc.pk, session_key=session_of(ada)),
        "not joined": FakeSocket(user=ada, document_id=doc.pk, session_key=session_of(ada), joined=False),
        "member": FakeSocket(user=bob, document_id=doc.pk, session_key=session_of(bob)),
        "downgraded": FakeSocket(user=carl, document_id=doc.pk, session_key=session_of(carl)),
        "revoked": FakeSocket(user=dora, document_id=doc.pk, session_key=session_of(dora)),
        "deleted": FakeSocket(user=dora, document_id=gone.pk, session_key=session_of(dora)),
        "signed out": FakeSocket(user=bob, document_id=doc.pk, session_key=session_of(bob)),
    }
    for socket in sockets.values():
        socket.name = await watcher.register(socket)
        if socket.joined:
            Connection.objects.create(
                document=doc,
                channel_name=socket.name,
                user_id=socket.user_id,
                client="c",
                opened=timezone.now(),
                seen=timezone.now() - timedelta(hours=1),
            )
    assert len({s.name for s in sockets.values()}) == len(sockets)
    assert all(s.name.startswith(watcher.channel) for s in sockets.values())
    Session.objects.filter(session_key=sockets["signed out"].session_key).delete()
    gone.delete()

    await watcher.check()

    assert {name: s.closed for name, s in sockets.items()} == {
        "owner": None,
        "not joined": None,
        "member": None,
        "downgraded": "role changed",
        "revoked": "AccessDenied",
        "deleted": "DocumentNotFound",
        "signed out": "signed out",
    }
    fresh = timezone.now() - timedelta(minutes=1)
    refreshed = {row.channel_name for row in Connection.objects.filter(seen__gt=fresh)}
    assert refreshed == {sockets["owner"].name, sockets["member"].name}


async def test_sign_out_notices_reach_only_that_sessions_sockets_while_watched(watcher, ada, bob, doc):
    """The process channel joins a user's group with their first socket and leaves it after the last."""
    first, second = session_of(ada), session_of(ada)
    a1 = FakeSocket(user=ada, document_id=doc.pk, session_key=first)
    a2 = FakeSocket(user=ada, document_id=doc.pk, session_key=second)
    b = FakeSocket(user=bob, document_id=doc.pk, session_key=session_of(bob))
    for socket in (a1, a2, b):
        await watcher.register(socket)
    layer = watcher.layer
    await layer.group_send(user_group(ada.pk), {"type": "user.signed_out", "user_id": ada.pk, "session_key": first})
    await until_closed(a1)
    assert (a1.closed, a2.closed, b.closed) == ("signed out", None, None)

    await watcher.unregister(a1)
    assert ada.pk in watcher.users_listened_for  # a2 is still open
    await watcher.unregister(a2)
    assert ada.pk not in watcher.users_listened_for and bob.pk in watcher.users_listened_for
    if hasattr(layer, "groups"):  # the in-memory layer shows its groups
        assert watcher.channel not in layer.groups.get(user_group(ada.pk), {})
        assert watcher.channel in layer.groups[user_group(bob.pk)]
    await layer.group_send(user_group(bob.pk), {"type": "user.signed_out", "user_id": bob.pk, "session_key": None})
    await until_closed(b)
    assert b.closed == "signed out"


# --- over a real daphne that checks every second (LIMITED_ENV) ------------------------------


async def test_a_password_change_closes_the_socket_within_the_check_interval(limited_server, doc, ada):
    """Changed elsewhere, with no notice to the server: the next round closes with 4401."""
    async with Wire(limited_server.ws(doc.pk), session_headers(ada, limited_server)) as a:
        await a.join("a")
        ada.set_password("a new one")
        ada.save()
        assert await closed_with(a) == 4401


async def test_a_revoked_membership_closes_with_4403_even_when_the_notice_is_lost(limited_server, doc, bob):
    """Deleted behind the server's back (no signal, so no notice): the next round finds it."""
    Membership.objects.create(document=doc, user=bob, role="editor")
    async with Wire(limited_server.ws(doc.pk), session_headers(bob, limited_server)) as b:
        await b.join("b")
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {Membership._meta.db_table} WHERE user_id = %s", [bob.pk])
        assert await closed_with(b) == 4403


async def test_a_role_changed_without_a_notice_closes_with_4000(limited_server, doc, bob):
    """``update()`` sends no signal; the round still sees the viewer role."""
    Membership.objects.create(document=doc, user=bob, role="editor")
    async with Wire(limited_server.ws(doc.pk), session_headers(bob, limited_server)) as b:
        await b.join("b")
        Membership.objects.filter(user=bob).update(role="viewer")
        assert await closed_with(b) == 4000


async def test_presence_rows_of_open_sockets_are_refreshed(limited_server, doc, ada):
    """Each socket has its own row, and rounds keep moving ``seen`` forward while it is open."""
    headers = session_headers(ada, limited_server)
    async with Wire(limited_server.ws(doc.pk), headers) as a, Wire(limited_server.ws(doc.pk), headers) as b:
        await a.join("a")
        await b.join("b")

        def both_rows() -> set[str]:  # written just after ``ready``
            names = set(Connection.objects.values_list("channel_name", flat=True))
            assert len(names) == 2, names
            return names

        names = await eventually_async(both_rows)
        long_ago = timezone.now() - timedelta(hours=1)
        Connection.objects.update(seen=long_ago)
        await eventually_async(lambda: not Connection.objects.filter(seen=long_ago).exists())
        assert set(Connection.objects.values_list("channel_name", flat=True)) == names
    await eventually_async(lambda: not Connection.objects.exists())


# --- over the default daphne, which checks only every 30 s: notices alone ----------------------


async def test_signing_out_reaches_a_users_remaining_socket_and_spares_other_sessions(server, doc, ada):
    """After one of a session's sockets closed, sign-out still closes the other, at once;
    a second session of the same user stays open."""
    kept, ended = session_headers(ada, server), session_headers(ada, server)
    async with Wire(server.ws(doc.pk), kept) as other_session, Wire(server.ws(doc.pk), ended) as remaining:
        await other_session.join("k")
        await remaining.join("r")
        async with Wire(server.ws(doc.pk), ended) as first:
            await first.join("f")
        assert http.post(server.url, "/accounts/logout/", {}, cookie=ended["Cookie"]) == 302
        assert await closed_with(remaining) == 4401
        with pytest.raises(asyncio.TimeoutError):  # only others' comings and goings arrive
            while True:
                assert (await other_session.recv(0.5))["type"] in ("presence", "leave")
        assert other_session.ws.close_code is None


async def test_sockets_that_come_while_the_watcher_starts_wait_for_its_channel(watcher, ada, doc, monkeypatch):
    """The first registration opens the channel; others arriving meanwhile use the same one."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()

    class SlowLayer:
        def __getattr__(self, name):
            return getattr(layer, name)

        async def new_channel(self):
            await asyncio.sleep(0.05)
            return await layer.new_channel()

    monkeypatch.setattr("editor.realtime.bus.get_channel_layer", SlowLayer)
    sockets = [FakeSocket(user=ada, document_id=doc.pk, session_key="k") for _ in range(3)]
    names = await asyncio.gather(*(watcher.register(s) for s in sockets))
    assert watcher.channel and all(name.startswith(watcher.channel + "#") for name in names)
    assert len(set(names)) == 3 and len(watcher) == 3 and watcher.users_listened_for == {ada.pk}


async def test_a_users_group_is_joined_again_before_the_layer_drops_it(watcher, ada, doc, monkeypatch):
    """Channel layers expire group members; a socket open longer still hears sign-outs."""
    from channels.layers import InMemoryChannelLayer

    from editor.realtime import bus

    clock = Clock()
    monkeypatch.setattr("channels.layers.time", clock)  # the layer's clock, for its expiry
    layer = InMemoryChannelLayer(group_expiry=60)
    monkeypatch.setattr("editor.realtime.bus.get_channel_layer", lambda: layer)
    monkeypatch.setattr(bus, "GROUP_REFRESH_SECONDS", 0.01)
    key = session_of(ada)
    socket = FakeSocket(user=ada, document_id=doc.pk, session_key=key)
    await watcher.register(socket)
    clock.advance(3600)  # an hour: well past the expiry of the first join

    async def told() -> bool:  # each notice is dropped until the group was joined again
        await layer.group_send(user_group(ada.pk), {"type": "user.signed_out", "user_id": ada.pk, "session_key": key})
        await asyncio.sleep(0.02)
        return bool(socket.closed)

    await eventually_async(told)
    assert socket.closed == "signed out"
