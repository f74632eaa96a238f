/**
 * The editing state machine of one browser tab, version 1 of the wire protocol.
 *
 * It mirrors editor/client/editing.py and has no DOM and no socket: the page feeds it server
 * messages (`receive`), tells it when the connection opens and closes, and gives it a
 * `send(message)` function. Three states, as in ot.js:
 *
 *   synchronized               nothing in flight
 *   awaiting ack               one op in flight (`outstanding`)
 *   awaiting ack with buffer   one op in flight, later local edits composed (`buffer`)
 *
 * and a transient fourth, "buffered": edits with nothing in flight, while disconnected
 * or while the next send waits out the spacing between ops.
 *
 * Every op from the server is transformed against the outstanding op and then the
 * buffer before it is applied locally; the server's op is always the first argument
 * of ot.transform, so its inserts win ties exactly as they do on the server.
 *
 * Resolutions of edge cases follow editor/client/editing.py:
 *
 * - A person's edits are never dropped for being old. A snapshot that differs from the
 *   text the pending edits were made on is merged, not taken in their place: the
 *   difference (merge.js's line diff) is applied to the local text as a remote op and
 *   the edits, rebased over it, become the buffer, sent as a new op after `ready`. The
 *   op in flight is dropped when the snapshot's revision is not behind the client's (it
 *   may be inside it, and must not be applied twice); when it is behind (the server
 *   lost revisions) that op was not committed and is merged with the buffer. An
 *   identical snapshot keeps the pending edits as they are.
 * - An `error` on the outstanding op with code `bad_base` or `bad_op` recorded nothing:
 *   the op is composed with the buffer into one buffered edit, the local text stays as
 *   it is, and the client re-joins with `pending: true`, from its revision for
 *   `bad_base` (the server is behind it and answers with a snapshot to merge into), with
 *   `since: null` for `bad_op` (a fresh snapshot, in case its copy of the text is
 *   wrong). After two such re-applies with no ack in between, and after an `error` with
 *   any other code but `rate_limited`, the client drops the op and its buffer, resets
 *   to the last revision and re-joins from it. Until the `ready`, revisions it already
 *   holds are skipped. Anywhere else a revision other than rev + 1 is a
 *   ProtocolViolation.
 * - An `ack` of a seq that is not outstanding is ignored when its revision is one the
 *   client holds; when it is the next revision (an op given up on was committed after
 *   all) the client re-joins with `since: null` for a snapshot.
 * - An outstanding op transformed into nothing is not resent after a reconnection.
 * - A server `op` with `ops: []` is a revision that changes nothing.
 *
 * - `rate_limited` is retryable: the op stays outstanding and is sent again, same seq,
 *   after the error's `retry_after` ms (a second when it has none); `waiting` is true
 *   meanwhile, so the page can say so.
 * - A join says `pending: true` while edits are unacknowledged, so the server answers
 *   with revisions to rebase them over, not a snapshot to merge them into, as long as
 *   it has those revisions.
 *
 * Two additions, because an op refused as `too_large` is dropped with the user's edit
 * in it and a `rate_limited` one is delayed: op sends are spaced at least `minInterval`
 * ms apart (edits made meanwhile are buffered), so fast typing on a fast link stays
 * under the server's rate limit; and an op larger than the server's limits on
 * components or inserted text is sent in pieces.
 *
 * Cursors. Each peer's cursor is kept in the text at the revision it names and moved
 * through every later revision the way its owner's caret moves: along with its owner's
 * inserts, staying before others'. `peerCursors()` maps them onto the local text,
 * pending edits included. This tab's own cursor (`setCursor`) is moved the same way as
 * peers see it, so it is sent as `presence` only when it differs from that: after a
 * click or an arrow key, not while typing. It is sent only while nothing is pending,
 * when positions in the local text are positions in the text at `rev` as the protocol
 * requires, and at most every `presenceInterval` ms, so that with op sends it stays
 * under the rate limit the two share.
 */

import { rebase } from "./merge.js";
import * as ot from "./ot.js";

/** The server broke the protocol; the client stops, since going on could only diverge. */
export class ProtocolViolation extends Error {
  constructor(message) {
    super(message);
    this.name = "ProtocolViolation";
  }
}

const NOOP = () => {};

// How many revisions are kept to move a peer's cursor sent at an older revision, and
// how much inserted text they may hold in all (a few large pastes must not pin memory).
const RECENT_REVISIONS = 200;
const RECENT_INSERTED = 1_000_000;

// Refusals that say the client's idea of the server's text is wrong, not the edit: the
// edit is kept and merged into the text the re-join brings.
const REAPPLIED = new Set(["bad_base", "bad_op"]);
// How many refused ops are re-applied in a row, with no ack between them, before the
// client gives up on its edits: a server that refuses whatever it is sent must not
// keep the client re-joining forever.
const MAX_REAPPLIES = 2;

/** How many UTF-16 units `ops` insert. */
function inserted(ops) {
  let size = 0;
  for (const comp of ops) if ("insert" in comp) size += comp.insert.length;
  return size;
}

/** `cursor` as {anchor, head} of non-negative integers, or null. */
function cursorOf(cursor) {
  if (cursor === null || typeof cursor !== "object") return null;
  const { anchor, head } = cursor;
  return Number.isInteger(anchor) && Number.isInteger(head) && anchor >= 0 && head >= 0 ? { anchor, head } : null;
}

/**
 * `cursor` moved through `ops`, as its owner's editor moves it: after what its owner
 * inserts at it (`byOwner`), and, for others' inserts, as the text box keeps a
 * selection: a caret stays before text inserted at it, a selection does not grow.
 */
export function moveCursor(cursor, ops, { byOwner }) {
  const { anchor, head } = cursor;
  if (byOwner) return { anchor: ot.transformIndex(anchor, ops), head: ot.transformIndex(head, ops) };
  const start = ot.transformIndex(Math.min(anchor, head), ops, { own: anchor === head });
  const end = ot.transformIndex(Math.max(anchor, head), ops, { own: true });
  return anchor <= head ? { anchor: start, head: end } : { anchor: end, head: start };
}

/**
 * Split `op` into [head, tail] so that head holds at most `maxComponents` components
 * and inserts at most `maxInsert` code points; tail (null when nothing is left) applies
 * after head. Components are sequential, so any cut between them is valid, and an
 * insert can be cut into two inserts one after the other.
 */
export function splitOp(op, { maxComponents, maxInsert }) {
  const head = [];
  let budget = maxInsert;
  let index = 0;
  for (; index < op.length && head.length < maxComponents; index++) {
    const comp = op[index];
    if (!("insert" in comp)) {
      head.push(comp);
      continue;
    }
    const size = ot.length(comp.insert);
    if (size <= budget) {
      head.push(comp);
      budget -= size;
      continue;
    }
    if (budget > 0) {
      const cut = ot.offset(comp.insert, budget);
      head.push({ pos: comp.pos, insert: comp.insert.slice(0, cut) });
      const rest = [{ pos: comp.pos + budget, insert: comp.insert.slice(cut) }, ...op.slice(index + 1)];
      return [head, rest];
    }
    break;
  }
  return [head, index < op.length ? op.slice(index) : null];
}

/** A random client id: 22 characters of [A-Za-z0-9_-]. */
export function newClientId() {
  const bytes = new Uint8Array(22);
  globalThis.crypto.getRandomValues(bytes);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  return Array.from(bytes, (b) => alphabet[b & 63]).join("");
}

export class CollabClient {
  /**
   * @param {object} options
   * @param {string} options.clientId  stable across this tab's reconnections
   * @param {(message: object) => void} options.send  sends one message, if connected
   * @param {(ops: object[]) => void} [options.onRemote]  apply ops to the local text
   * @param {(text: string) => void} [options.onReset]  replace the local text
   * @param {() => void} [options.onPending]  the pending edits (or seq) changed
   * @param {() => void} [options.onChange]  anything changed (after each message)
   * @param {number} [options.minInterval]  least ms between two op sends
   * @param {number} [options.maxComponents]  most components in one op sent
   * @param {number} [options.maxInsert]  most code points one op sent inserts
   * @param {number} [options.presenceInterval]  least ms between two presence sends
   */
  constructor({
    clientId,
    send,
    onRemote = NOOP,
    onReset = NOOP,
    onPending = NOOP,
    onChange = NOOP,
    minInterval = 25,
    maxComponents = 100,
    maxInsert = 100_000,
    presenceInterval = 200,
    now = () => Date.now(),
    setTimer = (fn, ms) => setTimeout(fn, ms),
    clearTimer = (id) => clearTimeout(id),
  }) {
    this.clientId = clientId;
    this.text = ""; // the local text, including edits not acknowledged yet
    this.rev = null; // the last revision held; null before the first snapshot
    this.serverText = ""; // the text at rev
    this.role = null;
    this.seq = 0; // the last seq used
    this.outstanding = null; // {seq, ops}: the op in flight
    this.buffer = null; // ops made since the outstanding op was sent
    this.peers = new Map(); // client id -> {client, user, rev, cursor, moved}, cursor in the text at rev
    this.cursor = null; // this tab's selection {anchor, head} in `text`, or null
    this.joined = false; // the last join on this connection was answered with ready
    this.connected = false;
    this.readies = 0;
    this.failure = null;
    this.errors = []; // every error message received
    this._send = send;
    this._onRemote = onRemote;
    this._onReset = onReset;
    this._onPending = onPending;
    this._onChange = onChange;
    this._minInterval = minInterval;
    this._limits = { maxComponents, maxInsert };
    this._now = now;
    this._setTimer = setTimer;
    this._clearTimer = clearTimer;
    this._lastOpSent = -Infinity;
    this._timer = null;
    this._presenceInterval = presenceInterval;
    this._shared = null; // {rev, cursor}: this tab's cursor as peers see it; null: none
    this._lastPresenceSent = -Infinity;
    this._presenceTimer = null;
    this._recent = []; // [{rev, ops, client}]: the last revisions, to move peers' cursors
    this._recentInserted = 0; // UTF-16 units the ops in _recent insert
    this._joining = false;
    this._replayOk = false;
    this._awaitingSnapshot = false;
    this._snapshotParts = [];
    this._snapshotRev = null;
    this._retryTimer = null;
    this.retryAt = null; // when a rate-limited op will be sent again, or null
    this._reapplies = 0; // refused ops re-applied since the last ack
  }

  /** An op refused as rate_limited waits to be sent again. */
  get waiting() {
    return this.retryAt !== null;
  }

  /** Local edits the server has not acknowledged: an op in flight or a buffer. */
  get pending() {
    return this.outstanding !== null || this.buffer !== null;
  }

  /** Joined, with nothing in flight and nothing buffered. */
  get synced() {
    return this.joined && !this.pending;
  }

  /** "synchronized", "awaiting ack", "awaiting ack with buffer", or "buffered". */
  get state() {
    if (this.outstanding === null) return this.buffer === null ? "synchronized" : "buffered";
    return this.buffer === null ? "awaiting ack" : "awaiting ack with buffer";
  }

  /**
   * Start from a kept draft instead of nothing: the text at `rev`, the edits pending on
   * top of it, and the last seq used. Call before the first connection.
   */
  restore({ rev, base, seq, outstanding = null, buffer = null }) {
    this.rev = rev;
    this.serverText = base;
    this.seq = seq;
    this.outstanding = outstanding;
    this.buffer = buffer;
    let text = base;
    if (outstanding) text = ot.apply(text, outstanding.ops);
    if (buffer) text = ot.apply(text, buffer);
    this.text = text;
  }

  // --- connection ---------------------------------------------------------------

  /** The connection opened: join from the last revision held. */
  opened() {
    this.connected = true;
    this.peers.clear();
    this._shared = null; // the server announces a joining client without a cursor
    this._lastPresenceSent = -Infinity; // a new connection has its own rate limit
    this._snapshotParts = [];
    this._join(this.rev, { replay: false });
  }

  /** The connection closed; edits keep accumulating in the buffer until the next one. */
  closed() {
    this.connected = false;
    this.joined = false;
    this._joining = false;
    this._cancelTimer();
    this._cancelPresenceTimer();
    this._cancelRetry();
    this._onChange();
  }

  // --- editing ------------------------------------------------------------------

  /** Apply a local edit made against `text` now, and send or buffer it. */
  submit(ops) {
    if (this.rev === null) throw new Error("the document has not been loaded yet");
    if (this.failure) throw this.failure;
    ops = ot.parse(ops);
    this.text = ot.apply(this.text, ops);
    const buffer = this.buffer ? ot.compose(this.buffer, ops) : ops;
    this.buffer = buffer.length ? buffer : null;
    this._flush();
    this._onPending();
    this._onChange();
  }

  /**
   * This tab's selection moved (by the person, not by remote edits, which every peer
   * applies to it alike): `cursor` is {anchor, head} in code points of `text`, or null.
   */
  setCursor(cursor) {
    this.cursor = cursorOf(cursor);
    this._flushPresence();
  }

  /**
   * Every peer's cursor that can be placed now, as {client, user, anchor, head, moved}:
   * positions in `text`, and when (by `now()`) the peer last moved it or typed.
   */
  peerCursors() {
    const size = ot.length(this.text);
    const placed = [];
    for (const peer of this.peers.values()) {
      if (peer.cursor === null || peer.rev !== this.rev) continue;
      let cursor = peer.cursor;
      // The local edits the server has not seen yet come after every committed revision.
      if (this.outstanding !== null) cursor = moveCursor(cursor, this.outstanding.ops, { byOwner: false });
      if (this.buffer !== null) cursor = moveCursor(cursor, this.buffer, { byOwner: false });
      placed.push({
        client: peer.client,
        user: peer.user,
        anchor: Math.min(cursor.anchor, size),
        head: Math.min(cursor.head, size),
        moved: peer.moved,
      });
    }
    return placed;
  }

  // --- server messages ----------------------------------------------------------

  /** Handle one server message; throws ProtocolViolation when the server broke the protocol. */
  receive(message) {
    if (this.failure) return;
    const kind = message && typeof message === "object" ? message.type : undefined;
    const handler = typeof kind === "string" && Object.hasOwn(HANDLERS, kind) ? HANDLERS[kind] : null;
    if (handler === null) return; // unknown types are ignored, for servers newer than this client
    try {
      handler.call(this, message);
    } catch (err) {
      const violation =
        err instanceof ProtocolViolation
          ? err
          : new ProtocolViolation(`bad ${kind} message ${JSON.stringify(message).slice(0, 200)}: ${err}`);
      this.failure = violation;
      this._cancelTimer();
      throw violation;
    } finally {
      this._onChange();
    }
  }

  _acceptRev(rev) {
    if (!Number.isInteger(rev)) throw new ProtocolViolation(`revision ${rev} is not an integer`);
    if (this._awaitingSnapshot) return false;
    if (this.rev === null) throw new ProtocolViolation(`revision ${rev} arrived before any snapshot`);
    if (rev === this.rev + 1) return true;
    if (rev <= this.rev && this._joining && this._replayOk) return false;
    throw new ProtocolViolation(`revision gap: expected ${this.rev + 1}, got ${rev}`);
  }

  _onSnapshot(message) {
    const { rev, content } = message;
    if (typeof content !== "string" || !Number.isInteger(rev)) {
      throw new TypeError("snapshot needs an integer rev and a string content");
    }
    if (this._snapshotParts.length > 0 && rev !== this._snapshotRev) {
      throw new ProtocolViolation(`snapshot parts of revisions ${this._snapshotRev} and ${rev}`);
    }
    this._snapshotParts.push(content);
    this._snapshotRev = rev;
    if (message.more) return;
    const text = this._snapshotParts.join("");
    this._snapshotParts = [];
    const merged = this.pending && (rev !== this.rev || text !== this.serverText);
    if (merged) this._merge(rev, text);
    if (rev !== this.rev || text !== this.serverText) {
      this._recent = [];
      this._recentInserted = 0;
    }
    this.rev = rev;
    this.serverText = text;
    this._awaitingSnapshot = false;
    // Only now: a kept draft must hold the rebased edits with the text they apply to.
    if (merged) this._onPending();
    for (const peer of this.peers.values()) {
      if (peer.rev !== null && peer.rev < rev) this._catchUp(peer);
    }
    if (!this.pending && this.text !== text) {
      this.text = text;
      this._onReset(text);
    }
  }

  /**
   * Keep the pending edits over a snapshot `text` at `rev` that differs from the text
   * they were made on: they become the buffer, rebased over the difference, which is
   * applied to the local text as a remote edit (the caret stays put).
   */
  _merge(rev, text) {
    let base = this.serverText;
    let mine = this.buffer ?? [];
    if (this.outstanding !== null && rev >= this.rev) {
      // The op in flight may be committed, and so inside the snapshot: it is dropped,
      // since an edit applied twice is worse than one lost; the buffer came after it.
      // Only a server that answers a pending join with a snapshot where the protocol
      // asks for revisions leads here (this project's answers one only from a `since`
      // ahead of its head, the branch below).
      console.warn(`snapshot ${rev} may hold op ${this.outstanding.seq}: it is not sent again`);
      base = ot.apply(base, this.outstanding.ops);
    } else if (this.outstanding !== null) {
      // The server is behind this client (it lost revisions): nothing of ours from
      // after its head was committed, the op in flight included.
      mine = ot.compose(this.outstanding.ops, mine);
    }
    const [theirs, rebased] = rebase(base, mine, text);
    this.outstanding = null;
    this.buffer = rebased.length ? rebased : null;
    this.text = ot.apply(this.text, theirs);
    if (this.cursor !== null && theirs.length) this.cursor = moveCursor(this.cursor, theirs, { byOwner: false });
    if (theirs.length) this._onRemote(theirs);
  }

  _onOp(message) {
    if (!this._acceptRev(message.rev)) return;
    const raw = message.ops;
    const committed = Array.isArray(raw) && raw.length === 0 ? [] : ot.parse(raw);
    let ops = committed;
    const serverText = ot.apply(this.serverText, ops);
    if (this.outstanding !== null) {
      const [theirs, mine] = ot.transform(ops, this.outstanding.ops);
      ops = theirs;
      this.outstanding = { seq: this.outstanding.seq, ops: mine };
    }
    if (this.buffer !== null) {
      const [theirs, mine] = ot.transform(ops, this.buffer);
      ops = theirs;
      this.buffer = mine.length ? mine : null;
    }
    this.text = ot.apply(this.text, ops);
    this.serverText = serverText;
    this.rev = message.rev;
    this._record({ rev: message.rev, ops: committed, client: message.client });
    if (this.cursor !== null && ops.length) this.cursor = moveCursor(this.cursor, ops, { byOwner: false });
    if (ops.length) this._onRemote(ops);
    this._flushPresence();
  }

  _onAck(message) {
    const { seq, rev } = message;
    if (this.outstanding === null || seq !== this.outstanding.seq) {
      if (this._awaitingSnapshot || (this.rev !== null && rev <= this.rev)) return; // a repeat
      if (this.rev !== null && rev === this.rev + 1 && Number.isInteger(seq) && seq >= 1 && seq <= this.seq) {
        console.warn(`op ${seq}, given up on, became revision ${rev}`);
        this.outstanding = this.buffer = null;
        this.text = this.serverText;
        this._onReset(this.text);
        this._onPending();
        this._join(null, { replay: true });
        return;
      }
      throw new ProtocolViolation(`ack of seq ${seq} at revision ${rev}: never sent`);
    }
    if (!this._acceptRev(rev)) return;
    this._reapplies = 0;
    this.serverText = ot.apply(this.serverText, this.outstanding.ops);
    this._record({ rev, ops: this.outstanding.ops, client: this.clientId });
    this.outstanding = null;
    this.rev = rev;
    if (this.joined) this._flush();
    this._flushPresence();
    this._onPending();
  }

  _onReady(message) {
    const rev = message.rev;
    if (this._awaitingSnapshot || rev !== this.rev) {
      throw new ProtocolViolation(`ready at revision ${rev} while the client holds ${this.rev}`);
    }
    this.role = message.role ?? null;
    this.joined = true;
    this._joining = false;
    this._replayOk = false;
    this.readies++;
    this._cancelRetry(); // the outstanding op is sent again now
    if (this.outstanding !== null) {
      if (this.outstanding.ops.length) {
        // The same seq: the server answers an op it already committed with its ack.
        this._sendOp(this.outstanding.seq, this.outstanding.ops);
      } else {
        this.outstanding = null;
        this._onPending();
      }
    }
    this._flush();
    this._flushPresence();
  }

  _onError(message) {
    this.errors.push(message);
    if (this.outstanding !== null && message.seq === this.outstanding.seq && message.code === "rate_limited") {
      // Retryable: nothing was recorded; the same op goes again after the delay.
      const delay = Number.isFinite(message.retry_after) && message.retry_after >= 0 ? message.retry_after : 1000;
      const { seq } = this.outstanding;
      this._cancelRetry();
      this.retryAt = this._now() + delay;
      this._retryTimer = this._setTimer(() => {
        this._retryTimer = null;
        this.retryAt = null;
        if (this.joined && this.outstanding !== null && this.outstanding.seq === seq) {
          this._sendOp(seq, this.outstanding.ops);
        }
        this._onChange();
      }, delay);
      this._onChange();
      return;
    }
    if (this.outstanding === null || message.seq !== this.outstanding.seq) return;
    if (REAPPLIED.has(message.code) && this._reapplies < MAX_REAPPLIES) {
      // Nothing was recorded. The edit is kept, against the text at rev, and the local
      // text stays as it is; the re-join brings the server's text to merge it into: the
      // revisions or a snapshot from rev (bad_base: the server is behind rev), or a
      // fresh snapshot (bad_op: this copy of the text may be wrong). It then leaves
      // as a new op, with a new seq.
      this._reapplies++;
      console.warn(`op ${this.outstanding.seq} refused (${message.code}): applying it again`, message);
      const mine = this.buffer ? ot.compose(this.outstanding.ops, this.buffer) : this.outstanding.ops;
      this.outstanding = null;
      this.buffer = mine.length ? mine : null;
      this._cancelTimer();
      this._onPending();
      this._join(message.code === "bad_base" ? this.rev : null, { replay: true });
      return;
    }
    if (REAPPLIED.has(message.code)) {
      console.warn(`op ${this.outstanding.seq} refused again after ${MAX_REAPPLIES} re-applies: local edits dropped`);
    }
    console.warn(`op ${this.outstanding.seq} refused`, message);
    this.outstanding = this.buffer = null;
    this._cancelTimer();
    this.text = this.serverText;
    this._onReset(this.text);
    this._onPending();
    this._join(this.rev, { replay: true });
  }

  _onPresence(message) {
    if (typeof message.client !== "string" || message.client === this.clientId) return;
    const rev = Number.isInteger(message.rev) ? message.rev : null;
    const peer = { client: message.client, user: message.user ?? null, rev, cursor: cursorOf(message.cursor), moved: this._now() };
    if (peer.rev === null) peer.cursor = null;
    if (peer.cursor !== null && this.rev !== null && peer.rev < this.rev) this._catchUp(peer);
    // A peer ahead of this client waits here for the revisions it has already seen.
    this.peers.set(message.client, peer);
  }

  /** Move `peer`'s cursor from its revision to this client's, or drop it if too old. */
  _catchUp(peer) {
    const first = this._recent.length ? this._recent[0].rev : this.rev + 1;
    if (peer.cursor === null || peer.rev + 1 < first) {
      peer.cursor = null;
      peer.rev = this.rev;
      return;
    }
    for (const entry of this._recent) {
      if (entry.rev > peer.rev) this._advance(peer, entry);
    }
  }

  /** Keep a committed revision, and move the cursors standing just before it. */
  _record(entry) {
    this._recent.push(entry);
    this._recentInserted += inserted(entry.ops);
    while (
      this._recent.length > 1 &&
      (this._recent.length > RECENT_REVISIONS || this._recentInserted > RECENT_INSERTED)
    ) {
      this._recentInserted -= inserted(this._recent.shift().ops);
    }
    for (const peer of this.peers.values()) {
      if (peer.rev === entry.rev - 1) this._advance(peer, entry);
    }
    if (this._shared !== null && this._shared.rev === entry.rev - 1) {
      this._advance(this._shared, entry);
    }
  }

  _advance(peer, entry) {
    if (peer.cursor !== null && entry.ops.length) {
      const byOwner = entry.client === peer.client;
      peer.cursor = moveCursor(peer.cursor, entry.ops, { byOwner });
      if (byOwner) peer.moved = this._now();
    }
    peer.rev = entry.rev;
  }

  _onLeave(message) {
    this.peers.delete(message.client);
  }

  // --- sending --------------------------------------------------------------------

  _join(since, { replay }) {
    this.joined = false;
    this._joining = true;
    this._replayOk = replay;
    this._awaitingSnapshot = since === null && this.rev !== null;
    const join = { type: "join", client: this.clientId, since };
    if (this.pending) join.pending = true; // revisions to rebase over, not a snapshot
    this._send(join);
  }

  _sendOp(seq, ops) {
    this._lastOpSent = this._now();
    this._send({ type: "op", seq, base: this.rev, ops });
  }

  /** Send the buffer as the next op, if nothing is in flight and the spacing allows. */
  _flush() {
    if (!this.joined || this.outstanding !== null || this.buffer === null) return;
    const wait = this._lastOpSent + this._minInterval - this._now();
    if (wait > 0) {
      if (this._timer === null) {
        this._timer = this._setTimer(() => {
          this._timer = null;
          this._flush();
          this._onChange();
        }, wait);
      }
      return;
    }
    this._cancelTimer();
    // An edit larger than the server takes in one op (a big paste, or many scattered
    // edits made offline) leaves as several ops, one after the other.
    const [head, tail] = splitOp(this.buffer, this._limits);
    this.seq++;
    this.outstanding = { seq: this.seq, ops: head };
    this.buffer = tail;
    this._onPending();
    this._sendOp(this.outstanding.seq, this.outstanding.ops);
  }

  /** Whether peers see this tab's cursor elsewhere than it is. */
  _presenceDue() {
    const shared = this._shared;
    if (shared === null) return this.cursor !== null;
    if (shared.rev !== this.rev) return true;
    const [a, b] = [this.cursor, shared.cursor];
    return a === null || b === null ? a !== b : a.anchor !== b.anchor || a.head !== b.head;
  }

  /** Send this tab's cursor if peers see it elsewhere, nothing is pending and the spacing allows. */
  _flushPresence() {
    if (!this.joined || this.pending || !this._presenceDue()) return;
    const wait = this._lastPresenceSent + this._presenceInterval - this._now();
    if (wait > 0) {
      if (this._presenceTimer === null) {
        this._presenceTimer = this._setTimer(() => {
          this._presenceTimer = null;
          this._flushPresence();
        }, wait);
      }
      return;
    }
    this._cancelPresenceTimer();
    const size = ot.length(this.text);
    const cursor = this.cursor && { anchor: Math.min(this.cursor.anchor, size), head: Math.min(this.cursor.head, size) };
    this.cursor = cursor;
    this._shared = { client: this.clientId, rev: this.rev, cursor };
    this._lastPresenceSent = this._now();
    this._send({ type: "presence", rev: this.rev, cursor });
  }

  _cancelPresenceTimer() {
    if (this._presenceTimer !== null) {
      this._clearTimer(this._presenceTimer);
      this._presenceTimer = null;
    }
  }

  _cancelRetry() {
    if (this._retryTimer !== null) {
      this._clearTimer(this._retryTimer);
      this._retryTimer = null;
    }
    this.retryAt = null;
  }

  _cancelTimer() {
    if (this._timer !== null) {
      this._clearTimer(this._timer);
      this._timer = null;
    }
  }
}

const HANDLERS = {
  snapshot: CollabClient.prototype._onSnapshot,
  op: CollabClient.prototype._onOp,
  ack: CollabClient.prototype._onAck,
  ready: CollabClient.prototype._onReady,
  error: CollabClient.prototype._onError,
  presence: CollabClient.prototype._onPresence,
  leave: CollabClient.prototype._onLeave,
};
