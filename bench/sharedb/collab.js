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
const WebSocket = require('ws');

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

// One browser tab on one document. onArrival(codePoints) is called with what each
// committed op of someone else inserted, as it arrives.
class CollabClient {
  constructor({ url, headers, full, onArrival }) {
    this.url = url;
    this.headers = headers;
    this.full = full;
    this.onArrival = onArrival || (() => {});
    this.clientId = `node-${process.pid}-${nextClient++}`;
    this.rev = null;
    this.chars = []; // full: the local text, one code point each
    this.length = 0; // the local text's length
    this.seq = 0;
    this.inflight = null; // {seq, op | components, done: [resolve]}
    this.buffer = null; // {op | components, done: [resolve]}
    this.waiters = [];
    this.failure = null;
    this.errors = 0;
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
    return new Promise((resolve, reject) => {
      this.socket = new WebSocket(this.url, { headers: this.headers, perMessageDeflate: false });
      let snapshot = '';
      this.socket.on('error', reject);
      this.socket.on('close', (code) => this.fail(new Error(`closed by the server: ${code}`)));
      this.socket.on('open', () => this.send({ type: 'join', client: this.clientId, since: null }));
      this.socket.on('message', (data) => {
        const parsed = JSON.parse(data.toString());
        for (const message of Array.isArray(parsed) ? parsed : [parsed]) {
          if (this.rev === null) {
            if (message.type === 'snapshot') snapshot += message.content;
            else if (message.type === 'ready') {
              this.rev = message.rev;
              this.chars = this.full ? Array.from(snapshot) : [];
              this.length = cpLength(snapshot);
              resolve();
            } else if (message.type === 'error') reject(new Error(`join refused: ${message.code}`));
          } else {
            this.handle(message);
          }
        }
      });
    });
  }

  send(message) {
    this.socket.send(JSON.stringify(message));
  }

  fail(error) {
    if (this.failure) return;
    this.failure = error;
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
    this.send({ type: 'op', seq, base: this.rev, ops: this.full ? toComponents(op) : op });
  }

  handle(message) {
    switch (message.type) {
      case 'ack': {
        if (!this.inflight || message.seq !== this.inflight.seq) {
          this.fail(new Error(`ack of seq ${message.seq}, none in flight with it`));
          return;
        }
        this.rev = message.rev;
        const acked = this.inflight;
        this.inflight = null;
        if (this.buffer) {
          this.inflight = { seq: ++this.seq, op: this.buffer.op, done: this.buffer.done };
          this.buffer = null;
          this.submit();
        }
        acked.done.forEach(([resolve]) => resolve());
        break;
      }
      case 'op': {
        if (message.rev !== this.rev + 1) {
          this.fail(new Error(`revision ${message.rev} after ${this.rev}`));
          return;
        }
        const arrived = [];
        for (const { insert } of message.ops) {
          if (typeof insert !== 'string') {
            this.fail(new Error('only inserts are followed'));
            return;
          }
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
        this.onArrival(arrived);
        break;
      }
      case 'error':
        this.errors += 1;
        this.fail(new Error(`error ${message.code}: ${message.message}`));
        return;
      default:
        break; // presence, leave
    }
    this.waiters.splice(0).forEach((wake) => wake());
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
