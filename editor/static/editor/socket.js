/**
 * A WebSocket that reconnects by itself.
 *
 * Server frames hold one JSON message or an array of them; `onMessages` always gets an
 * array, in order. After a close the socket reconnects with exponential backoff and
 * jitter, except after a 44xx close: the server refused this user or document for good
 * (4401 signed out, 4403 no access, 4404 no such document), and retrying cannot help.
 */

const NOOP = () => {};

/**
 * Whether a close code means "do not come back" (4400 to 4499). The protocol decides
 * by range so that a code this client does not know is handled too; the table of codes
 * (codes.json) marks each known one the same way, and the tests check that it does.
 */
export function isFinalClose(code) {
  return code >= 4400 && code <= 4499;
}

/**
 * What to tell the user after a final close `code`, from the table of codes
 * (editor/static/editor/codes.json, rendered into the editor page).
 * @param {{closes: Object<string, {message: string|null}>, unknown_close_message: string}} codes
 * @param {number} code
 */
export function closeMessage(codes, code) {
  return codes.closes[code]?.message ?? codes.unknown_close_message.replace("{code}", String(code));
}

export class Socket {
  /**
   * @param {string} url
   * @param {object} options
   * @param {() => void} [options.onOpen]
   * @param {(messages: object[]) => void} [options.onMessages]
   * @param {(code: number, info: {final: boolean, delay: number|null}) => void} [options.onClose]
   * @param {(frame: string) => void} [options.onBadFrame]  a frame that is not JSON
   */
  constructor(
    url,
    {
      onOpen = NOOP,
      onMessages = NOOP,
      onClose = NOOP,
      onBadFrame = NOOP,
      WebSocketImpl = globalThis.WebSocket,
      random = Math.random,
      setTimer = (fn, ms) => setTimeout(fn, ms),
      clearTimer = (id) => clearTimeout(id),
      baseDelay = 250,
      maxDelay = 10_000,
    } = {},
  ) {
    this.url = url;
    this.ws = null;
    this.generation = 0; // counts connections, so stale sends can be told apart
    this.attempt = 0; // failed attempts since the last resetBackoff()
    this.finalCode = null; // set after a 44xx close
    this.stopped = true;
    this._handlers = { onOpen, onMessages, onClose, onBadFrame };
    this._WebSocket = WebSocketImpl;
    this._random = random;
    this._setTimer = setTimer;
    this._clearTimer = clearTimer;
    this._baseDelay = baseDelay;
    this._maxDelay = maxDelay;
    this._timer = null;
  }

  /** Whether a connection is open right now. */
  get open() {
    return this.ws !== null && this.ws.readyState === 1;
  }

  /** Connect, and keep reconnecting until stop() or a 44xx close. */
  start() {
    if (this.finalCode !== null) return;
    this.stopped = false;
    this._connect();
  }

  /** Close for good. */
  stop() {
    this.stopped = true;
    this._cancelTimer();
    if (this.ws !== null) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000);
    }
  }

  /** Send one message; returns false (and sends nothing) when not connected. */
  send(message) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  /** Close the current connection as a network fault would; it reconnects by itself. */
  drop() {
    if (this.ws !== null) this.ws.close(3000, "dropped by the page");
  }

  /** Skip the wait before the next attempt (for example when the browser comes online). */
  retryNow() {
    if (this._timer !== null && !this.stopped) {
      this._cancelTimer();
      this._connect();
    }
  }

  /** Start the backoff from the beginning: call once a connection proved healthy. */
  resetBackoff() {
    this.attempt = 0;
  }

  /** The wait before attempt number `attempt`: doubling, capped, with jitter. */
  delay(attempt) {
    const ceiling = Math.min(this._maxDelay, this._baseDelay * 2 ** Math.min(attempt, 30));
    return ceiling * (0.5 + this._random() / 2);
  }

  _connect() {
    this._timer = null;
    this.generation++;
    let ws;
    try {
      ws = new this._WebSocket(this.url);
    } catch (err) {
      console.error("cannot open a WebSocket", err);
      this._closed(1006);
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (ws === this.ws) this._handlers.onOpen();
    };
    ws.onmessage = (event) => {
      if (ws !== this.ws) return;
      let data;
      try {
        data = JSON.parse(event.data);
      } catch {
        this._handlers.onBadFrame(String(event.data).slice(0, 200));
        return;
      }
      this._handlers.onMessages(Array.isArray(data) ? data : [data]);
    };
    ws.onclose = (event) => {
      if (ws === this.ws) this._closed(event.code);
    };
  }

  _closed(code) {
    this.ws = null;
    this.generation++;
    if (this.stopped) return;
    if (isFinalClose(code)) {
      this.finalCode = code;
      this.stopped = true;
      this._handlers.onClose(code, { final: true, delay: null });
      return;
    }
    const delay = this.delay(this.attempt);
    this.attempt++;
    this._timer = this._setTimer(() => this._connect(), delay);
    this._handlers.onClose(code, { final: false, delay });
  }

  _cancelTimer() {
    if (this._timer !== null) {
      this._clearTimer(this._timer);
      this._timer = null;
    }
  }
}
