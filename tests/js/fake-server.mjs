// A small in-memory server speaking protocol version 1, and a network whose messages
// the test delivers one at a time, in any order across links but in order on each.
import * as ot from "../../editor/static/editor/ot.js";
import { CollabClient } from "../../editor/static/editor/client.js";

/** The server's side: history, exactly-once by (client, seq), rebasing one revision at a time. */
export class FakeServer {
  constructor(text = "") {
    this.initial = text;
    this.text = text;
    this.refuse = null; // (message) => an error code to refuse an op with, or null
    this.history = []; // [{rev, client, seq, ops}], revision = index + 1
    this.links = new Set();
    this.presences = []; // every presence a client sent, in order, with `from`
    this.latest = new Map(); // client id -> its last presence as relayed
  }

  get rev() {
    return this.history.length;
  }

  handle(link, message) {
    if (message.type === "join") {
      link.client = message.client;
      link.joined = true;
      let since = message.since;
      if (since === null || since > this.rev) {
        link.deliver({ type: "snapshot", rev: this.rev, content: this.text });
        since = this.rev;
      }
      for (const entry of this.history.slice(since)) link.deliver(this.render(link, entry));
      link.deliver({ type: "ready", rev: this.rev, role: "editor" });
      // As the real server does: the others' presence to it, its arrival (no cursor) to them.
      for (const other of this.links) {
        if (other !== link && other.joined && this.latest.has(other.client)) link.deliver(this.latest.get(other.client));
      }
      this.relay(link, { type: "presence", rev: this.rev, cursor: null });
      return;
    }
    if (message.type === "presence") {
      this.presences.push({ from: link.client, ...message });
      this.relay(link, message);
      return;
    }
    if (message.type === "op") {
      const done = this.history.find((e) => e.client === link.client && e.seq === message.seq);
      if (done) {
        link.deliver({ type: "ack", seq: message.seq, rev: this.history.indexOf(done) + 1 });
        return;
      }
      // As the real server does: an error records nothing, and names the op's seq.
      const refused = (code) => link.deliver({ type: "error", code, message: code, seq: message.seq });
      const code = this.refuse?.(message) ?? null;
      if (code !== null) return refused(code);
      if (message.base > this.rev) return refused("bad_base");
      let ops = message.ops;
      let text;
      try {
        for (const entry of this.history.slice(message.base)) ops = ot.transform(entry.ops, ops)[1];
        text = ot.apply(this.text, ops);
      } catch (err) {
        if (err instanceof ot.OperationError) return refused("bad_op");
        throw err;
      }
      this.text = text;
      const entry = { client: link.client, seq: message.seq, ops };
      this.history.push(entry);
      for (const other of this.links) if (other.joined) other.deliver(this.render(other, entry));
    }
  }

  /** Lose every revision after `rev`, as a server restored from an older backup does. */
  rollback(rev) {
    this.history = this.history.slice(0, rev);
    this.text = this.history.reduce((text, entry) => ot.apply(text, entry.ops), this.initial);
  }

  relay(link, message) {
    const relayed = { ...message, client: link.client, user: { id: 1, name: link.client } };
    this.latest.set(link.client, relayed);
    for (const other of this.links) if (other !== link && other.joined) other.deliver(relayed);
  }

  left(link) {
    this.links.delete(link);
    this.latest.delete(link.client);
    for (const other of this.links) if (other.joined) other.deliver({ type: "leave", client: link.client });
  }

  render(link, entry) {
    const rev = this.history.indexOf(entry) + 1;
    if (entry.client === link.client) return { type: "ack", seq: entry.seq, rev };
    return { type: "op", rev, client: entry.client, seq: entry.seq, user: { id: 1, name: "x" }, ops: entry.ops };
  }
}

/** One client's connection: two queues the test drains message by message. */
export class Link {
  constructor(server, client) {
    this.server = server;
    this.client = null; // the client id, once joined
    this.peer = client;
    this.joined = false;
    this.up = false;
    this.toServer = [];
    this.toClient = [];
  }

  deliver(message) {
    this.toClient.push(JSON.parse(JSON.stringify(message)));
  }

  connect() {
    this.up = true;
    this.server.links.add(this);
    this.peer.opened();
  }

  /** Lose the connection with whatever was in flight either way. */
  disconnect() {
    this.up = false;
    this.joined = false;
    this.server.left(this);
    this.toServer = [];
    this.toClient = [];
    this.peer.closed();
  }

  /** Deliver everything queued, both ways, until both queues are empty. */
  flush() {
    while (this.toServer.length || this.toClient.length) {
      if (this.toServer.length) this.server.handle(this, this.toServer.shift());
      if (this.toClient.length) this.peer.receive(this.toClient.shift());
    }
  }
}

/** A client wired to `server` through a fresh link (not yet connected). */
export function connectedPair(server, options = {}) {
  let link;
  const client = new CollabClient({
    clientId: options.clientId ?? `c${Math.random().toString(36).slice(2, 10)}`,
    send: (message) => {
      if (link.up) link.toServer.push(JSON.parse(JSON.stringify(message)));
    },
    minInterval: 0,
    presenceInterval: 0,
    ...options,
  });
  link = new Link(server, client);
  return { client, link };
}
