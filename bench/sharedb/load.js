// The Node load generator: the same two workloads as bench.saturation and
// bench.typists, the same figures, against the ShareDB peer with ShareDB's own Node
// client, or against this project's server with collab.js (--protocol collab), so
// that both servers are measured by one generator.
//
//   node load.js saturation --url ws://127.0.0.1:PORT --server-pid PID [--clients 8] [--seconds 15]
//   node load.js typists --url ws://127.0.0.1:PORT --server-pid PID [--clients 50] [--seconds 20]
//   node load.js typists --protocol collab --setup FILE --server-pid PID [...]
//
// FILE (collab): {"clients": [{"url", "headers"}, ...], "documents": [{"url", "headers"}, ...],
// "full_clients": N}; client i types in document i % documents, and the first N keep
// the whole text (the others its length, as bench.typists' do).
//
// saturation: each client inserts a character, waits for its ack, inserts the next.
// typists: each client types a character every --interval seconds on a fixed
// schedule; ShareDB keeps one op in flight and composes what is typed meanwhile.
// Every keystroke inserts its own code point, so each arrival at another client is
// timed back to when it was typed. Prints one JSON object on stdout.
'use strict';
const fs = require('fs');
const WebSocket = require('ws');
const { option } = require('./args');
const collab = require('./collab');

const workload = process.argv[2];
const protocol = option('protocol', 'sharedb');
const setup = protocol === 'collab' ? JSON.parse(fs.readFileSync(option('setup'), 'utf8')) : null;
const url = option('url', setup && 'from --setup');
const serverPid = Number(option('server-pid'));
const clockTicks = Number(option('clock-ticks', 100));
const clientCount = Number(option('clients', workload === 'typists' ? 50 : 8));
const seconds = Number(option('seconds', workload === 'typists' ? 20 : 15));
const interval = Number(option('interval', 0.2));
const documents = setup ? setup.documents.length : Number(option('documents', 1));
const drainTimeout = Number(option('drain-timeout', 60));
// When the server and this generator are pinned: their cores, to tell what other
// programs on a shared machine took from them.
const cores = option('cores') ? option('cores').split(',').map(Number) : null;

// Keystroke k types a code point of its own: from U+4E00 up to the surrogates, then
// past the BMP; over a million keystrokes before one would repeat.
const BMP_SPAN = 0xd800 - 0x4e00;
const charFor = (k) => (k < BMP_SPAN ? 0x4e00 + k : 0x10000 + ((k - BMP_SPAN) % 0x100000));
const typedAt = new Map(); // code point -> when it was typed (ms)
const lastArrival = new Map(); // code point -> its latest arrival at another client
let keystrokes = 0;

const now = () => performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The server's user and system CPU time, all threads, in seconds.
function serverCpu() {
  const stat = fs.readFileSync(`/proc/${serverPid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / clockTicks, system: Number(fields[12]) / clockTicks };
}

// Voluntary and involuntary context switches of the server's threads now running,
// as bench.common.context_switches.
function serverSwitches() {
  const counts = { voluntary: 0, involuntary: 0 };
  for (const task of fs.readdirSync(`/proc/${serverPid}/task`)) {
    let status;
    try {
      status = fs.readFileSync(`/proc/${serverPid}/task/${task}/status`, 'utf8');
    } catch (error) {
      continue; // the thread ended meanwhile
    }
    for (const line of status.split('\n')) {
      const [name, value] = line.split(/:\s+/);
      if (name === 'voluntary_ctxt_switches') counts.voluntary += Number(value);
      else if (name === 'nonvoluntary_ctxt_switches') counts.involuntary += Number(value);
    }
  }
  return counts;
}

// Seconds a core has spent busy, as bench.common.core_busy.
function coreBusy(core) {
  const lines = fs.readFileSync('/proc/stat', 'utf8').split('\n');
  const line = lines.find((l) => l.startsWith(`cpu${core} `));
  const [user, nice, system, , , irq, softirq, steal] = line.split(/\s+/).slice(1, 9).map(Number);
  return (user + nice + system + irq + softirq + steal) / clockTicks;
}

function generatorCpuSeconds() {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

// Server and generator CPU over a stretch of wall time, as bench.common.CpuWindow.
function cpuWindow() {
  const busy = () => (cores ? cores.map(coreBusy) : []);
  const start = {
    wall: now(),
    server: serverCpu(),
    switches: serverSwitches(),
    generator: generatorCpuSeconds(),
    cores: busy(),
  };
  return () => {
    const wall = (now() - start.wall) / 1000;
    const cpu = serverCpu();
    const switches = serverSwitches();
    const user = cpu.user - start.server.user;
    const system = cpu.system - start.server.system;
    const server = user + system;
    const generator = generatorCpuSeconds() - start.generator;
    const figures = {
      seconds: round(wall, 3),
      server_cpu_seconds: round(server, 2),
      server_cpu_percent: round((100 * server) / wall, 1),
      server_user_cpu_percent: round((100 * user) / wall, 1),
      server_system_cpu_percent: round((100 * system) / wall, 1),
      server_voluntary_switches: switches.voluntary - start.switches.voluntary,
      server_involuntary_switches: switches.involuntary - start.switches.involuntary,
      generator_cpu_percent: round((100 * generator) / wall, 1),
    };
    if (cores) {
      const [serverCore, generatorCore] = busy().map((b, i) => b - start.cores[i]);
      const others = (spent) => round(Math.max(0, (100 * spent) / wall), 1);
      figures.others_on_server_core_percent = others(serverCore - server);
      figures.others_on_generator_core_percent = others(generatorCore - generator);
    }
    return figures;
  };
}

function round(x, digits) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

// p50/p95/p99/max (nearest rank), count and mean of samples in ms: bench.common.percentiles.
function percentiles(samples) {
  const ordered = Float64Array.from(samples).sort();
  const n = ordered.length;
  const summary = { count: n };
  for (const p of [50, 95, 99]) {
    const rank = Math.max(0, Math.min(n - 1, Math.ceil((p * n) / 100) - 1));
    summary[`p${p}`] = n ? round(ordered[rank], 2) : null;
  }
  summary.mean = n ? round(ordered.reduce((a, b) => a + b, 0) / n, 3) : null;
  summary.max = n ? round(ordered[n - 1], 2) : null;
  return summary;
}

let ShareDB = null; // ShareDB's client, loaded for the ShareDB peer only

function shareDB() {
  if (!ShareDB) {
    ShareDB = require('sharedb/lib/client');
    ShareDB.types.register(require('ot-text-unicode').type);
  }
  return ShareDB;
}

// A keystroke just typed: its code point, timed from now.
function keystroke() {
  const char = charFor(keystrokes++);
  const typed = now();
  typedAt.set(char, typed);
  return { char: String.fromCodePoint(char), typed };
}

// One arrival of someone else's keystrokes at a client.
function arrived(recorder, codePoints, at = now()) {
  for (const point of codePoints) {
    const typed = typedAt.get(point);
    if (typed !== undefined) {
      recorder.broadcast.push(at - typed);
      lastArrival.set(point, at);
    }
  }
}

// One browser tab on ShareDB: a connection, its document, and the text's length in
// code points (insert-only typing: tracked instead of counted on every keystroke).
class ShareDBClient {
  constructor(documentId, recorder) {
    const ShareDB = shareDB();
    this.socket = new WebSocket(url);
    this.connection = new ShareDB.Connection(this.socket);
    this.doc = this.connection.get('bench', documentId);
    this.recorder = recorder;
    this.length = 0;
    this.doc.on('op', (op, source) => {
      if (!source) this.received(op);
    });
  }

  subscribe() {
    return new Promise((resolve, reject) =>
      this.doc.subscribe((err) => {
        if (err) return reject(err);
        this.length = [...this.doc.data].length;
        resolve();
      }),
    );
  }

  get version() {
    return this.doc.version;
  }

  holds(head) {
    return this.doc.version === head.version && this.doc.data === head.data;
  }

  // Type one new code point at a random place; resolves when the op carrying it is acked.
  type() {
    const { char, typed } = keystroke();
    const pos = Math.floor(Math.random() * (this.length + 1));
    this.length += 1;
    return new Promise((resolve, reject) =>
      this.doc.submitOp([pos, char], (err) => {
        if (err) return reject(err);
        this.recorder.acked(now() - typed);
        resolve();
      }),
    );
  }

  received(op) {
    const points = [];
    for (const component of op) {
      if (typeof component !== 'string') continue; // a skip; this workload never deletes
      for (const char of component) {
        this.length += 1;
        points.push(char.codePointAt(0));
      }
    }
    arrived(this.recorder, points);
  }

  whenNothingPending() {
    return new Promise((resolve) => this.doc.whenNothingPending(resolve));
  }

  close() {
    this.connection.close();
  }
}

// One browser tab on this project's server (collab.js), with the same interface.
class CollabTab {
  constructor(index, recorder) {
    const { url: tabUrl, headers } = setup.clients[index];
    this.recorder = recorder;
    this.client = new collab.CollabClient({
      url: tabUrl,
      headers,
      full: index < (setup.full_clients || 0),
      onArrival: (points, at) => arrived(recorder, points, at),
    });
  }

  subscribe() {
    return this.client.subscribe();
  }

  get version() {
    return this.client.version;
  }

  holds(head) {
    return this.client.holds(head);
  }

  type() {
    const { char, typed } = keystroke();
    const pos = Math.floor(Math.random() * (this.client.length + 1));
    return this.client.type(pos, char).then((at) => this.recorder.acked(at - typed));
  }

  whenNothingPending() {
    return this.client.whenNothingPending();
  }

  close() {
    this.client.close();
  }
}

// Each document's revision and text as a fresh client sees them now.
async function fetchHeads() {
  if (setup) return Promise.all(setup.documents.map((d) => collab.fetchHead(d.url, d.headers)));
  const fresh = new ShareDBClient('doc-0', recorder());
  const heads = [];
  for (let i = 0; i < documents; i++) {
    const doc = fresh.connection.get('bench', `doc-${i}`);
    await new Promise((resolve, reject) => doc.fetch((err) => (err ? reject(err) : resolve())));
    heads.push({ version: doc.version, data: doc.data });
  }
  fresh.close();
  return heads;
}

// Wait until the server uses under 5 % of a core over half a second (joins, presence
// and whatever else connecting set off are done), as bench.common.Server.settle;
// gives up quietly after a minute.
async function settle() {
  const seconds = () => { const cpu = serverCpu(); return cpu.user + cpu.system; };
  const deadline = now() + 60000;
  while (now() < deadline) {
    const before = seconds();
    await sleep(500);
    if (seconds() - before < 0.025) return;
  }
}

// Why clients stopped, counted by reason, for the result's "stopped".
function stopped(failures) {
  const counts = {};
  for (const error of failures) {
    const reason = String(error && error.message ? error.message : error);
    counts[reason] = (counts[reason] || 0) + 1;
  }
  return counts;
}

function recorder() {
  return {
    ack: [], // keystroke -> the ack of the op carrying it
    broadcast: [], // keystroke -> its arrival at one other client
    ackedUntil: Infinity, // count acks up to this moment only
    ackedKeystrokes: 0,
    acked(ms) {
      this.ack.push(ms);
      if (now() <= this.ackedUntil) this.ackedKeystrokes += 1;
    },
  };
}

async function connectAll(rec) {
  const clients = Array.from({ length: clientCount },
    (_, i) => (setup ? new CollabTab(i, rec) : new ShareDBClient(`doc-${i % documents}`, rec)));
  await Promise.all(clients.map((c) => c.subscribe()));
  return clients;
}

// Wait until every client is acked and holds its document's latest version; compare
// each with a fresh fetch of that document. Gives up after drainTimeout seconds.
async function drain(clients) {
  const deadline = now() + drainTimeout * 1000;
  const acked = Promise.all(clients.map((c) => c.whenNothingPending()));
  await Promise.race([acked, sleep(drainTimeout * 1000)]);
  const heads = await fetchHeads();
  const head = (i) => heads[i % documents];
  const behind = () => clients.filter((c, i) => c.version !== head(i).version);
  while (behind().length && now() < deadline) await sleep(20);
  const diverged = clients.filter((c, i) => !c.holds(head(i)));
  return {
    heads: heads.map((d) => d.version),
    converged: diverged.length === 0,
    problem: diverged.length ? `${diverged.length} clients differ from the server's text` : null,
  };
}

async function saturation() {
  const rec = recorder();
  const clients = await connectAll(rec);
  await settle();
  const before = clients.slice(0, documents).map((c) => c.version);
  const window = cpuWindow();
  const end = now() + seconds * 1000;
  const failures = [];
  const hammer = async (client) => {
    let typed = 0;
    try {
      while (now() < end) {
        await client.type();
        typed += 1;
      }
    } catch (error) {
      failures.push(error); // this client stops; the drain reports what it holds
    }
    return typed;
  };
  const typed = await Promise.all(clients.map(hammer));
  const figures = window();
  const state = await drain(clients);
  clients.forEach((c) => c.close());
  // Every op carried one keystroke and was acked before its client typed again.
  const committed = state.heads.reduce((sum, head, i) => sum + head - before[i], 0);
  return {
    keystrokes: typed.reduce((a, b) => a + b, 0),
    committed_ops: committed,
    committed_ops_per_second: round(committed / figures.seconds, 1),
    server_cpu_ms_per_op:
      committed ? round((1000 * figures.server_cpu_seconds) / committed, 3) : null,
    round_trip_ms: percentiles(rec.ack),
    broadcast_ms: percentiles(rec.broadcast),
    window: figures,
    converged: state.converged && failures.length === 0,
    problem: failures.length ? `${failures.length} clients stopped` : state.problem,
    errors: failures.length,
    stopped: stopped(failures),
  };
}

async function typists() {
  const rec = recorder();
  const clients = await connectAll(rec);
  await settle();
  const start = now() + 50;
  const end = start + seconds * 1000;
  const window = cpuWindow();
  const lags = [];
  const failures = [];
  const typist = async (client) => {
    let due = start + Math.random() * interval * 1000;
    const pending = [];
    while (due < end) {
      const delay = due - now();
      if (delay > 0) await sleep(delay);
      lags.push(Math.max(0, now() - due));
      pending.push(client.type().catch((error) => failures.push(error)));
      due += interval * 1000;
    }
    return Promise.all(pending);
  };
  const typing = clients.map(typist);
  await sleep(end - now());
  rec.ackedUntil = now();
  const figures = window();
  await Promise.race([Promise.all(typing), sleep(drainTimeout * 1000)]);
  const state = await drain(clients);
  clients.forEach((c) => c.close());
  const typed = lags.length;
  return {
    clients: clientCount,
    seconds: figures.seconds,
    keystrokes: typed,
    keystrokes_per_second: round(typed / figures.seconds, 1),
    committed_keystrokes_per_second: round(rec.ackedKeystrokes / figures.seconds, 1),
    ack_ms: percentiles(rec.ack),
    broadcast_ms: percentiles(rec.broadcast),
    // keystroke -> its arrival at the last of the other clients
    broadcast_last_peer_ms: percentiles([...lastArrival].map(([c, at]) => at - typedAt.get(c))),
    receipts: { expected: typed * (clientCount - 1), delivered: rec.broadcast.length },
    generator_lag_ms: percentiles(lags),
    typing: figures,
    converged: state.converged && failures.length === 0,
    problem: failures.length ? `${failures.length} keystrokes never acked` : state.problem,
    errors: failures.length,
    stopped: stopped(failures),
  };
}

const workloads = { saturation, typists };
if (!workloads[workload] || !url || !serverPid) {
  console.error('usage: node load.js saturation|typists (--url WS_URL | --protocol collab --setup FILE)'
    + ' --server-pid PID [--clients N] [--seconds S] [--interval S] [--documents N] [--cores S,G]');
  process.exit(2);
}
workloads[workload]().then(
  (result) => {
    console.log(JSON.stringify(result));
    process.exit(0);
  },
  (err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exit(1);
  },
);
