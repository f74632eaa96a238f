// The browser reads the same table of close codes as the server.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { closeMessage, isFinalClose } from "../../editor/static/editor/socket.js";

const CODES = JSON.parse(readFileSync(new URL("../../editor/static/editor/codes.json", import.meta.url), "utf8"));

test("the socket stops after exactly the close codes the table says not to reconnect after", () => {
  const closes = Object.entries(CODES.closes);
  assert.ok(closes.length >= 7);
  for (const [code, entry] of closes) {
    assert.equal(isFinalClose(Number(code)), !entry.reconnect, `close code ${code}`);
  }
});

test("every final close code has the table's message for the user", () => {
  for (const [code, entry] of Object.entries(CODES.closes)) {
    if (entry.reconnect) continue;
    assert.ok(entry.message.length > 10, `close code ${code} has a message`);
    assert.equal(closeMessage(CODES, Number(code)), entry.message);
  }
  assert.equal(closeMessage(CODES, 4404), "This document no longer exists.");
});

test("a final close code the table does not know is shown with its number", () => {
  assert.equal(closeMessage(CODES, 4499), "The server refused this connection (code 4499).");
});
