// A client of this project's wire protocol (docs/protocol.md) for the Node load
// generator, so that both servers of bench.versus are driven by the same runtime, the
// same WebSocket library and the same measuring code (load.js).
//
// Typing only inserts. A full client keeps the text and transforms as the protocol
// says (one op in flight, what is typed meanwhile composed into a buffer, the
// committed op first on a tie); a length-only client keeps the revision and the
// text's length, as bench.timed_client.LengthOnlyClient does: a position valid at an
// earlier revision stays valid while text only grows, so its ops need no transform.
'use strict';

// An insert-only op over a whole text: numbers retain that many code points, strings
// insert. Every op covers its base text, so two ops over one text can be transformed.
function cpLength(s) {
  let n = 0;
  for (let i = 0; i < s.length; i += 1, n += 1) {
    const unit = s.charCodeAt(i);
    if (unit >= 0xd800 && unit < 0xdc00) i += 1; // a surrogate pair is one code point
  }
  return n;
}
const cpSlice = (s, start, end) => Array.from(s).slice(start, end).join('');

function push(op, item) {
  const last = op.length - 1;
  if (typeof item === 'number') {
    if (item === 0) return;
    if (typeof op[last] === 'number') op[last] += item;
    else op.push(item);
  } else {
    if (item === '') return;
    if (typeof op[last] === 'string') op[last] += item;
    else op.push(item);
  }
}

const itemLength = (item) => (typeof item === 'number' ? item : cpLength(item));
const added = (op) => op.reduce((sum, item) => sum + (typeof item === 'string' ? cpLength(item) : 0), 0);

// The wire's components (each position in the text the ones before it left) as an op
// over a text of baseLength code points.
function fromComponents(components, baseLength) {
  let op = baseLength ? [baseLength] : [];
  for (const { pos, insert } of components) {
    if (typeof insert !== 'string') throw new Error('only inserts are followed');
    const next = [];
    let at = 0;
    let done = false;
    for (const item of op) {
      const size = itemLength(item);
      if (!done && pos <= at + size) {
        const cut = pos - at;
        if (typeof item === 'number') {
          push(next, cut);
          push(next, insert);
          push(next, size - cut);
        } else {
          push(next, cpSlice(item, 0, cut) + insert + cpSlice(item, cut));
        }
        done = true;
      } else {
        push(next, item);
      }
      at += size;
    }
    if (!done) {
      if (pos !== at) throw new Error(`insert at ${pos} past the end (${at})`);
      push(next, insert);
    }
    op = next;
  }
  return op;
}

function toComponents(op) {
  const components = [];
  let pos = 0;
  for (const item of op) {
    if (typeof item === 'string') components.push({ pos, insert: item });
    pos += itemLength(item);
  }
  return components;
}

// [a', b']: a over b and b over a, for concurrent a and b over one text; b is the
// one committed first, so at one position b's insert comes first.
function transform(a, b) {
  const a2 = [];
  const b2 = [];
  let i = 0;
  let j = 0;
  let x = a[0];
  let y = b[0];
  while (x !== undefined || y !== undefined) {
    if (typeof y === 'string') {
      push(a2, cpLength(y));
      push(b2, y);
      y = b[++j];
    } else if (typeof x === 'string') {
      push(a2, x);
      push(b2, cpLength(x));
      x = a[++i];
    } else if (x === undefined || y === undefined) {
      throw new Error('transform: the ops cover texts of different lengths');
    } else {
      const n = Math.min(x, y);
      push(a2, n);
      push(b2, n);
      x = x === n ? a[++i] : x - n;
      y = y === n ? b[++j] : y - n;
    }
  }
  return [a2, b2];
}

// a then b as one op (b over the text a leaves).
function compose(a, b) {
  const out = [];
  let i = 0;
  let x = a[0];
  for (const item of b) {
    if (typeof item === 'string') {
      push(out, item);
      continue;
    }
    let left = item;
    while (left > 0) {
      if (x === undefined) throw new Error('compose: b retains past the end of a');
      const size = itemLength(x);
      const n = Math.min(size, left);
      push(out, typeof x === 'number' ? n : cpSlice(x, 0, n));
      left -= n;
      if (n === size) x = a[++i];
      else x = typeof x === 'number' ? x - n : cpSlice(x, n);
    }
  }
  if (x !== undefined) throw new Error('compose: b ends before a does');
  return out;
}

function apply(chars, op) {
  let at = 0;
  for (const item of op) {
    if (typeof item === 'number') at += item;
    else {
      const inserted = Array.from(item);
      chars.splice(at, 0, ...inserted);
      at += inserted.length;
    }
  }
}

let nextClient = 0;
const now = () => performance.now();

// One browser tab on one document. onArrival(codePoints, at) is called with what each
// committed op of someone else inserted, as it arrives; a keystroke's promise resolves
// with when the ack of the op carrying it arrived.
class CollabClient {
  constructor({ url, headers, full, onArrival }) {
    this.url = url;
    this.headers = headers;
    this.full = full;
    this.onArrival = onArrival || (() => {});
    this.clientId = `node-${process.pid}-${nextClient++}`;
    this.rev = null; // the last revision held; null until the snapshot is whole
    this.ready = false;
    this.chars = []; // full: the local text, one code point each
    this.length = 0; // the local text's length
    this.seq = 0;
    this.inflight = null; // {seq, op | components, done: [[resolve, reject]]}
    this.buffer = null; // {op | components, done: [[resolve, reject]]}
    this.waiters = [];
    this.failure = null;
    this.retries = 0; // rate_limited answers, each followed by a resend
    this.send = (message) => this.socket.send(JSON.stringify(message));
  }

  get version() {
    return this.rev;
  }

  holds(head) {
    if (this.rev !== head.version) return false;
    return this.full ? this.chars.join('') === head.data : this.length === cpLength(head.data);
  }

  // Open the socket and join from scratch; resolves at `ready`.
  subscribe() {
    const WebSocket = require('ws'); // here, so the OT above loads without the packages
    return new Promise((resolve, reject) => {
      this.joined = { resolve, reject, snapshot: '' };
      this.socket = new WebSocket(this.url, { headers: this.headers, perMessageDeflate: false });
      this.socket.on('error', (error) => this.fail(error));
      this.socket.on('close', (code) => this.closing || this.fail(new Error(`closed by the server: ${code}`)));
      this.socket.on('open', () => this.send({ type: 'join', client: this.clientId, since: null }));
      this.socket.on('message', (data) => {
        const parsed = JSON.parse(data.toString());
        for (const message of Array.isArray(parsed) ? parsed : [parsed]) {
          if (this.failure) return;
          this.handle(message);
        }
      });
    });
  }

  fail(error) {
    if (this.failure) return;
    this.failure = error;
    if (!this.ready && this.joined) this.joined.reject(error);
    for (const pending of [this.inflight, this.buffer]) {
      if (pending) pending.done.forEach(([, reject]) => reject(error));
    }
    this.waiters.splice(0).forEach((wake) => wake());
  }

  // Type `char` at `pos` of the local text; resolves when the op carrying it is acked.
  type(pos, char) {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const done = [resolve, reject];
      let edit;
      if (this.full) {
        edit = [pos, char, this.length - pos].filter((item) => item !== 0);
        apply(this.chars, edit);
      } else {
        edit = [{ pos, insert: char }];
      }
      this.length += 1;
      if (!this.inflight) {
        this.inflight = { seq: ++this.seq, op: edit, done: [done] };
        this.submit();
      } else if (!this.buffer) {
        this.buffer = { op: edit, done: [done] };
      } else {
        this.buffer.op = this.full ? compose(this.buffer.op, edit) : this.buffer.op.concat(edit);
        this.buffer.done.push(done);
      }
    });
  }

  submit() {
    const { seq, op } = this.inflight;
    this.inflight.base = this.rev;
    this.send({ type: 'op', seq, base: this.rev, ops: this.full ? toComponents(op) : op });
  }

  handle(message) {
    const at = now();
    switch (message.type) {
      case 'snapshot': {
        if (this.ready) return this.fail(new Error('a snapshot after ready'));
        this.joined.snapshot += message.content;
        if (!message.more) {
          this.rev = message.rev;
          this.chars = this.full ? Array.from(this.joined.snapshot) : [];
          this.length = cpLength(this.joined.snapshot);
        }
        return undefined;
      }
      case 'ready':
        if (message.rev !== this.rev) return this.fail(new Error(`ready at ${message.rev}, holding ${this.rev}`));
        this.ready = true;
        this.joined.resolve();
        return undefined;
      case 'ack': {
        if (!this.inflight || message.seq !== this.inflight.seq) {
          return this.fail(new Error(`ack of seq ${message.seq}, none in flight with it`));
        }
        if (message.rev !== this.rev + 1) return this.fail(new Error(`ack at ${message.rev} after ${this.rev}`));
        this.rev = message.rev;
        const acked = this.inflight;
        this.inflight = null;
        if (this.buffer) {
          this.inflight = { seq: ++this.seq, op: this.buffer.op, done: this.buffer.done };
          this.buffer = null;
          this.submit();
        }
        acked.done.forEach(([resolve]) => resolve(at));
        break;
      }
      case 'op': {
        if (message.rev !== this.rev + 1) return this.fail(new Error(`revision ${message.rev} after ${this.rev}`));
        const arrived = [];
        for (const { insert } of message.ops) {
          if (typeof insert !== 'string') return this.fail(new Error('only inserts are followed'));
          for (const char of insert) arrived.push(char.codePointAt(0));
        }
        if (this.full) {
          const mine = (this.inflight ? added(this.inflight.op) : 0) + (this.buffer ? added(this.buffer.op) : 0);
          let theirs = fromComponents(message.ops, this.length - mine);
          if (this.inflight) [this.inflight.op, theirs] = transform(this.inflight.op, theirs);
          if (this.buffer) [this.buffer.op, theirs] = transform(this.buffer.op, theirs);
          apply(this.chars, theirs);
        }
        this.length += arrived.length;
        this.rev = message.rev;
        if (this.ready) this.onArrival(arrived, at);
        break;
      }
      case 'error':
        // Retryable: nothing was recorded; the same seq, base and ops go again later.
        if (message.code === 'rate_limited' && this.inflight && message.seq === this.inflight.seq) {
          this.retries += 1;
          const { seq, base, op } = this.inflight;
          const again = { type: 'op', seq, base, ops: this.full ? toComponents(op) : op };
          setTimeout(() => this.failure || this.send(again), message.retry_after ?? 1000);
          return undefined;
        }
        return this.fail(new Error(`error ${message.code}: ${message.message}`));
      default:
        return undefined; // presence, leave
    }
    this.waiters.splice(0).forEach((wake) => wake());
    return undefined;
  }

  // Resolves once nothing typed is waiting for an ack (or the client failed).
  whenNothingPending() {
    return new Promise((resolve) => {
      const check = () => {
        if (this.failure || (!this.inflight && !this.buffer)) resolve();
        else this.waiters.push(check);
      };
      check();
    });
  }

  close() {
    this.closing = true;
    if (this.socket) this.socket.terminate();
  }
}

// The document's text and revision as a fresh join sees them.
async function fetchHead(url, headers) {
  const fresh = new CollabClient({ url, headers, full: true });
  await fresh.subscribe();
  fresh.close();
  return { version: fresh.rev, data: fresh.chars.join('') };
}

module.exports = { CollabClient, fetchHead, fromComponents, toComponents, transform, compose, apply };
