"""A hub's rounds: what each connection's frame holds, and its announcing and group commit
(no server; a database only where a test says so)."""

import asyncio
import json

from editor.realtime import bus, hub as hub_module, protocol
from editor.realtime.feed import Feed
from editor.realtime.hub import Hub
from editor.realtime.hubs import Hubs

from .waiting import Clock, eventually_async


def make_hub(*people, max_frame=1 << 20, hubs=None, **options):
    """A hub with one joined feed per (user id, client), at revision 0."""
    hub = Hub("doc", hubs=hubs, last_rev=0, **options)
    frames = {}
    for user_id, client in people:
        sent = frames.setdefault(client, [])

        async def send(frame, sent=sent):
            sent.append(frame)

        feed = Feed(document_id="doc", user_id=user_id, client=client, send=send, max_frame=max_frame)
        feed.last_sent = 0  # joined
        hub.add(feed)
    return hub, frames


def revision(rev, user_id, client, seq=1, ops=()):
    return protocol.op_message(rev=rev, client=client, seq=seq, user_id=user_id, user_name=f"u{user_id}", ops=list(ops))


def messages(frame):
    """A frame holds one message, or an array of them."""
    decoded = json.loads(frame)
    return decoded if isinstance(decoded, list) else [decoded]


def kinds(frame):
    return [(m["type"], m["rev"]) for m in messages(frame)]


async def test_a_round_is_one_frame_per_connection_with_acks_for_their_own():
    hub, frames = make_hub((1, "a"), (2, "b"), (3, "c"), (4, "d"))
    hub.order.hand_out(revision(1, 1, "a", ops=[{"pos": 0, "insert": "x"}]))
    hub.order.hand_out(revision(2, 2, "b", ops=[{"pos": 1, "insert": "y"}]))
    await hub.flush()
    assert [kinds(f) for f in frames["a"]] == [[("ack", 1), ("op", 2)]]
    assert [kinds(f) for f in frames["b"]] == [[("op", 1), ("ack", 2)]]
    assert [kinds(f) for f in frames["c"]] == [[("op", 1), ("op", 2)]]
    assert frames["c"] == frames["d"]  # the same frame for everyone owed just that
    assert json.loads(frames["c"][0])[1]["ops"] == [{"pos": 1, "insert": "y"}]
    assert all(feed.last_sent == 2 for feed in hub.feeds.values())
    await hub.flush()  # nothing new: nothing sent
    assert sum(map(len, frames.values())) == 4


async def test_a_feed_that_already_has_a_round_is_not_sent_it_again():
    """A connection that caught up past the round (from the history) gets nothing twice."""
    hub, frames = make_hub((1, "a"), (2, "b"), (3, "c"))
    ahead = next(f for f in hub.feeds.values() if f.client == "c")
    ahead.last_sent = 2
    hub.order.hand_out(revision(1, 1, "a"))
    hub.order.hand_out(revision(2, 1, "a", seq=2))
    await hub.flush()
    assert [kinds(f) for f in frames["b"]] == [[("op", 1), ("op", 2)]]
    assert frames["c"] == [] and ahead.last_sent == 2


async def test_a_reply_follows_the_revisions_handed_out_before_it():
    hub, frames = make_hub((1, "a"), (2, "b"))
    hub.order.hand_out(revision(1, 2, "b"))
    feed_a = next(f for f in hub.feeds.values() if f.client == "a")
    await feed_a.reply({"type": "error", "code": "bad_op", "message": "no", "seq": 3})
    assert [[m["type"] for m in messages(f)] for f in frames["a"]] == [["op", "error"]]
    await hub.flush()
    assert len(frames["a"]) == 1  # revision 1 is not sent twice
    assert [kinds(f) for f in frames["b"]] == [[("ack", 1)]]


async def test_a_round_too_large_to_share_is_split_per_feed_under_the_frame_limit():
    hub, frames = make_hub((1, "a"), (2, "b"), max_frame=4096)
    for rev in range(1, 6):
        hub.order.hand_out(revision(rev, 1, "a", seq=rev, ops=[{"pos": 0, "insert": "z" * 1500}]))
    await hub.flush()
    assert all(len(f.encode()) <= 4096 for f in frames["b"])
    assert [rev for f in frames["b"] for _, rev in kinds(f)] == [1, 2, 3, 4, 5]
    assert [kind for f in frames["a"] for kind, _ in kinds(f)] == ["ack"] * 5


async def test_an_idle_hub_flushes_at_once_and_a_busy_one_once_per_tick():
    hub, frames = make_hub(*[(n, f"c{n}") for n in range(1, 51)])
    loop = asyncio.get_running_loop()
    hub.order.hand_out(revision(1, 1, "c1"))
    assert hub.rounds.due <= loop.time()  # at once: no tick to wait out
    await eventually_async(lambda: frames["c2"])
    hub.order.hand_out(revision(2, 1, "c1"))
    hub.order.hand_out(revision(3, 1, "c1"))
    assert hub.rounds.cost > 0  # what the first round took
    tick = min(hub_module.MAX_TICK_SECONDS, hub_module.FLUSH_SPACING * hub.rounds.cost)
    assert hub.rounds.due >= hub.rounds.last_flush + tick - 1e-9  # a tick after the last round
    await eventually_async(lambda: len(frames["c2"]) == 2)
    assert [kinds(f) for f in frames["c2"]][1] == [("op", 2), ("op", 3)]  # in one frame
    hub.close()


async def test_a_documents_group_is_joined_again_before_the_layer_drops_it(
    transactional_db, django_user_model, monkeypatch
):
    """Channel layers expire group members; a document open longer still hears other processes."""
    from channels.layers import InMemoryChannelLayer

    from editor.domain import services
    from editor.realtime import dbthread

    clock = Clock()
    monkeypatch.setattr("channels.layers.time", clock)  # the layer's clock, for its expiry
    layer = InMemoryChannelLayer(group_expiry=60)
    monkeypatch.setattr("editor.realtime.bus.get_channel_layer", lambda: layer)
    monkeypatch.setattr(bus, "GROUP_REFRESH_SECONDS", 0.01)
    owner = django_user_model.objects.create_user(username="ada")
    doc = services.document_create(title="T", owner=owner)
    frames = []

    async def send(frame):
        frames.append(frame)

    hubs = Hubs()
    feed = Feed(document_id=doc.pk, user_id=owner.pk, client="a", send=send, max_frame=1 << 20)
    try:
        await hubs.attach(feed)
        feed.last_sent = 0
        clock.advance(3600)  # an hour: well past the expiry of the first join
        encoded = protocol.dumps({"type": "presence", "client": "b", "user": None, "rev": 0, "cursor": None})

        async def heard() -> bool:  # each try is dropped until the group was joined again
            await layer.group_send(
                bus.document_group(doc.pk),
                {"type": "presence", "document": doc.pk, "origin": "elsewhere", "encoded": encoded},
            )
            await asyncio.sleep(0.02)
            return bool(frames)

        await eventually_async(heard)
        assert set(frames) == {encoded}
    finally:
        await hubs.detach(feed)
        await hubs.stop()
        await asyncio.to_thread(dbthread.close)


async def test_announcing_to_other_processes_does_not_hold_up_the_next_commit():
    """publish returns before the channel layer has taken the revisions; batches that
    wait meanwhile go out in one announcement, in order."""
    from types import SimpleNamespace

    sent, gate = [], asyncio.Event()

    class SlowLayer:
        async def group_send(self, group, event):
            sent.append([m["rev"] for m in event["messages"]])
            await gate.wait()

    hub, frames = make_hub((1, "a"), (2, "b"), hubs=SimpleNamespace(alone=False, layer=SlowLayer(), channel="here"))
    hub.announcer.peers.add("there")  # another process serves the document
    for rev in (1, 2, 3):  # each returns though the layer has not taken the first
        await asyncio.wait_for(hub.publish([revision(rev, 1, "a", seq=rev)]), 30)
    await eventually_async(lambda: sent)
    assert sent == [[1]]  # still on its way; 2 and 3 wait for it
    gate.set()
    await eventually_async(lambda: sent == [[1], [2, 3]])
    await hub.flush()
    assert [rev for frame in frames["b"] for _, rev in kinds(frame)] == [1, 2, 3]
    hub.close()


async def test_revisions_are_announced_only_while_another_process_serves_the_document(monkeypatch):
    """A document open on one process costs the layer only a heads-up now and then; a
    process met later is told the last revision (it reads what it missed), then hears
    every one."""
    from types import SimpleNamespace

    monkeypatch.setattr(hub_module, "HEADS_UP_SECONDS", 0.2)
    announced, heads_ups, told = [], [], []

    class Layer:
        async def group_send(self, group, event):
            if event.get("peerless"):
                heads_ups.append(event["messages"])
            else:
                announced.append([m["rev"] for m in event["messages"]])

        async def send(self, channel, event):
            told.append((channel, event))

    hub, _ = make_hub((1, "a"), (2, "b"), hubs=SimpleNamespace(alone=False, layer=Layer(), channel="here"))
    await hub.publish([revision(1, 1, "a", seq=1)])
    await eventually_async(lambda: heads_ups)
    await hub.publish([revision(2, 1, "a", seq=2)])
    await hub.publish([revision(3, 1, "a", seq=3)])
    await asyncio.sleep(0.05)
    assert heads_ups == [[{"rev": 1, "missing": True}]]  # at most one per HEADS_UP_SECONDS...
    await eventually_async(lambda: len(heads_ups) == 2)
    assert heads_ups[1] == [{"rev": 3, "missing": True}]  # ...naming the last revision
    assert hub.meet("there") is True
    assert hub.meet("there") is False  # met once, and told once
    await eventually_async(lambda: told)
    assert told == [
        ("there", {"type": "revisions", "messages": [{"rev": 3, "missing": True}], "origin": "here", "document": "doc"})
    ]
    hub.meet("there", tell_head=True)  # it opened the document again: told again
    await eventually_async(lambda: len(told) == 2)
    await hub.publish([revision(4, 1, "a", seq=4)])
    await eventually_async(lambda: announced)
    hub.part("there")
    await hub.publish([revision(5, 1, "a", seq=5)])
    await asyncio.sleep(0.3)
    assert announced == [[4]]  # not 1-3 (alone then), not 5 (alone again: a heads-up instead)
    assert heads_ups[-1] == [{"rev": 5, "missing": True}]
    hub.close()


async def test_a_process_met_is_told_a_revision_committed_but_not_yet_handed_out():
    """A revision committed while a fill runs is handed out later; a process met
    meanwhile is told it all the same, since it was not announced."""
    from types import SimpleNamespace

    told = []

    class Layer:
        async def group_send(self, group, event):
            pass

        async def send(self, channel, event):
            told.append(event["messages"])

    hub, _ = make_hub((1, "a"), hubs=SimpleNamespace(alone=False, layer=Layer(), channel="here"))
    hub.announcer.revisions([revision(7, 1, "a", seq=7)])  # committed, not handed out yet
    assert hub.last_rev == 0
    hub.meet("there")
    await eventually_async(lambda: told)
    assert told == [[{"rev": 7, "missing": True}]]
    hub.close()


async def test_what_other_processes_say_about_a_document_tells_who_serves_it():
    """hub.open and a heads-up are answered hub.here; a leave (it follows the hub.close of
    a process whose last connection went) proves nothing; hub.close parts."""
    from types import SimpleNamespace

    told = []

    class Layer:
        async def group_send(self, group, event):
            pass

        async def send(self, channel, event):
            told.append((channel, event["type"]))

    layer = Layer()
    hub, _ = make_hub((1, "a"), hubs=SimpleNamespace(alone=False, layer=layer, channel="here"))
    registry = Hubs()
    registry.bus = SimpleNamespace(name="here", layer=layer)
    registry.hubs["doc"] = hub

    await registry._dispatch({"type": "leave", "origin": "gone", "document": "doc", "encoded": "{}"})
    assert hub.announcer.peers == set()
    await registry._dispatch({"type": "hub.open", "origin": "one", "document": "doc"})
    await registry._dispatch({"type": "hub.here", "origin": "two", "document": "doc"})
    assert hub.announcer.peers == {"one", "two"}
    await eventually_async(lambda: ("one", "hub.here") in told)
    assert ("two", "hub.here") not in told  # an answer is not answered
    told.clear()
    heads_up = {"type": "revisions", "origin": "two", "document": "doc", "peerless": True}
    await registry._dispatch({**heads_up, "messages": [{"rev": 0, "missing": True}]})
    await eventually_async(lambda: ("two", "hub.here") in told)  # it did not know of us
    await registry._dispatch({"type": "hub.close", "origin": "one", "document": "doc"})
    assert hub.announcer.peers == {"two"}
    hub.close()


async def test_groups_lost_by_the_layer_are_joined_again_at_once(monkeypatch):
    """A layer that forgets every group (Redis restarted empty) is noticed by the canary
    that no longer comes back: the groups are joined again and the owner is told."""
    from channels.layers import InMemoryChannelLayer

    monkeypatch.setattr(bus, "CANARY_SECONDS", 0.05)
    layer = InMemoryChannelLayer()
    channel = await layer.new_channel()
    rejoined = []
    keeper = bus.GroupKeeper(layer, channel, lambda: ["doc.x"], asyncio.Lock(), on_rejoin=lambda: rejoined.append(1))

    async def read():
        while True:
            event = await layer.receive(channel)
            if not keeper.heard(event):
                received.append(event)

    received = []
    tasks = [asyncio.create_task(keeper.run()), asyncio.create_task(read())]
    try:
        await eventually_async(lambda: keeper.canaries_heard >= 3)
        assert rejoined == []  # canaries come back: nothing to do
        layer.groups.clear()  # what a restart of Redis does to group memberships
        await eventually_async(lambda: rejoined)
        await layer.group_send("doc.x", {"type": "revisions"})
        await eventually_async(lambda: received)
        assert received == [{"type": "revisions"}]
    finally:
        for task in tasks:
            task.cancel()


async def test_senders_are_not_left_waiting_when_their_committed_ops_cannot_be_handed_out():
    """The database goes away after the commit, while a gap is filled: the senders get
    the failure (their sockets close with a server fault and they resend) instead of
    waiting for an ack forever; the next submission commits as usual."""
    from types import SimpleNamespace

    from editor.domain import services
    from editor.domain.errors import BadOp

    user = SimpleNamespace(pk=1, get_username=lambda: "u1")
    refused = BadOp("no", seq=2)

    def commit(submissions):
        return [services.Committed(revision=7, ops=[]), refused][: len(submissions)]

    async def history(**query):
        raise ConnectionError("the database went away")

    # The committed revision 7 lies past a gap (after 5) that must be read.
    hub, frames = make_hub((1, "a"), (2, "b"), hubs=SimpleNamespace(alone=True), commit=commit, history=history)
    hub.order.last_rev = 5
    first = asyncio.ensure_future(hub.commit(services.Submission(user=user, client="a", seq=1, base=5, ops=[])))
    second = asyncio.ensure_future(hub.commit(services.Submission(user=user, client="a", seq=2, base=5, ops=[])))
    done, _ = await asyncio.wait([first, second], timeout=5)
    assert len(done) == 2, "a sender was left waiting"
    assert isinstance(first.exception(), ConnectionError)
    assert second.result() is refused  # a refusal is still just a refusal
    assert not hub.busy and hub.order.check_pending  # the quiet check will catch up
    hub.close()
