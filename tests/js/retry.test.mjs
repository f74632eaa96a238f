// rate_limited is retryable, and a join says whether edits are pending.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { CollabClient } from "../../editor/static/editor/client.js";

/** A joined client on a clock the test moves, with its timers and what it sent. */
function joinedAt(rev, content) {
  const clock = { now: 1000 };
  const timers = [];
  const sent = [];
  const client = new CollabClient({
    clientId: "t",
    send: (m) => sent.push(m),
    minInterval: 0,
    now: () => clock.now,
    setTimer: (fn, ms) => timers.push({ fn, at: clock.now + ms, cancelled: false }) - 1,
    clearTimer: (id) => { timers[id].cancelled = true; },
  });
  client.opened();
  client.receive({ type: "snapshot", rev, content });
  client.receive({ type: "ready", rev, role: "editor" });
  return { client, clock, timers, sent };
}

describe("rate_limited", () => {
  test("a rate-limited op is kept and sent again with the same seq after retry_after", () => {
    const { client, clock, timers, sent } = joinedAt(3, "abc");
    client.submit([{ pos: 0, insert: "x" }]);
    client.submit([{ pos: 0, insert: "y" }]);
    client.receive({ type: "error", code: "rate_limited", message: "slow down", seq: 1, retry_after: 250 });
    assert.equal(client.text, "yxabc", "nothing of the person's text is lost");
    assert.equal(client.waiting, true);
    assert.equal(client.state, "awaiting ack with buffer");
    const live = timers.filter((t) => !t.cancelled);
    assert.equal(live.length, 1);
    assert.equal(live[0].at, 1250);
    assert.equal(sent.filter((m) => m.type === "op").length, 1, "nothing is resent before the delay");
    clock.now = live[0].at;
    live[0].fn();
    assert.equal(client.waiting, false);
    assert.deepEqual(sent.at(-1), { type: "op", seq: 1, base: 3, ops: [{ pos: 0, insert: "x" }] });
    client.receive({ type: "ack", seq: 1, rev: 4 });
    assert.deepEqual(sent.at(-1), { type: "op", seq: 2, base: 4, ops: [{ pos: 0, insert: "y" }] });
    client.receive({ type: "ack", seq: 2, rev: 5 });
    assert.equal(client.state, "synchronized");
    assert.equal(client.serverText, "yxabc");
  });

  test("without retry_after the op waits a second; a reconnection resends it at once", () => {
    const { client, timers, sent } = joinedAt(0, "");
    client.submit([{ pos: 0, insert: "a" }]);
    client.receive({ type: "error", code: "rate_limited", message: "slow down", seq: 1 });
    assert.equal(timers.filter((t) => !t.cancelled).at(-1).at, 2000);
    client.closed();
    assert.equal(client.waiting, false);
    assert.ok(timers.every((t) => t.cancelled));
    client.opened();
    client.receive({ type: "ready", rev: 0, role: "editor" });
    assert.deepEqual(sent.at(-1), { type: "op", seq: 1, base: 0, ops: [{ pos: 0, insert: "a" }] });
  });

  test("other errors still drop the op and re-join", () => {
    const { client, sent } = joinedAt(1, "a");
    client.submit([{ pos: 0, insert: "x" }]);
    client.receive({ type: "error", code: "too_large", message: "no", seq: 1 });
    assert.equal(client.text, "a");
    assert.deepEqual(sent.at(-1), { type: "join", client: "t", since: 1 });
  });
});

describe("join.pending", () => {
  test("a join while edits are unacknowledged says pending: true; one without says nothing", () => {
    const { client, sent } = joinedAt(2, "ab");
    assert.deepEqual(sent.filter((m) => m.type === "join").at(-1), { type: "join", client: "t", since: null });
    client.submit([{ pos: 0, insert: "x" }]);
    client.closed();
    client.opened();
    assert.deepEqual(sent.at(-1), { type: "join", client: "t", since: 2, pending: true });
  });
});
