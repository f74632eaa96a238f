// A person's edits survive an op refused for its base and a snapshot that replaces the
// text they were made on: they are merged into the server's text, never thrown away.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { CollabClient } from "../../editor/static/editor/client.js";
import * as ot from "../../editor/static/editor/ot.js";
import { FakeServer, connectedPair } from "./fake-server.mjs";

/** A client joined to `server` with everything delivered, recording what it tells the page. */
function joined(server, clientId) {
  const page = { remote: [], resets: [] };
  const pair = connectedPair(server, {
    clientId,
    onRemote: (ops) => page.remote.push(ops),
    onReset: (text) => page.resets.push(text),
  });
  pair.link.connect();
  pair.link.flush();
  page.resets.length = 0;
  return { ...pair, page };
}

/** The messages `link` sends, as the server will receive them, without delivering them. */
function sent(link) {
  return link.toServer.map((m) => ({ ...m }));
}

/** Deliver what is queued both ways, one message at a time, checking the local text never loses `kept`. */
function flushKeeping(link, kept) {
  while (link.toServer.length || link.toClient.length) {
    if (link.toServer.length) link.server.handle(link, link.toServer.shift());
    if (link.toClient.length) link.peer.receive(link.toClient.shift());
    for (const piece of kept) assert.ok(link.peer.text.includes(piece), `${JSON.stringify(link.peer.text)} lost ${piece}`);
  }
}

describe("an op refused for its base", () => {
  test("bad_base keeps the text, re-joins from the revision held, merges the snapshot and resends with a new seq", () => {
    const server = new FakeServer("one\ntwo\n");
    const other = joined(server, "other");
    const tab = joined(server, "tab");
    other.client.submit([{ pos: 8, insert: "three\n" }]);
    other.link.flush();
    tab.link.flush();
    assert.equal(tab.client.rev, 1);
    server.rollback(0); // restored from a backup older than what the tab holds
    other.link.disconnect();

    tab.client.setCursor({ anchor: 4, head: 4 });
    tab.link.flush();
    tab.client.submit([{ pos: 4, insert: "TWO " }]);
    const op = sent(tab.link).at(-1);
    assert.deepEqual(op, { type: "op", seq: 1, base: 1, ops: [{ pos: 4, insert: "TWO " }] });
    server.handle(tab.link, tab.link.toServer.shift());
    assert.deepEqual(tab.link.toClient.at(-1), { type: "error", code: "bad_base", message: "bad_base", seq: 1 });
    tab.client.receive(tab.link.toClient.shift());
    assert.equal(tab.client.text, "one\nTWO two\nthree\n", "no reset, no flicker");
    assert.deepEqual(tab.page.resets, []);
    assert.equal(tab.client.state, "buffered");
    assert.deepEqual(sent(tab.link), [{ type: "join", client: "tab", since: 1, pending: true }]);

    flushKeeping(tab.link, ["TWO "]);
    assert.equal(server.text, "one\nTWO two\n");
    assert.equal(tab.client.text, server.text);
    assert.deepEqual(tab.page.remote.at(-1), [{ pos: 12, delete: 6 }], "the lost line goes as a remote edit");
    assert.deepEqual(tab.client.cursor, { anchor: 4, head: 4 }, "the caret stays where it was");
    assert.deepEqual(server.history, [{ client: "tab", seq: 2, ops: [{ pos: 4, insert: "TWO " }] }]);
    assert.equal(tab.client.state, "synchronized");
    assert.equal(tab.client.rev, 1);
  });

  test("bad_op keeps the text and re-joins with since: null for a fresh snapshot to merge into", () => {
    const server = new FakeServer("a long first line\nshort\n");
    const tab = joined(server, "tab");
    tab.link.disconnect();
    tab.client.submit([{ pos: 23, insert: "!" }]); // after "short", offline
    // The server loses that history and takes other edits to the same revision number:
    // the tab's revision 0 is not the server's, and its op no longer fits.
    server.rollback(0);
    server.text = "short\n";
    server.initial = "short\n";
    tab.link.connect();
    assert.deepEqual(sent(tab.link), [{ type: "join", client: "tab", since: 0, pending: true }]);
    tab.link.flush();
    const errors = tab.client.errors.map((e) => e.code);
    assert.deepEqual(errors, ["bad_op"]);
    assert.deepEqual(tab.page.resets, [], "the text was never reset");
    assert.equal(server.text, "short!\n");
    assert.equal(tab.client.text, server.text);
    assert.deepEqual(server.history.map((e) => e.seq), [2], "resent with a new seq");
  });

  test("after two re-applies without an ack the third refusal drops the edit and resets, as other codes do", () => {
    const server = new FakeServer("abc");
    const tab = joined(server, "tab");
    server.refuse = () => "bad_base";
    tab.client.submit([{ pos: 3, insert: "d" }]);
    tab.link.flush();
    assert.deepEqual(tab.client.errors.map((e) => [e.code, e.seq]), [["bad_base", 1], ["bad_base", 2], ["bad_base", 3]]);
    assert.equal(tab.client.text, "abc");
    assert.deepEqual(tab.page.resets, ["abc"]);
    assert.equal(tab.client.state, "synchronized");

    server.refuse = null;
    tab.client.submit([{ pos: 0, insert: "x" }]);
    tab.link.flush();
    assert.equal(server.text, "xabc");
    server.refuse = (m) => (m.seq === 5 ? "bad_op" : null);
    tab.client.submit([{ pos: 4, insert: "y" }]);
    tab.link.flush();
    assert.equal(server.text, "xabcy", "an ack started the count over: one refusal is re-applied");
    assert.equal(tab.client.text, "xabcy");
  });

  test("an op refused as too_large is still dropped with its buffer", () => {
    const server = new FakeServer("abc");
    const tab = joined(server, "tab");
    server.refuse = () => "too_large";
    tab.client.submit([{ pos: 3, insert: "d" }]);
    tab.link.flush();
    assert.equal(tab.client.text, "abc");
    assert.deepEqual(tab.page.resets, ["abc"]);
    assert.equal(server.history.length, 0);
  });
});

describe("a snapshot while edits are pending", () => {
  /** A client at revision 3 of "one\ntwo\n", with one op in flight and one buffered. */
  function pending() {
    const out = [];
    const page = { remote: [], resets: [], drafts: [] };
    const client = new CollabClient({
      clientId: "t",
      send: (m) => out.push(m),
      onRemote: (ops) => page.remote.push(ops),
      onReset: (text) => page.resets.push(text),
      // What the page keeps as a draft must give the local text back when restored.
      onPending: () => {
        const draft = new CollabClient({ clientId: "t", send: () => {} });
        draft.restore({ rev: client.rev, base: client.serverText, seq: client.seq, outstanding: client.outstanding, buffer: client.buffer });
        page.drafts.push(draft.text === client.text);
      },
      minInterval: 0,
    });
    client.opened();
    client.receive({ type: "snapshot", rev: 3, content: "one\ntwo\n" });
    client.receive({ type: "ready", rev: 3, role: "editor" });
    client.submit([{ pos: 0, insert: "1: " }]); // in flight as seq 1
    client.submit([{ pos: 10, insert: "2" }]); // buffered: "1: one\ntwo2\n"
    client.closed();
    client.opened();
    page.resets.length = 0;
    return { client, out, page };
  }

  test("the op in flight is dropped when the snapshot is not behind (it may be inside), the buffer is merged", () => {
    const { client, out, page } = pending();
    // Revision 4 was seq 1; revision 5 someone else's line.
    client.receive({ type: "snapshot", rev: 5, content: "1: one\ntwo\nthree\n" });
    assert.equal(client.text, "1: one\ntwo2\nthree\n", "'1: ' once, '2' kept, the new line merged");
    assert.deepEqual(page.resets, []);
    assert.deepEqual(page.remote, [[{ pos: 12, insert: "three\n" }]]);
    assert.equal(client.state, "buffered");
    assert.ok(page.drafts.length > 0 && page.drafts.every(Boolean), "every draft kept matches the text");
    client.receive({ type: "ready", rev: 5, role: "editor" });
    assert.deepEqual(out.at(-1), { type: "op", seq: 2, base: 5, ops: [{ pos: 10, insert: "2" }] });
    client.receive({ type: "ack", seq: 2, rev: 6 });
    assert.equal(client.serverText, client.text);
    assert.equal(client.state, "synchronized");
  });

  test("a snapshot behind the client's revision (the server lost revisions) merges the op in flight and the buffer", () => {
    const { client, out, page } = pending();
    client.receive({ type: "snapshot", rev: 2, content: "one\n" });
    assert.equal(client.text, "1: one\n2", "the lost line goes, both edits stay");
    assert.deepEqual(page.resets, []);
    assert.ok(page.drafts.every(Boolean), "every draft kept matches the text");
    client.receive({ type: "ready", rev: 2, role: "editor" });
    assert.deepEqual(out.at(-1), { type: "op", seq: 2, base: 2, ops: [{ pos: 0, insert: "1: " }, { pos: 7, insert: "2" }] });
  });

  test("an identical snapshot keeps the op in flight, which is resent with its seq", () => {
    const { client, out } = pending();
    client.receive({ type: "snapshot", rev: 3, content: "one\ntwo\n" });
    client.receive({ type: "ready", rev: 3, role: "editor" });
    assert.deepEqual(out.at(-1), { type: "op", seq: 1, base: 3, ops: [{ pos: 0, insert: "1: " }] });
    assert.equal(client.text, "1: one\ntwo2\n");
  });

  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    test(`after servers restored from older backups, every edit the server did not acknowledge and lose is in the text all converge on (seed ${seed})`, () => {
      let state = seed;
      const rnd = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
      const server = new FakeServer("alpha\nbeta\ngamma\n");
      const peers = ["a", "b", "c"].map((id) => joined(server, id));
      const marks = [];
      const lost = new Set(); // marks in revisions the server lost
      for (let step = 0; step < 300; step++) {
        const peer = peers[Math.floor(rnd() * peers.length)];
        const roll = rnd();
        if (roll < 0.25) {
          // A line of its own at the start or the end, so that no delete cuts into it.
          const mark = `<${peer.client.clientId}${step}>`;
          marks.push(mark);
          peer.client.submit([{ pos: rnd() < 0.5 ? 0 : ot.length(peer.client.text), insert: `\n${mark}\n` }]);
        } else if (roll < 0.35) {
          const lines = peer.client.text.split("\n");
          const plain = lines.findIndex((l) => l.length > 0 && !l.includes("<"));
          if (plain >= 0) peer.client.submit([{ pos: ot.length(lines.slice(0, plain).join("\n")) + (plain ? 1 : 0), delete: 1 }]);
        } else if (roll < 0.6 && peer.link.toServer.length) {
          server.handle(peer.link, peer.link.toServer.shift());
        } else if (roll < 0.93 && peer.link.toClient.length) {
          peer.client.receive(peer.link.toClient.shift());
        } else if (roll < 0.97) {
          if (peer.link.up) peer.link.disconnect();
          else peer.link.connect();
        } else if (server.rev > 0) {
          // A restore restarts the server: every socket drops, and every tab re-joins
          // and reads the answer before anyone commits again (a tab away meanwhile
          // would come back holding a revision number that now names another text).
          const keep = Math.floor(rnd() * server.rev);
          for (const entry of server.history.slice(keep)) {
            for (const mark of marks) if (JSON.stringify(entry.ops).includes(mark)) lost.add(mark);
          }
          server.rollback(keep);
          for (const p of peers) {
            if (p.link.up) p.link.disconnect();
            p.link.connect();
            server.handle(p.link, p.link.toServer.shift());
          }
          for (const p of peers) while (p.link.toClient.length) p.client.receive(p.link.toClient.shift());
        }
      }
      for (const peer of peers) if (!peer.link.up) peer.link.connect();
      for (let round = 0; round < 20; round++) for (const peer of peers) peer.link.flush();
      for (const peer of peers) {
        assert.equal(peer.client.state, "synchronized");
        assert.equal(peer.client.text, server.text);
      }
      const keys = server.history.map((e) => `${e.client}/${e.seq}`);
      assert.equal(new Set(keys).size, keys.length, "no op applied twice");
      for (const mark of marks) {
        const count = server.text.split(mark).length - 1;
        assert.ok(count <= 1, `${mark} once at most`);
        if (!lost.has(mark)) assert.equal(count, 1, `${mark} kept`);
      }
      assert.ok(marks.length > 30 && lost.size > 0, "the scenario exercised restores");
    });
  }
});
