// @ts-check
// A client of Linli's WebSocket protocol (docs/protocol.md; gateway/wire.py is the reference).
//
// It keeps what a phone needs to survive a dropped connection without losing or doubling
// anything: per channel the last offset delivered in order and its epoch, so a resubscription
// asks for exactly what was missed (`since`); outgoing messages stay pending until the server
// acknowledges them and are resent with the same `client_msg_id`, which the server uses to
// drop duplicates; reconnection waits with exponential backoff and jitter so a building full of
// phones does not reconnect in one burst after a restart. It knows nothing of the page: the UI
// passes callbacks.

/** @typedef {import("./types.js").ClientCallbacks} ClientCallbacks */
/** @typedef {import("./types.js").ConnectionState} ConnectionState */
/** @typedef {import("./types.js").HistoryReply} HistoryReply */
/** @typedef {import("./types.js").PendingPublish} PendingPublish */
/** @typedef {import("./types.js").Position} Position */
/** @typedef {import("./types.js").PresenceReply} PresenceReply */
/** @typedef {import("./types.js").ProtocolError} ProtocolError */
/** @typedef {import("./types.js").PubPush} PubPush */
/** @typedef {import("./types.js").Publication} Publication */
/** @typedef {import("./types.js").PushFrame} PushFrame */
/** @typedef {import("./types.js").ReplyFrame} ReplyFrame */
/** @typedef {import("./types.js").Replies} Replies */
/** @typedef {import("./types.js").SubscribeReply} SubscribeReply */

/**
 * What the client keeps per channel: the position delivered in order, and while a gap is being
 * filled the pushes that arrived meanwhile.
 * @typedef {{epoch: number | null, offset: number | null, subscribed: boolean, filling: boolean,
 *   buffer: PubPush[]}} ChannelState
 */
/** A channel whose first subscription has answered: its position is known.
 * @typedef {ChannelState & {epoch: number, offset: number}} KnownChannel */
/** @typedef {{resolve: (ok: any) => void, reject: (error: ProtocolError) => void,
 *   timer: ReturnType<typeof setTimeout>}} Waiter */

/** Close codes 4500–4999 are terminal (gateway/codes.py): reconnecting would fail the same way. */
const TERMINAL_CLOSE = [4500, 5000];
// Backoff as docs/protocol.md asks: a random wait in [0, min(30 s, 0.5 s × 2^attempt)] ("full
// jitter": after a gateway restart thousands of phones must not come back in the same instant),
// and `attempt` starts over only after a connection that lasted a minute, so a server that
// accepts and at once closes is not hammered.
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30000;
const STABLE_MS = 60000;
/** A request without a reply for this long means the link is dead even if the socket looks
 * open (docs/protocol.md, Heartbeat: pings go only to silent connections). */
const REPLY_TIMEOUT_MS = 10000;
/** The server pings every LINLI_HEARTBEAT_SECONDS (25 s by default) and gives up after two silent
 * intervals; hearing nothing for 60 s means the socket is dead even if the browser has not
 * noticed (a phone that slept, a NAT that forgot us). */
const SILENCE_MS = 60000;
const WATCHDOG_EVERY_MS = 5000;
/** How long to wait before repeating a request that failed with a temporary error. */
const RETRY_TEMPORARY_MS = 2000;
/** The largest history page the server gives (gateway/wire.py MAX_HISTORY_LIMIT). */
const MAX_PAGE = 100;

const noop = () => {};

/**
 * @param {ChannelState} state
 * @returns {state is KnownChannel}
 */
function known(state) {
  return state.epoch !== null && state.offset !== null;
}

/** A client_msg_id: 1–64 of [A-Za-z0-9_-]. crypto.randomUUID needs a secure context; a
 * building's LAN install may be plain http, so use getRandomValues. */
export function newClientMsgId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The gateway's WebSocket URL for this page: the websockets server's own port when the page says
 * so (`ws_port` in #linli-page, LINLI_WS_PORT), else `/ws` on the page's origin (behind a proxy,
 * or with that server off). */
export function socketUrl() {
  const facts = document.getElementById("linli-page");
  /** @type {number | null | undefined} */
  const port = facts ? JSON.parse(facts.textContent ?? "{}").ws_port : null;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return port ? `${scheme}//${location.hostname}:${port}/ws` : `${scheme}//${location.host}/ws`;
}

export class LinliClient {
  /**
   * @param {string} url  the WebSocket URL (ws://host/ws)
   * @param {Partial<ClientCallbacks>} on   callbacks: state(state), pub(channel, pub),
   *   subscribed(channel, reply, {reload}), subscribeFailed(channel, error), reset(channel),
   *   presence(kind, channel, user), unsubscribed(channel, reason), ack(cmid, ack, entry),
   *   publishFailed(cmid, error, entry), ended(code), inbox(push), read(push), moderation(push),
   *   meetingAttendance(push)
   */
  constructor(url, on = {}) {
    this.url = url;
    /** @type {ClientCallbacks} */
    this.on = new Proxy(/** @type {ClientCallbacks} */ (on), {
      get: (target, name) => target[/** @type {keyof ClientCallbacks} */ (name)] ?? noop,
    });
    /** @type {WebSocket | null} */
    this.ws = null;
    /** @type {ConnectionState} */
    this.state = "idle";
    this.stopped = true;
    this.nextId = 1;
    /** request id → its promise's ends @type {Map<number, Waiter>} */
    this.waiting = new Map();
    /** @type {Map<string, ChannelState>} */
    this.channels = new Map();
    /** client_msg_id → the message @type {Map<string, PendingPublish>} */
    this.pending = new Map();
    this.attempt = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
    this.lastFrameAt = 0;
    this.openedAt = 0;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.watchdog = undefined;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
    this.watchdog = setInterval(() => this.checkSilence(), WATCHDOG_EVERY_MS);
    // Back on the network or back in front of the reader: do not sit out the backoff.
    window.addEventListener("online", () => this.reconnectNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.reconnectNow();
    });
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.watchdog);
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000);
    this.setState("stopped");
  }

  /** @param {ConnectionState} state */
  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.on.state(state);
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  // -- the connection ---------------------------------------------------------------------------

  connect() {
    clearTimeout(this.timer);
    if (this.stopped || this.ws) return;
    this.setState(this.attempt === 0 && this.state === "idle" ? "connecting" : "reconnecting");
    let ws;
    try {
      ws = new WebSocket(this.url, ["linli.v1.json"]);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      opened = true;
      this.openedAt = Date.now();
      this.lastFrameAt = this.openedAt;
      this.setState("open");
      // Frames on one connection are handled in order: subscriptions first, then the messages
      // that waited, so their echoes arrive on live subscriptions.
      for (const channel of this.channels.keys()) this.sendSubscribe(channel);
      for (const entry of this.pending.values()) this.sendPublish(entry);
    };
    ws.onmessage = (event) => {
      if (this.ws !== ws) return;
      this.lastFrameAt = Date.now();
      this.onFrame(event.data);
    };
    ws.onclose = (event) => this.closed(ws, event.code, opened);
    ws.onerror = noop; // a close event always follows
  }

  /**
   * Forget the socket `ws` and decide what to do next.
   * @param {WebSocket} ws
   * @param {number} code
   * @param {boolean} opened
   */
  closed(ws, code, opened) {
    if (this.ws !== ws) return;
    this.ws = null;
    if (opened && Date.now() - this.openedAt >= STABLE_MS) this.attempt = 0;
    for (const waiter of this.waiting.values()) {
      clearTimeout(waiter.timer);
      waiter.reject({ code: "network", temporary: true });
    }
    this.waiting.clear();
    for (const state of this.channels.values()) {
      state.subscribed = false;
      state.filling = false;
      state.buffer = [];
    }
    for (const entry of this.pending.values()) entry.inFlight = false;
    if (this.stopped) return;
    if (code >= TERMINAL_CLOSE[0] && code < TERMINAL_CLOSE[1]) {
      this.stopped = true;
      clearInterval(this.watchdog);
      this.setState("ended");
      this.on.ended(code);
      return;
    }
    // A refused handshake (logged out elsewhere, session expired) reaches a page only as 1006;
    // ask the API whether the session still holds.
    if (!opened) this.checkSession();
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    if (this.stopped) return;
    const delay = Math.random() * Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    this.attempt += 1;
    this.setState("reconnecting");
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    if (!this.stopped && this.ws === null) {
      clearTimeout(this.timer);
      this.connect();
    }
  }

  /** Cut the connection as a network failure would (the watchdog uses it; so do tests). */
  dropConnection() {
    const ws = this.ws;
    if (!ws) return;
    try {
      ws.close(1000);
    } catch {
      // already closing
    }
    this.closed(ws, 1006, true);
  }

  checkSilence() {
    if (this.isOpen && Date.now() - this.lastFrameAt > SILENCE_MS) this.dropConnection();
  }

  async checkSession() {
    try {
      const response = await fetch("/api/me", { credentials: "same-origin" });
      if (response.status === 401 && !this.stopped) {
        this.stop();
        this.setState("ended");
        this.on.ended(4500);
      }
    } catch {
      // offline: the next attempt will tell
    }
  }

  // -- frames -----------------------------------------------------------------------------------

  /** @param {object} obj */
  send(obj) {
    if (!this.ws || !this.isOpen) return false;
    this.ws.send(JSON.stringify(obj));
    return true;
  }

  /**
   * Send a request; resolves with its `ok` body, rejects with its `error` ({code, message,
   * temporary}) or with code "network" when the connection is not there or drops.
   * @template {keyof Replies} K
   * @param {K} op
   * @param {object} fields
   * @returns {Promise<Replies[K]>}
   */
  request(op, fields) {
    return new Promise((resolve, reject) => {
      if (!this.isOpen) {
        reject({ code: "network", temporary: true });
        return;
      }
      const id = this.nextId++;
      const timer = setTimeout(() => this.dropConnection(), REPLY_TIMEOUT_MS);
      this.waiting.set(id, { resolve, reject, timer });
      this.send({ id, op, ...fields });
    });
  }

  /** @param {unknown} data  a text frame */
  onFrame(data) {
    /** @type {ReplyFrame | PushFrame} */
    let msg;
    try {
      msg = JSON.parse(String(data));
    } catch {
      return;
    }
    if (typeof msg !== "object" || msg === null) return; // not a frame of this protocol
    if ("id" in msg && typeof msg.id === "number") {
      const waiter = this.waiting.get(msg.id);
      if (!waiter) return;
      clearTimeout(waiter.timer);
      this.waiting.delete(msg.id);
      if (msg.error) waiter.reject(msg.error);
      else waiter.resolve(msg.ok);
      return;
    }
    if (!("push" in msg)) return;
    switch (msg.push) {
      case "ping":
        this.send({ op: "pong" });
        break;
      case "pub":
        this.onPub(msg);
        break;
      case "join":
      case "leave":
        this.on.presence(msg.push, msg.channel, msg.user);
        break;
      case "reset":
        this.onReset(msg.channel, msg.epoch, msg.offset);
        break;
      case "unsubscribed":
        this.channels.delete(msg.channel);
        this.on.unsubscribed(msg.channel, msg.reason);
        break;
      case "inbox":
        this.on.inbox(msg);
        break;
      case "moderation":
        this.on.moderation(msg);
        break;
      case "read":
        this.on.read(msg);
        break;
      case "meeting_attendance":
        this.on.meetingAttendance(msg);
        break;
      default:
        break; // "error" pushes answer frames we never send; unknown pushes are for newer clients
    }
  }

  // -- channels ---------------------------------------------------------------------------------

  /** @param {string} channel */
  subscribe(channel) {
    if (this.channels.has(channel)) return;
    this.channels.set(channel, { epoch: null, offset: null, subscribed: false, filling: false, buffer: [] });
    this.sendSubscribe(channel);
  }

  /** @param {string} channel */
  unsubscribe(channel) {
    if (!this.channels.delete(channel)) return;
    this.request("unsubscribe", { channel }).catch(noop);
  }

  /** @param {string} channel */
  sendSubscribe(channel) {
    const state = this.channels.get(channel);
    if (!state || state.subscribed || !this.isOpen) return;
    /** @type {{channel: string, since?: {offset: number, epoch: number}}} */
    const fields = { channel };
    if (known(state)) fields.since = { offset: state.offset, epoch: state.epoch };
    this.request("subscribe", fields).then(
      (reply) => this.onSubscribed(channel, reply),
      (error) => {
        if (error.code === "network" || !this.channels.has(channel)) return; // again on reconnect
        if (error.code === "already_subscribed") {
          state.subscribed = true;
          return;
        }
        if (error.temporary) {
          setTimeout(() => this.sendSubscribe(channel), RETRY_TEMPORARY_MS);
          return;
        }
        this.channels.delete(channel);
        this.on.subscribeFailed(channel, error);
      },
    );
  }

  /**
   * @param {string} channel
   * @param {SubscribeReply} reply
   */
  onSubscribed(channel, reply) {
    const state = this.channels.get(channel);
    if (!state) return;
    state.subscribed = true;
    if (reply.recovered === true && known(state) && reply.epoch === state.epoch) {
      // Everything missed, in order: deliver what is new and carry on from the top.
      for (const pub of [...reply.publications].sort((a, b) => a.offset - b.offset)) {
        if (pub.offset > state.offset) this.deliver(channel, state, pub);
      }
      state.offset = Math.max(state.offset, reply.offset);
      this.on.subscribed(channel, reply, { reload: false });
      return;
    }
    // First subscription, or the gap could not be recovered (too long, or the channel's history
    // was reset): start from the top; the page reloads its latest history page.
    state.epoch = reply.epoch;
    state.offset = reply.offset;
    this.on.subscribed(channel, reply, { reload: true });
  }

  /**
   * @param {string} channel
   * @param {number} epoch
   * @param {number} offset
   */
  onReset(channel, epoch, offset) {
    const state = this.channels.get(channel);
    if (!state) return;
    state.epoch = epoch;
    state.offset = offset;
    state.buffer = [];
    this.on.reset(channel);
  }

  /** @param {PubPush} msg */
  onPub(msg) {
    const state = this.channels.get(msg.channel);
    if (!state || !state.subscribed) return;
    if (state.filling) {
      state.buffer.push(msg);
      return;
    }
    if (!known(state) || msg.epoch !== state.epoch) {
      this.onReset(msg.channel, msg.epoch, msg.offset - 1);
    }
    if (!known(state)) return; // onReset set both: cannot happen
    if (msg.offset <= state.offset) return; // seen already (recovered and live overlapped)
    if (msg.offset === state.offset + 1) {
      this.deliver(msg.channel, state, msg);
      return;
    }
    this.fillGap(msg.channel, state, msg);
  }

  /**
   * @param {string} channel
   * @param {ChannelState} state
   * @param {Publication} pub
   */
  deliver(channel, state, pub) {
    state.offset = pub.offset;
    this.on.pub(channel, pub);
  }

  /**
   * The server fills gaps itself, so this is a safety net: fetch what lies between the last
   * offset delivered and `pub`, deliver it in order, then whatever arrived meanwhile.
   * @param {string} channel
   * @param {ChannelState} state
   * @param {PubPush} pub
   */
  async fillGap(channel, state, pub) {
    if (!known(state)) return; // only called once the position is known
    state.filling = true;
    state.buffer = [pub];
    try {
      const page = await this.request("history", {
        channel,
        after: state.offset,
        before: pub.offset,
        limit: MAX_PAGE,
      });
      for (const missed of page.publications) {
        if (missed.offset === state.offset + 1) this.deliver(channel, state, missed);
      }
    } catch {
      // Resubscribing (on reconnect) or the next pub will try again.
    }
    if (this.channels.get(channel) !== state) return;
    state.filling = false;
    const buffered = state.buffer.sort((a, b) => a.offset - b.offset);
    state.buffer = [];
    for (const msg of buffered) this.onPub(msg);
  }

  /**
   * A page of `channel`'s history (the `history` op: `before`/`after` bound the offsets;
   * `around` centres the page on one, with its neighbours on both sides).
   * @param {string} channel
   * @param {{before?: number | null, after?: number | null, around?: number | null, limit?: number}} [range]
   * @returns {Promise<HistoryReply>}
   */
  history(channel, { before, after, around, limit = 30 } = {}) {
    /** @type {{channel: string, limit: number, before?: number, after?: number, around?: number}} */
    const fields = { channel, limit };
    if (before !== undefined && before !== null) fields.before = before;
    if (after !== undefined && after !== null) fields.after = after;
    if (around !== undefined && around !== null) fields.around = around;
    return this.request("history", fields);
  }

  /**
   * @param {string} channel
   * @returns {Promise<PresenceReply>}
   */
  presence(channel) {
    return this.request("presence", { channel });
  }

  /**
   * The offset of the last publication delivered in order on `channel` (null before the
   * first subscription answers).
   * @param {string} channel
   * @returns {Position | null}
   */
  position(channel) {
    const state = this.channels.get(channel);
    return state ? { epoch: state.epoch, offset: state.offset } : null;
  }

  // -- publishing -------------------------------------------------------------------------------

  /**
   * Queue `text` for `channel`; returns its client_msg_id. The message is sent now if the
   * connection is up and again after every reconnection until the server acknowledges it.
   * @param {string} channel
   * @param {string} text
   * @param {number} [replyTo]  the offset of the message this one answers
   * @param {string} [photo]  the id of an uploaded photo it carries (`text` is its caption)
   * @returns {string}
   */
  publish(channel, text, replyTo, photo) {
    /** @type {PendingPublish} */
    const entry = { channel, text, cmid: newClientMsgId(), inFlight: false };
    if (replyTo) entry.replyTo = replyTo;
    if (photo) entry.photo = photo;
    this.pending.set(entry.cmid, entry);
    this.sendPublish(entry);
    return entry.cmid;
  }

  /**
   * The messages for `channel` that wait for an ack, oldest first.
   * @param {string} channel
   * @returns {PendingPublish[]}
   */
  pendingFor(channel) {
    return [...this.pending.values()].filter((entry) => entry.channel === channel);
  }

  /** @param {PendingPublish} entry */
  sendPublish(entry) {
    if (entry.inFlight || !this.isOpen || !this.pending.has(entry.cmid)) return;
    entry.inFlight = true;
    /** @type {Record<string, unknown>} */
    const fields = { channel: entry.channel, text: entry.text, client_msg_id: entry.cmid };
    if (entry.replyTo) fields.reply_to = entry.replyTo;
    if (entry.photo) fields.photo = entry.photo;
    this.request("publish", fields).then(
      (ack) => {
        this.pending.delete(entry.cmid);
        this.on.ack(entry.cmid, ack, entry);
      },
      (error) => {
        entry.inFlight = false;
        if (error.code === "network") return; // resent after the reconnection
        if (error.temporary) {
          setTimeout(() => this.sendPublish(entry), RETRY_TEMPORARY_MS);
          return;
        }
        this.pending.delete(entry.cmid);
        this.on.publishFailed(entry.cmid, error, entry);
      },
    );
  }
}
