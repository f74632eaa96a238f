/**
 * The editor page: wires the textarea, the state machine, the socket and the kept
 * drafts together, and shows the connection state.
 *
 * An op leaves for the server only after the draft holding it is stored, so an op the
 * server may have committed is always one a reloaded tab can resend with the same seq
 * and the same content (the server then answers with its ack instead of applying it).
 */

import { PeerCarets, MAX_DRAWN } from "./carets.js";
import { arrivals, assignColors } from "./people.js";
import { CollabClient, newClientId } from "./client.js";
import { DraftStore } from "./drafts.js";
import { Socket, closeMessage } from "./socket.js";
import { TextareaAdapter, diff, shown, toCodePoint, toUtf16 } from "./textarea.js";
import { UndoHistory } from "./undo.js";

/** Characters (code points, as the server counts them) and words (runs of non-space). */
export function textCounts(text) {
  const surrogatePairs = (text.match(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g) || []).length;
  const words = (text.match(/[^\s]+/gu) || []).length;
  return { characters: text.length - surrogatePairs, words };
}

function plural(n, word) {
  return `${n.toLocaleString("en")} ${word}${n === 1 ? "" : "s"}`;
}

async function start(root) {
  const documentId = root.dataset.documentId;
  // The table of error and close codes, as the server reads it (json_script data, not a script).
  const codes = JSON.parse(document.getElementById("codes").textContent);
  const textarea = root.querySelector("#text");
  const statusEl = root.querySelector("#status");
  const revisionEl = root.querySelector("#revision");
  const peersEl = root.querySelector("#peers");
  const roleEl = root.querySelector("#role");
  const noticeEl = root.querySelector("#notice");
  const countsEl = root.querySelector("#counts");
  const announcerEl = root.querySelector("#announcer");
  const me = { id: root.dataset.userId, name: root.dataset.userName };
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${location.host}/ws/documents/${encodeURIComponent(documentId)}/`;

  let stopped = null; // a message once the page has stopped syncing for good

  const drafts = await DraftStore.open(documentId, { user: root.dataset.userId, onStored: () => render() });
  const draft = await drafts.claim();
  const clientId = draft ? draft.client : newClientId();
  if (!draft) await drafts.own(clientId);

  // Messages leave in order, each after the drafts saved before it are stored.
  let outgoing = Promise.resolve();
  function send(message) {
    const generation = socket.generation;
    outgoing = outgoing
      .then(() => drafts.flushed())
      .then(() => {
        if (socket.generation === generation) socket.send(message);
      })
      .catch((err) => console.error("could not send", message.type, err)); // keep the chain going
  }

  // This person's own edits, to undo and redo; the stack outlives reconnections.
  const undos = new UndoHistory();

  // The selection as the person left it before the edit being typed (beforeinput
  // comes before the text box changes it), to put back when that edit is undone.
  let selectionBefore = null;
  function selection() {
    const value = textarea.value;
    return { start: toCodePoint(value, textarea.selectionStart), end: toCodePoint(value, textarea.selectionEnd) };
  }
  textarea.addEventListener("beforeinput", (event) => {
    if (!event.inputType.startsWith("history")) selectionBefore = selection();
  });

  const adapter = new TextareaAdapter(textarea, {
    onEdit: (ops) => {
      const before = client.text;
      undos.record(ops, before, selectionBefore); // first, so the page drawn after submit offers the undo
      selectionBefore = null;
      client.submit(ops);
    },
  });

  const client = new CollabClient({
    clientId,
    send,
    onRemote: (ops) => {
      undos.transform(ops);
      adapter.applyRemote(ops);
    },
    onReset: (text) => {
      // A whole new text (a snapshot after a long absence, or edits the server refused):
      // the steps move through the difference, as through anyone else's edit.
      const change = diff(adapter.value, shown(text), 0);
      undos.transform(change.ops);
      adapter.reset(text);
    },
    onPending: () => keepDraft(),
    onChange: () => render(),
    maxComponents: Number(root.dataset.maxComponents) || undefined,
    maxInsert: Number(root.dataset.maxInsert) || undefined,
  });

  // This tab's selection, whenever the person moves it (remote edits move it on every
  // peer alike, so they need no word); null while the box is not focused.
  function reportCursor() {
    if (adapter.composing || client.rev === null) return;
    if (document.activeElement !== textarea) {
      client.setCursor(null);
      return;
    }
    const { value, selectionStart, selectionEnd, selectionDirection } = textarea;
    const [start, end] = [toCodePoint(value, selectionStart), toCodePoint(value, selectionEnd)];
    const backward = selectionDirection === "backward";
    client.setCursor({ anchor: backward ? end : start, head: backward ? start : end });
  }
  for (const event of ["input", "keyup", "mouseup", "select", "focus", "blur"]) {
    textarea.addEventListener(event, reportCursor);
  }

  const carets = new PeerCarets(textarea, () => {
    const value = textarea.value;
    if (value.length > MAX_DRAWN) return { value, peers: [] };
    const peers = client.peerCursors().map((peer) => ({
      client: peer.client,
      name: peer.user?.name ?? "someone",
      color: colorOf(peer.user),
      anchor: toUtf16(value, peer.anchor),
      head: toUtf16(value, peer.head),
      moved: peer.moved,
    }));
    return { value, peers };
  });

  function keepDraft() {
    if (!client.pending) {
      drafts.save(null);
      return;
    }
    drafts.save({
      rev: client.rev,
      base: client.serverText,
      seq: client.seq,
      outstanding: client.outstanding,
      buffer: client.buffer,
    });
  }

  // Messages wait while an input method composes text: changing the value under it
  // would break the composition.
  let held = [];
  function deliver(messages) {
    if (adapter.composing) {
      held.push(...messages);
      return;
    }
    adapter.sync();
    const now = Date.now();
    for (const message of messages) {
      if (message?.type === "op" && typeof message.client === "string" && message.client !== clientId) {
        typingAt.set(message.client, now);
      }
    }
    for (const [id, at] of typingAt) if (now - at > 60_000) typingAt.delete(id);
    try {
      for (const message of messages) client.receive(message);
    } catch (err) {
      console.error(err);
      stop("Lost track of the document. Reload the page; edits not yet saved are kept in this browser.");
      return;
    }
    if (client.readies > 0) socket.resetBackoff();
  }
  textarea.addEventListener("compositionend", () => {
    const messages = held;
    held = [];
    if (messages.length) deliver(messages);
  });

  const socket = new Socket(url, {
    onOpen: () => client.opened(),
    onMessages: deliver,
    onClose: (code, { final }) => {
      client.closed();
      if (final) stop(closeMessage(codes, code));
    },
    onBadFrame: () => stop("The server sent something unreadable. Reload the page."),
  });

  // Undo and redo: of this person's own edits only, each an ordinary op.
  const undoButton = root.querySelector("#undo");
  const redoButton = root.querySelector("#redo");
  function undoRedo(which) {
    if (textarea.readOnly || textarea.disabled || adapter.composing || client.rev === null) return;
    adapter.sync(); // typing not yet seen becomes a step first
    const now = selection();
    const step = which === "undo" ? undos.undo(client.text, now) : undos.redo(client.text, now);
    if (step === null || step.op.length === 0) {
      render();
      return; // nothing to undo, or others already removed what the step would change
    }
    adapter.applyRemote(step.op);
    client.submit(step.op);
    if (step.selection) {
      const value = adapter.value;
      textarea.setSelectionRange(toUtf16(value, step.selection.start), toUtf16(value, step.selection.end));
    }
    reportCursor();
  }
  undoButton?.addEventListener("click", () => {
    undoRedo("undo");
    textarea.focus();
  });
  redoButton?.addEventListener("click", () => {
    undoRedo("redo");
    textarea.focus();
  });
  const MAC = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);
  textarea.addEventListener("keydown", (event) => {
    if (event.altKey || !(MAC ? event.metaKey : event.ctrlKey)) return;
    const key = event.key.toLowerCase();
    let which = null;
    if (key === "z") which = event.shiftKey ? "redo" : "undo";
    else if (key === "y" && !event.shiftKey && !MAC) which = "redo";
    if (which === null) return;
    event.preventDefault(); // never the text box's own undo: it knows nothing of others' edits
    undoRedo(which);
  });
  // The browser's Edit menu and context menu undo through beforeinput.
  textarea.addEventListener("beforeinput", (event) => {
    if (event.inputType !== "historyUndo" && event.inputType !== "historyRedo") return;
    event.preventDefault();
    undoRedo(event.inputType === "historyUndo" ? "undo" : "redo");
  });
  // A click or arrow key moving the caret ends the step being typed.
  for (const event of ["mousedown", "blur"]) textarea.addEventListener(event, () => undos.seal());
  textarea.addEventListener("keydown", (event) => {
    if (event.key.startsWith("Arrow") || event.key === "Home" || event.key === "End" || event.key.startsWith("Page")) {
      undos.seal();
    }
  });

  // --- people: a colour each, who is typing, and joins and leaves announced ---------

  let colors = new Map();
  const typingAt = new Map(); // client id -> when (ms) its last op arrived
  const TYPING_MS = 2500;
  let present = null; // names shown last time, null before the first join
  let joinedAt = null; // when the current join was answered
  const SETTLE_MS = 1000;
  let peopleShown = "";

  function colorOf(user) {
    return (user && colors.get(String(user.id))) ?? user?.color ?? "#868e96";
  }

  function renderPeople() {
    const people = new Map(); // user id -> {user, typing}
    const now = Date.now();
    for (const peer of client.peers.values()) {
      if (!peer.user || String(peer.user.id) === me.id) continue;
      const entry = people.get(String(peer.user.id)) ?? { user: peer.user, typing: false };
      entry.typing ||= now - (typingAt.get(peer.client) ?? -Infinity) < TYPING_MS;
      people.set(String(peer.user.id), entry);
    }
    colors = assignColors([me.id, ...people.keys()].filter(Boolean));
    const list = [...people.values()].sort((a, b) => a.user.name.localeCompare(b.user.name));
    const key = JSON.stringify(list.map((p) => [p.user.name, colorOf(p.user), p.typing]));
    if (key !== peopleShown) {
      peopleShown = key;
      peersEl.replaceChildren();
      if (list.length) peersEl.append("· also here: ");
      list.forEach((person, index) => {
        if (index) peersEl.append(", ");
        const chip = document.createElement("span");
        chip.className = "person";
        chip.style.setProperty("--person-color", colorOf(person.user));
        chip.dataset.typing = String(person.typing);
        chip.textContent = person.user.name;
        if (person.typing) {
          const typing = document.createElement("span");
          typing.className = "typing";
          typing.textContent = " (typing)";
          chip.append(typing);
        }
        peersEl.append(chip);
      });
    }
    if (!client.joined) {
      joinedAt = null;
    } else {
      const names = list.map((p) => p.user.name);
      joinedAt ??= Date.now();
      // Right after a (re)join the server is still telling who is here: that is no news.
      const settling = Date.now() - joinedAt < SETTLE_MS;
      if (present !== null && announcerEl && !settling) {
        const lines = arrivals(present, names);
        if (lines.length) announcerEl.textContent = lines.join(". ") + ".";
      }
      present = names;
    }
  }
  // "typing" fades without any message arriving.
  setInterval(() => {
    if (typingAt.size) renderPeople();
  }, 1000);

  function stop(message) {
    stopped = message;
    socket.stop();
    render();
  }

  function status() {
    if (stopped !== null) return ["stopped", "not syncing"];
    if (client.joined && client.waiting) return ["waiting", "waiting — the server asked to slow down"];
    if (client.joined) return client.pending ? ["saving", "saving…"] : ["saved", "saved"];
    if (client.readies === 0) return ["connecting", "connecting"];
    return client.pending ? ["offline", "offline — edits kept"] : ["reconnecting", "reconnecting"];
  }

  function render() {
    const [state, label] = status();
    if (statusEl.dataset.state !== state) {
      statusEl.dataset.state = state;
      statusEl.textContent = label;
    }
    root.dataset.draft = drafts.stored ? "stored" : "storing";
    if (client.rev !== null) revisionEl.textContent = String(client.rev);
    if (client.rev !== null && textarea.disabled) {
      textarea.disabled = false;
      textarea.placeholder = "";
    }
    const readOnly = stopped !== null || client.role === "viewer";
    if (textarea.readOnly !== readOnly) textarea.readOnly = readOnly;
    if (undoButton) undoButton.disabled = readOnly || !undos.canUndo;
    if (redoButton) redoButton.disabled = readOnly || !undos.canRedo;
    if (client.role !== null) roleEl.textContent = client.role === "viewer" ? "· read only" : "";
    renderPeople();
    carets.update();
    scheduleCounts();
    if (stopped !== null) {
      noticeEl.textContent = stopped;
      noticeEl.hidden = false;
    }
  }

  // The character and word count, recounted a moment after the text last changed: a
  // count of a long text on every keystroke would slow typing.
  let countsTimer = null;
  let countedText = null;
  function scheduleCounts() {
    if (countsTimer !== null || client.rev === null || client.text === countedText) return;
    const delay = client.text.length > 100_000 ? 500 : 50;
    countsTimer = setTimeout(() => {
      countsTimer = null;
      countedText = client.text;
      const { characters, words } = textCounts(countedText);
      const label = `${plural(characters, "character")}, ${plural(words, "word")}`;
      if (countsEl && countsEl.textContent !== label) countsEl.textContent = label;
    }, delay);
  }

  if (draft) {
    client.restore({
      rev: draft.rev,
      base: draft.base,
      seq: draft.seq,
      outstanding: draft.outstanding,
      buffer: draft.buffer,
    });
    adapter.reset(client.text);
  }

  window.addEventListener("beforeunload", (event) => {
    if (client.pending) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
  window.addEventListener("online", () => socket.retryNow());

  // For debugging from the console (and for the browser tests).
  window.collabEditor = {
    client, socket, adapter, drafts, carets, undos,
    colors: () => colors,
    // Whether arrivals are announced yet (they are not while a join settles).
    announcing: () => joinedAt !== null && Date.now() - joinedAt >= SETTLE_MS,
  };
  render();
  socket.start();
}

const root = document.querySelector("[data-document-id]");
if (root) start(root);
