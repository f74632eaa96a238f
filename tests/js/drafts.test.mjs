// Kept drafts are adopted only by the person who typed them.
import assert from "node:assert/strict";
import { test } from "node:test";

import { DraftStore } from "../../editor/static/editor/drafts.js";

/** Just enough of IndexedDB for DraftStore.claim: one store, read by its document index. */
function fakeDatabase(records) {
  const answer = (result) => {
    const req = { result };
    queueMicrotask(() => req.onsuccess());
    return req;
  };
  return {
    transaction: () => ({
      objectStore: () => ({
        index: () => ({ getAll: (documentId) => answer(records.filter((r) => r.document === documentId)) }),
      }),
    }),
  };
}

const LONG_AGO = Date.now() - 3_600_000; // abandoned: no tab refreshes it
const draft = (client, user) => ({
  document: "d1", client, user, seq: 1, rev: 1, base: "", outstanding: null, buffer: [{ pos: 0, insert: client }],
  saved: LONG_AGO, alive: LONG_AGO,
});

test("a tab adopts only the drafts of its own person, never one without a user", async () => {
  const records = [draft("legacy", undefined), draft("alices", "1"), draft("bobs", "2"), { ...draft("other-doc", "2"), document: "d2" }];
  const forBob = new DraftStore(fakeDatabase(records), "d1", "2", () => {});
  assert.equal((await forBob.claim()).client, "bobs");
  assert.equal(forBob.clientId, "bobs");
  clearInterval(forBob._heartbeat); // no Web Locks here: the adopting tab's heartbeat
  const forCarol = new DraftStore(fakeDatabase(records), "d1", "3", () => {});
  assert.equal(await forCarol.claim(), null);
  const withoutUser = new DraftStore(fakeDatabase(records), "d1", undefined, () => {});
  assert.equal(await withoutUser.claim(), null);
});
