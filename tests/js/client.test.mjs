// The browser client's state machine, run against a fake server through fake links.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import * as ot from "../../editor/static/editor/ot.js";
import { CollabClient, ProtocolViolation, splitOp } from "../../editor/static/editor/client.js";
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
    test(`three clients editing at random through interleaved links converge (seed ${seed})`, () => {
      const rnd = random(seed);
      const server = new FakeServer("hello 😀 world");
      const peers = ["a", "b", "c"].map((id) => joined(server, { clientId: id }));
      for (let step = 0; step < 400; step++) {
        const peer = peers[Math.floor(rnd() * peers.length)];
        const roll = rnd();
        if (roll < 0.4) {
          peer.client.submit(randomEdit(rnd, peer.client.text));
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
    assert.deepEqual(link.toServer, [{ type: "join", client: "tab", since: 0 }]);
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
    let now = 1000;
    const timers = [];
    const sent = [];
    const client = new CollabClient({
      clientId: "t",
      send: (m) => sent.push(m),
      minInterval: 25,
      now: () => now,
      setTimer: (fn, ms) => timers.push({ fn, at: now + ms }),
      clearTimer: () => {},
    });
    client.opened();
    client.receive({ type: "snapshot", rev: 0, content: "" });
    client.receive({ type: "ready", rev: 0, role: "editor" });
    client.submit([{ pos: 0, insert: "a" }]);
    now += 2;
    client.receive({ type: "ack", seq: 1, rev: 1 });
    client.submit([{ pos: 1, insert: "b" }]);
    client.submit([{ pos: 2, insert: "c" }]);
    assert.equal(sent.filter((m) => m.type === "op").length, 1, "the second op waits");
    assert.equal(timers.length, 1);
    now = timers[0].at;
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
