/**
 * Unsent edits, kept in IndexedDB so they survive a reload or a crash of the browser.
 *
 * One record per (document, client id) holds what the server has not acknowledged:
 *
 *   {document, client, user, seq, rev, base, outstanding, buffer, saved}
 *
 * `user` is the id of the signed-in person who typed them: a tab adopts only its own
 * person's records, so the next person to sign in in this browser never sends (or sees)
 * someone else's unsent edits, and signing out deletes the person's records
 * (`forgetUser`, called by the sign-out form). Records without a user are never adopted.
 *
 * `base` is the text at revision `rev`, `outstanding` ({seq, ops}) and `buffer` are the
 * pending ops on top of it, and `seq` is the last seq used. The record is rewritten on
 * every change to the pending edits and deleted once the server has acknowledged them
 * all. Writes are coalesced: while one is running, only the latest state waits.
 *
 * A tab owns its client id through a Web Lock held for the tab's lifetime. A record
 * whose lock is free belongs to a tab that is gone (closed, reloaded or crashed), and
 * the next tab to open the document adopts it: same client id, same seq, so resending
 * an op that was in fact committed is answered with its ack instead of applied twice.
 * Where Web Locks are missing (pages not served over https or from localhost), a tab
 * instead refreshes `alive` in its record every few seconds, and only records left
 * alone for a while are adopted.
 */

const DB_NAME = "collab-drafts";
const STORE = "drafts";
const HEARTBEAT_MS = 5_000;
const ABANDONED_MS = 20_000;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function openDatabase() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => {
      const store = req.result.createObjectStore(STORE, { keyPath: ["document", "client"] });
      store.createIndex("document", "document");
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error("the drafts database is blocked by another tab"));
  });
}

function lockName(documentId, clientId) {
  return `collab-draft/${documentId}/${clientId}`;
}

/** Take a Web Lock for the rest of the page's life; false when another tab holds it. */
function holdLock(name) {
  return new Promise((resolve) => {
    navigator.locks
      .request(name, { ifAvailable: true }, (lock) => {
        resolve(lock !== null);
        return lock === null ? undefined : new Promise(() => {});
      })
      .catch(() => resolve(false));
  });
}

/**
 * Delete every kept draft of the person `userId` (and any kept without a user), in
 * every document: at sign-out, so that their unsent text does not stay in this browser.
 * Never throws.
 */
export async function forgetUser(userId) {
  let db;
  try {
    db = await openDatabase();
  } catch {
    return;
  }
  try {
    const tx = db.transaction(STORE, "readwrite");
    const store = tx.objectStore(STORE);
    const records = await request(store.getAll());
    for (const record of records) {
      if (record.user === undefined || record.user === userId) store.delete([record.document, record.client]);
    }
    await new Promise((resolve, reject) => {
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } catch (err) {
    console.warn("could not forget kept edits:", err);
  } finally {
    db.close();
  }
}

export class DraftStore {
  /**
   * Open the store for one document and the signed-in person `user` (their id, as a
   * string); never throws (without IndexedDB nothing is kept).
   */
  static async open(documentId, { user, onStored = () => {} } = {}) {
    let db = null;
    try {
      db = await openDatabase();
    } catch (err) {
      console.warn("unsent edits cannot be kept in this browser:", err);
    }
    return new DraftStore(db, documentId, user, onStored);
  }

  constructor(db, documentId, user, onStored) {
    this.db = db;
    this.documentId = documentId;
    this.user = user;
    this.clientId = null;
    this.stored = true; // every requested write has reached the database
    this._onStored = onStored;
    this._latest = null; // the record to write next, or null to delete it
    this._dirty = false;
    this._writing = null;
    this._heartbeat = null;
    this._locks = typeof navigator !== "undefined" && "locks" in navigator;
  }

  /**
   * Adopt the unsent edits of a tab that is gone, if any: returns the record (its client
   * id now belongs to this tab) or null.
   */
  async claim() {
    if (this.db === null) return null;
    let records;
    try {
      const tx = this.db.transaction(STORE, "readonly");
      records = await request(tx.objectStore(STORE).index("document").getAll(this.documentId));
    } catch (err) {
      console.warn("cannot read kept edits:", err);
      return null;
    }
    records = records.filter((record) => record.user !== undefined && record.user === this.user);
    records.sort((a, b) => a.saved - b.saved);
    for (const record of records) {
      if (this._locks) {
        if (await holdLock(lockName(this.documentId, record.client))) return this._own(record);
      } else if (Date.now() - (record.alive ?? record.saved) > ABANDONED_MS) {
        return this._own(record);
      }
    }
    return null;
  }

  /** Own a fresh client id (one no other tab can have). */
  async own(clientId) {
    if (this._locks) await holdLock(lockName(this.documentId, clientId));
    this._own({ client: clientId });
  }

  _own(record) {
    this.clientId = record.client;
    if (!this._locks && this.db !== null) {
      this._heartbeat = setInterval(() => {
        if (this._latest !== null && !this._dirty) this.save(this._latest);
      }, HEARTBEAT_MS);
    }
    return record.base === undefined ? null : record;
  }

  /**
   * Keep this state of the pending edits (null: nothing is pending, forget them).
   * Resolves once it, or a later state, is stored.
   */
  save(state) {
    if (this.db === null || this.clientId === null) return Promise.resolve();
    this._latest =
      state === null
        ? null
        : { ...state, document: this.documentId, client: this.clientId, user: this.user, saved: Date.now() };
    if (this._latest !== null) this._latest.alive = Date.now();
    this._dirty = true;
    this.stored = false;
    if (this._writing === null) this._writing = this._drain();
    return this._writing;
  }

  /** Resolves once every state saved so far is stored. */
  flushed() {
    return this._writing ?? Promise.resolve();
  }

  async _drain() {
    while (this._dirty) {
      this._dirty = false;
      const record = this._latest;
      try {
        const tx = this.db.transaction(STORE, "readwrite");
        const store = tx.objectStore(STORE);
        if (record === null) store.delete([this.documentId, this.clientId]);
        else store.put(record);
        await new Promise((resolve, reject) => {
          tx.oncomplete = resolve;
          tx.onerror = () => reject(tx.error);
          tx.onabort = () => reject(tx.error);
        });
      } catch (err) {
        console.warn("could not keep unsent edits:", err);
      }
    }
    this._writing = null;
    this.stored = true;
    this._onStored();
  }
}
