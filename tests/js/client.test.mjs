// The browser client's state machine, run against a fake server through fake links.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import * as ot from "../../editor/static/editor/ot.js";
import { CollabClient, ProtocolViolation, moveCursor, splitOp } from "../../editor/static/editor/client.js";
import { Socket } from "../../editor/static/editor/socket.js";
import { FakeServer, connectedPair } from "./fake-server.mjs";

function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomEdit(rnd, text) {
  const size = ot.length(text);
  if (size > 0 && rnd() < 0.35) {
    const pos = Math.floor(rnd() * size);
    return [{ pos, delete: 1 + Math.floor(rnd() * Math.min(3, size - pos)) }];
  }
  const pieces = ["a", "b", "😀", "\n", "👍🏽", "é"];
  return [{ pos: Math.floor(rnd() * (size + 1)), insert: pieces[Math.floor(rnd() * pieces.length)] }];
}

/** A client joined to `server` with everything delivered. */
function joined(server, options) {
  const pair = connectedPair(server, options);
  pair.link.connect();
  pair.link.flush();
  return pair;
}

/** A client on a clock the test moves (`clock.now`), with its timers and what it sent. */
function clocked(options) {
  const clock = { now: 1000 };
  const timers = [];
  const sent = [];
  const client = new CollabClient({
    clientId: "t",
    send: (m) => sent.push(m),
    now: () => clock.now,
    setTimer: (fn, ms) => timers.push({ fn, at: clock.now + ms }),
    clearTimer: () => {},
    ...options,
  });
  return { client, clock, timers, sent };
}

describe("states", () => {
  test("a client goes from synchronized to awaiting ack to awaiting ack with buffer and back", () => {
    const server = new FakeServer("abc");
    const { client, link } = joined(server);
    assert.equal(client.state, "synchronized");
    assert.equal(client.text, "abc");
    client.submit([{ pos: 3, insert: "d" }]);
    assert.equal(client.state, "awaiting ack");
    assert.deepEqual(link.toServer, [{ type: "op", seq: 1, base: 0, ops: [{ pos: 3, insert: "d" }] }]);
    client.submit([{ pos: 4, insert: "e" }]);
    client.submit([{ pos: 0, delete: 1 }]);
    assert.equal(client.state, "awaiting ack with buffer");
    assert.equal(link.toServer.length, 1, "one op in flight at most");
    link.flush();
    assert.equal(client.state, "synchronized");
    assert.equal(server.text, "bcde");
    assert.deepEqual(
      server.history.map((e) => e.seq),
      [1, 2],
    );
    assert.equal(client.rev, 2);
  });

  test("an incoming op is transformed over the pending op and the server's insert wins the tie", () => {
    const server = new FakeServer("ab");
    const alice = joined(server, { clientId: "alice" });
    const bob = joined(server, { clientId: "bob" });
    const remote = [];
    bob.client._onRemote = (ops) => remote.push(ops);
    alice.client.submit([{ pos: 1, insert: "A" }]);
    bob.client.submit([{ pos: 1, insert: "B" }]);
    alice.link.flush(); // alice's op is committed first
    bob.link.flush();
    alice.link.flush();
    assert.equal(server.text, "aABb");
    assert.equal(alice.client.text, "aABb");
    assert.equal(bob.client.text, "aABb");
    assert.deepEqual(remote, [[{ pos: 1, insert: "A" }]]);
  });
});

describe("convergence", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    test(`three clients editing and moving their carets at random through interleaved links converge (seed ${seed})`, () => {
      const rnd = random(seed);
      const server = new FakeServer("hello 😀 world");
      const peers = ["a", "b", "c"].map((id) => joined(server, { clientId: id }));
      for (let step = 0; step < 400; step++) {
        const peer = peers[Math.floor(rnd() * peers.length)];
        const roll = rnd();
        if (roll < 0.35) {
          peer.client.submit(randomEdit(rnd, peer.client.text));
        } else if (roll < 0.4) {
          const size = ot.length(peer.client.text);
          const at = () => Math.floor(rnd() * (size + 1));
          peer.client.setCursor(rnd() < 0.1 ? null : { anchor: at(), head: at() });
        } else if (roll < 0.6 && peer.link.toServer.length) {
          server.handle(peer.link, peer.link.toServer.shift());
        } else if (roll < 0.97 && peer.link.toClient.length) {
          peer.client.receive(peer.link.toClient.shift());
        } else if (roll >= 0.97) {
          if (peer.link.up) peer.link.disconnect();
          else peer.link.connect();
        }
      }
      for (const peer of peers) if (!peer.link.up) peer.link.connect();
      for (let round = 0; round < 20; round++) for (const peer of peers) peer.link.flush();
      for (const peer of peers) {
        assert.equal(peer.client.state, "synchronized");
        assert.equal(peer.client.rev, server.rev);
        assert.equal(peer.client.text, server.text);
      }
      const keys = server.history.map((e) => `${e.client}/${e.seq}`);
      assert.equal(new Set(keys).size, keys.length, "no op applied twice");
      for (const peer of peers) {
        const { cursor, clientId } = peer.client;
        for (const other of peers) {
          if (other === peer) continue;
          const seen = other.client.peerCursors().find((c) => c.client === clientId);
          const where = seen ? { anchor: seen.anchor, head: seen.head } : null;
          assert.deepEqual(where, cursor, `${other.client.clientId} sees ${clientId}'s cursor where it is`);
        }
      }
    });
  }
});

describe("reconnection", () => {
  test("edits made offline are sent on reconnect and the in-flight op is resent with the same seq", () => {
    const server = new FakeServer("");
    const { client, link } = joined(server, { clientId: "tab" });
    client.submit([{ pos: 0, insert: "one " }]);
    server.handle(link, link.toServer.shift()); // committed, but the ack is lost
    link.disconnect();
    client.submit([{ pos: 4, insert: "two" }]);
    assert.equal(client.text, "one two");
    assert.equal(client.state, "awaiting ack with buffer");
    const offline = connectedPair(server, { clientId: "offline" });
    offline.client.restore({ rev: 0, base: "", seq: 0 });
    offline.client.submit([{ pos: 0, insert: "z" }]);
    assert.equal(offline.client.state, "buffered");
    link.connect();
    assert.deepEqual(link.toServer, [{ type: "join", client: "tab", since: 0, pending: true }]);
    link.flush();
    assert.equal(server.text, "one two");
    assert.deepEqual(
      server.history.map((e) => e.seq),
      [1, 2],
    );
    assert.equal(client.state, "synchronized");
    assert.equal(client.rev, 2);
  });

  test("a resent op the server already committed is acknowledged, not applied again", () => {
    const server = new FakeServer("x");
    const { client, link } = joined(server, { clientId: "tab" });
    client.submit([{ pos: 1, insert: "y" }]);
    const sent = [];
    link.toServer.forEach((m) => sent.push(m));
    link.flush();
    link.disconnect();
    // The op goes again on a new connection, as after a lost ack.
    link.connect();
    link.flush();
    server.handle(link, sent[0]);
    link.flush();
    assert.equal(server.text, "xy");
    assert.equal(server.history.length, 1);
    assert.equal(client.text, "xy");
  });

  test("a draft restored after a crash rebases over newer revisions and is resent with its seq", () => {
    const server = new FakeServer("base");
    const other = joined(server, { clientId: "other" });
    const crashed = joined(server, { clientId: "crashed" });
    crashed.client.submit([{ pos: 4, insert: "!" }]);
    const draft = {
      rev: crashed.client.rev,
      base: crashed.client.serverText,
      seq: crashed.client.seq,
      outstanding: crashed.client.outstanding,
      buffer: null,
    };
    crashed.link.disconnect(); // the tab dies before its op reaches the server
    other.client.submit([{ pos: 0, insert: "the " }]);
    other.link.flush();

    const revived = connectedPair(server, { clientId: "crashed" });
    revived.client.restore(draft);
    assert.equal(revived.client.text, "base!");
    revived.link.connect();
    revived.link.flush();
    other.link.flush();
    assert.equal(server.text, "the base!");
    assert.deepEqual(server.history.at(-1), { client: "crashed", seq: 1, ops: [{ pos: 8, insert: "!" }] });
    assert.equal(revived.client.text, "the base!");
    assert.equal(other.client.text, "the base!");
  });

  test("a restored draft whose op was committed before the crash is acknowledged during catch-up", () => {
    const server = new FakeServer("base");
    const crashed = joined(server, { clientId: "crashed" });
    crashed.client.submit([{ pos: 0, delete: 1 }]);
    const draft = {
      rev: 0,
      base: "base",
      seq: 1,
      outstanding: crashed.client.outstanding,
      buffer: [{ pos: 3, insert: "s" }],
    };
    crashed.link.flush(); // committed; the tab dies before it stores the ack
    const revived = connectedPair(server, { clientId: "crashed" });
    revived.client.restore(draft);
    revived.link.connect();
    revived.link.flush();
    assert.equal(server.text, "ases");
    assert.deepEqual(
      server.history.map((e) => e.seq),
      [1, 2],
    );
    assert.equal(revived.client.state, "synchronized");
  });
});

describe("edge cases", () => {
  test("a refused op is dropped with its buffer and the client re-joins from its revision", () => {
    const sent = [];
    const resets = [];
    const client = new CollabClient({ clientId: "t", send: (m) => sent.push(m), onReset: (t) => resets.push(t), minInterval: 0 });
    client.opened();
    client.receive({ type: "snapshot", rev: 3, content: "abc" });
    client.receive({ type: "ready", rev: 3, role: "editor" });
    client.submit([{ pos: 0, insert: "x" }]);
    client.submit([{ pos: 0, insert: "y" }]);
    client.receive({ type: "error", code: "too_large", message: "no", seq: 1 });
    assert.equal(client.text, "abc");
    assert.deepEqual(resets, ["abc", "abc"]); // the snapshot, then the reset
    assert.equal(client.state, "synchronized");
    assert.deepEqual(sent.at(-1), { type: "join", client: "t", since: 3 });
  });

  test("a revision gap is a protocol violation and stops the client", () => {
    const client = new CollabClient({ clientId: "t", send: () => {} });
    client.opened();
    client.receive({ type: "snapshot", rev: 1, content: "" });
    client.receive({ type: "ready", rev: 1, role: "editor" });
    assert.throws(
      () => client.receive({ type: "op", rev: 3, client: "o", seq: 1, user: {}, ops: [{ pos: 0, insert: "x" }] }),
      ProtocolViolation,
    );
    assert.throws(() => client.submit([{ pos: 0, insert: "x" }]), ProtocolViolation);
  });

  test("a snapshot in several parts is joined, and an empty op is a revision that changes nothing", () => {
    const client = new CollabClient({ clientId: "t", send: () => {} });
    client.opened();
    client.receive({ type: "snapshot", rev: 7, content: "😀 ab", more: true });
    client.receive({ type: "snapshot", rev: 7, content: "cd" });
    client.receive({ type: "ready", rev: 7, role: "viewer" });
    client.receive({ type: "op", rev: 8, client: "o", seq: 4, user: {}, ops: [] });
    assert.equal(client.text, "😀 abcd");
    assert.equal(client.rev, 8);
    assert.equal(client.role, "viewer");
  });

  test("op sends are spaced by the minimum interval and edits meanwhile are buffered", () => {
    const { client, clock, timers, sent } = clocked({ minInterval: 25 });
    client.opened();
    client.receive({ type: "snapshot", rev: 0, content: "" });
    client.receive({ type: "ready", rev: 0, role: "editor" });
    client.submit([{ pos: 0, insert: "a" }]);
    clock.now += 2;
    client.receive({ type: "ack", seq: 1, rev: 1 });
    client.submit([{ pos: 1, insert: "b" }]);
    client.submit([{ pos: 2, insert: "c" }]);
    assert.equal(sent.filter((m) => m.type === "op").length, 1, "the second op waits");
    assert.equal(timers.length, 1);
    clock.now = timers[0].at;
    timers[0].fn();
    const ops = sent.filter((m) => m.type === "op");
    assert.deepEqual(ops.at(-1), { type: "op", seq: 2, base: 1, ops: [{ pos: 1, insert: "bc" }] });
  });

  test("an edit larger than the server's limits leaves as several ops in order", () => {
    const server = new FakeServer("");
    const { client, link } = joined(server, { maxComponents: 2, maxInsert: 5 });
    link.disconnect();
    client.submit([{ pos: 0, insert: "0123456789abc" }]);
    client.submit([{ pos: 0, delete: 1 }]);
    client.submit([{ pos: 5, delete: 1 }]);
    client.submit([{ pos: 2, insert: "😀" }]);
    link.connect();
    link.flush();
    assert.equal(server.text, client.text);
    assert.equal(server.text, "12😀345789abc");
    for (const entry of server.history) {
      assert.ok(entry.ops.length <= 2);
      assert.ok(entry.ops.reduce((n, c) => n + ("insert" in c ? ot.length(c.insert) : 0), 0) <= 5);
    }
  });

  test("splitOp cuts between components and inside an insert", () => {
    const op = [{ pos: 0, insert: "😀bcdef" }, { pos: 1, delete: 2 }, { pos: 9, insert: "x" }];
    const [head, tail] = splitOp(op, { maxComponents: 100, maxInsert: 3 });
    assert.deepEqual(head, [{ pos: 0, insert: "😀bc" }]);
    assert.deepEqual(tail, [{ pos: 3, insert: "def" }, { pos: 1, delete: 2 }, { pos: 9, insert: "x" }]);
    assert.equal(ot.apply("0123456789", ot.compose(head, tail)), ot.apply("0123456789", op));
    assert.deepEqual(splitOp(op, { maxComponents: 100, maxInsert: 100 }), [op, null]);
  });
});

describe("cursors", () => {
  /** The cursors `client` shows for its peers, by peer client id. */
  function shown(client) {
    return Object.fromEntries(client.peerCursors().map((c) => [c.client, [c.anchor, c.head]]));
  }

  test("a cursor is sent when peers would see it elsewhere, with nothing pending, spaced out", () => {
    const { client, clock, timers, sent } = clocked({ minInterval: 0, presenceInterval: 200 });
    const presences = () => sent.filter((m) => m.type === "presence");
    const other = (rev, ops) => client.receive({ type: "op", rev, client: "o", seq: rev, user: { id: 2 }, ops });
    client.opened();
    client.receive({ type: "snapshot", rev: 3, content: "hello" });
    client.receive({ type: "ready", rev: 3, role: "editor" });
    assert.deepEqual(presences(), [], "no cursor yet, nothing to say");
    client.setCursor({ anchor: 5, head: 5 });
    assert.deepEqual(presences(), [{ type: "presence", rev: 3, cursor: { anchor: 5, head: 5 } }]);
    client.setCursor({ anchor: 5, head: 5 });
    assert.equal(presences().length, 1, "an unchanged cursor is not sent again");

    clock.now += 500;
    client.submit([{ pos: 5, insert: "!" }]);
    client.setCursor({ anchor: 6, head: 6 });
    client.receive({ type: "ack", seq: 1, rev: 4 });
    assert.equal(presences().length, 1, "typing moves it for the peers too: nothing to send");

    client.setCursor({ anchor: 0, head: 2 });
    assert.deepEqual(presences().at(-1), { type: "presence", rev: 4, cursor: { anchor: 0, head: 2 } });
    clock.now += 10;
    client.setCursor({ anchor: 1, head: 1 });
    assert.equal(presences().length, 2, "the next one waits out the interval");
    assert.equal(timers.length, 1);
    other(5, [{ pos: 0, insert: "¡" }]);
    clock.now = timers[0].at;
    timers[0].fn();
    assert.deepEqual(presences().at(-1), { type: "presence", rev: 5, cursor: { anchor: 2, head: 2 } }, "moved by the op");

    // A tie: the peers put another's insert before this tab's, which this tab saw after.
    clock.now += 500;
    client.submit([{ pos: 2, insert: "x" }]);
    client.setCursor({ anchor: 3, head: 3 });
    client.submit([{ pos: 3, insert: "z" }]);
    client.setCursor({ anchor: 4, head: 4 });
    assert.equal(presences().length, 3, "while an op is in flight, its positions would not be at rev");
    other(6, [{ pos: 2, insert: "y" }]);
    assert.equal(client.text, "¡hyxzello!");
    client.receive({ type: "ack", seq: 2, rev: 7 });
    assert.equal(presences().length, 3, "still pending: the buffer is in flight now");
    clock.now += 500;
    client.receive({ type: "ack", seq: 3, rev: 8 });
    assert.deepEqual(presences().at(-1), { type: "presence", rev: 8, cursor: { anchor: 5, head: 5 } });

    const before = presences().length;
    clock.now += 500;
    client.setCursor(null);
    assert.deepEqual(presences().at(-1), { type: "presence", rev: 8, cursor: null });
    client.closed();
    client.opened();
    client.receive({ type: "ready", rev: 8, role: "editor" });
    assert.equal(presences().length, before + 1, "a client joins without a cursor: nothing to send");
    client.setCursor({ anchor: 2, head: 2 });
    client.closed();
    client.opened();
    client.receive({ type: "ready", rev: 8, role: "editor" });
    assert.deepEqual(presences().slice(before + 1), [
      { type: "presence", rev: 8, cursor: { anchor: 2, head: 2 } },
      { type: "presence", rev: 8, cursor: { anchor: 2, head: 2 } },
    ], "sent again after re-joining, when the server announced it without one");
  });

  test("peers' cursors follow every revision: after their own inserts, before others'", () => {
    const server = new FakeServer("abcdef");
    const alice = joined(server, { clientId: "alice" });
    const bob = joined(server, { clientId: "bob" });
    const carol = joined(server, { clientId: "carol" });
    bob.client.setCursor({ anchor: 3, head: 3 });
    carol.client.setCursor({ anchor: 1, head: 4 });
    bob.link.flush();
    carol.link.flush();
    alice.link.flush();
    assert.deepEqual(shown(alice.client), { bob: [3, 3], carol: [1, 4] });

    alice.client.submit([{ pos: 3, insert: "XY" }]); // at bob's caret and inside carol's selection
    alice.link.flush();
    assert.deepEqual(shown(alice.client), { bob: [3, 3], carol: [1, 6] });
    bob.link.flush();
    bob.client.submit([{ pos: 3, insert: "b" }]); // bob types at his caret: it moves along
    bob.client.setCursor({ anchor: 4, head: 4 }); // as his page reports it
    bob.link.flush();
    alice.link.flush();
    assert.deepEqual(shown(alice.client), { bob: [4, 4], carol: [1, 7] });
    carol.link.flush();
    assert.deepEqual(shown(carol.client), { bob: [4, 4] });
    assert.equal(alice.client.text, "abcbXYdef");
    const sentByBob = server.presences.filter((m) => m.from === "bob").map((m) => m.cursor);
    assert.deepEqual(sentByBob, [{ anchor: 3, head: 3 }], "his typing sent no presence");
  });

  test("a cursor sent at an older revision is caught up, one from a newer revision waits", () => {
    const server = new FakeServer("0123456789");
    const alice = joined(server, { clientId: "alice" });
    const bob = joined(server, { clientId: "bob" });
    bob.client.submit([{ pos: 0, insert: "ab" }]);
    bob.link.flush(); // committed as revision 1: alice has not received it yet
    alice.client.setCursor({ anchor: 5, head: 5 });
    alice.link.toServer.splice(0).forEach((m) => server.handle(alice.link, m)); // sent at revision 0
    bob.link.flush();
    assert.deepEqual(shown(bob.client), { alice: [7, 7] }, "moved over revision 1");

    bob.client.setCursor({ anchor: 1, head: 1 });
    bob.link.flush(); // sent at revision 1, which alice has not received yet
    const toAlice = alice.link.toClient;
    const presence = toAlice.splice(toAlice.findIndex((m) => m.type === "presence"), 1)[0];
    alice.client.receive(presence);
    assert.deepEqual(shown(alice.client), {}, "not placed before its revision arrives");
    alice.link.flush();
    assert.deepEqual(shown(alice.client), { bob: [1, 1] });
  });

  test("peers' cursors are placed in the local text, pending edits included, and dropped when too old", () => {
    const server = new FakeServer("hello");
    const alice = joined(server, { clientId: "alice" });
    const bob = joined(server, { clientId: "bob" });
    bob.client.setCursor({ anchor: 4, head: 4 });
    bob.link.flush();
    alice.link.flush();
    alice.client.submit([{ pos: 0, insert: ">> " }]);
    assert.deepEqual(shown(alice.client), { bob: [7, 7] }, "shifted by alice's unacknowledged insert");
    alice.link.flush();
    assert.deepEqual(shown(alice.client), { bob: [7, 7] });

    // A large paste pushes the revisions before it out of what is kept.
    bob.link.flush();
    bob.client.submit([{ pos: 0, insert: "x".repeat(1_000_001) }]);
    bob.link.flush();
    alice.link.flush();
    const kept = alice.client._recent;
    assert.ok(kept[0].rev > 1 && kept.at(-1).rev === alice.client.rev, "revision 1 is gone, the last is kept");
    assert.ok(alice.client._recentInserted <= 1_000_000);
    const stale = { type: "presence", client: "bob", user: null, rev: 0, cursor: { anchor: 1, head: 1 } };
    alice.client.receive(stale);
    assert.deepEqual(shown(alice.client), {}, "a cursor it cannot move is not guessed");
    alice.client.receive({ type: "leave", client: "bob" });
    assert.equal(alice.client.peers.size, 0);
  });

  test("a peer's cursor remembers when its owner last moved it or typed, not when others did", () => {
    const server = new FakeServer("abcdef");
    let t = 0;
    const alice = joined(server, { clientId: "alice", now: () => t });
    const bob = joined(server, { clientId: "bob" });
    const carol = joined(server, { clientId: "carol" });
    const bobMoved = () => alice.client.peerCursors().find((c) => c.client === "bob")?.moved;
    t = 100;
    bob.client.setCursor({ anchor: 3, head: 3 });
    bob.link.flush();
    alice.link.flush();
    assert.equal(bobMoved(), 100);
    t = 200;
    carol.client.submit([{ pos: 0, insert: "c" }]);
    carol.link.flush();
    alice.link.flush();
    assert.equal(bobMoved(), 100, "moved along by carol's insert, not by bob");
    t = 300;
    bob.link.flush();
    bob.client.submit([{ pos: 4, insert: "b" }]);
    bob.link.flush();
    alice.link.flush();
    assert.equal(bobMoved(), 300);
  });

  test("moveCursor keeps a selection from growing and reverses with it", () => {
    const insertAt = (pos) => [{ pos, insert: "xx" }];
    assert.deepEqual(moveCursor({ anchor: 2, head: 5 }, insertAt(2), { byOwner: false }), { anchor: 4, head: 7 });
    assert.deepEqual(moveCursor({ anchor: 2, head: 5 }, insertAt(5), { byOwner: false }), { anchor: 2, head: 5 });
    assert.deepEqual(moveCursor({ anchor: 5, head: 2 }, insertAt(5), { byOwner: false }), { anchor: 5, head: 2 });
    assert.deepEqual(moveCursor({ anchor: 3, head: 3 }, insertAt(3), { byOwner: true }), { anchor: 5, head: 5 });
    assert.deepEqual(moveCursor({ anchor: 3, head: 3 }, [{ pos: 1, delete: 4 }], { byOwner: false }), { anchor: 1, head: 1 });
  });
});

describe("socket", () => {
  class FakeWebSocket {
    static made = [];
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      FakeWebSocket.made.push(this);
    }
    send(data) {
      this.sent.push(data);
    }
    close(code) {
      this.onclose?.({ code });
    }
    open() {
      this.readyState = 1;
      this.onopen?.();
    }
  }

  function socket(events) {
    FakeWebSocket.made = [];
    const timers = [];
    const s = new Socket("ws://x/", {
      WebSocketImpl: FakeWebSocket,
      random: () => 0.5,
      setTimer: (fn, ms) => timers.push({ fn, ms }),
      clearTimer: () => {},
      onOpen: () => events.push("open"),
      onMessages: (messages) => events.push(messages),
      onClose: (code, info) => events.push({ code, ...info }),
    });
    return { s, timers };
  }

  test("a frame holding an array is handed over as its messages, in order", () => {
    const events = [];
    const { s } = socket(events);
    s.start();
    FakeWebSocket.made[0].open();
    FakeWebSocket.made[0].onmessage({ data: '[{"type":"op","rev":1},{"type":"ack","seq":1,"rev":2}]' });
    FakeWebSocket.made[0].onmessage({ data: '{"type":"ready","rev":2}' });
    assert.deepEqual(events, [
      "open",
      [{ type: "op", rev: 1 }, { type: "ack", seq: 1, rev: 2 }],
      [{ type: "ready", rev: 2 }],
    ]);
  });

  test("reconnection waits grow exponentially with jitter, up to a ceiling", () => {
    const events = [];
    const { s, timers } = socket(events);
    s.start();
    for (let i = 0; i < 8; i++) {
      FakeWebSocket.made.at(-1).close(1006);
      timers.at(-1).fn();
    }
    assert.deepEqual(
      timers.map((t) => t.ms),
      [187.5, 375, 750, 1500, 3000, 6000, 7500, 7500],
    );
    s.resetBackoff();
    FakeWebSocket.made.at(-1).close(1011);
    assert.equal(timers.at(-1).ms, 187.5);
  });

  for (const code of [4401, 4403, 4404]) {
    test(`a ${code} close is final: no reconnection`, () => {
      const events = [];
      const { s, timers } = socket(events);
      s.start();
      FakeWebSocket.made[0].open();
      FakeWebSocket.made[0].close(code);
      assert.deepEqual(events.at(-1), { code, final: true, delay: null });
      assert.equal(timers.length, 0);
      assert.equal(s.finalCode, code);
      s.start();
      assert.equal(FakeWebSocket.made.length, 1);
    });
  }
});
