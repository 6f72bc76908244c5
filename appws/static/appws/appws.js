/**
 * appws.js: the browser client for AppWebsocket App Services (served by appws).
 *
 * Plain JavaScript, no dependencies, no build step. Include it with
 * `<script src=".../appws.js"></script>` (defines the global `AppWS`), or load it
 * from Node with `require()` / `import` (CommonJS `module.exports`).
 * Full guide: docs/browser-client.md.
 *
 *     const conn = new AppWS.Connection("wss://example.com/apps/notes", "notes", {
 *       onConnected(login) { ... },       // logged in (again): load your data here
 *       onError(error) { ... },           // error.code, error.text, error.status, error.fatal
 *     });
 *     const reply = await conn.request({mt: "ListNotes"});
 *     const sub = conn.subscribe({mt: "SubscribeNotes"}, (msg, meta) => { ... });
 *
 * new AppWS.Connection(url, app, options)
 *   url   The App Service's WebSocket URL. http(s) becomes ws(s); a relative URL is
 *         resolved against the page's address.
 *   app   The App's name (AppLogin `app`, `pbxObj`).
 *   The connection opens at once and reconnects by itself until close().
 *
 * options (all optional)
 *   checkBuild    true (default): send CheckBuild with location.href on open; false: don't;
 *                 a string: check that URL instead.
 *   password      The App password: log in with it (tools; never put it in a web page).
 *   domain        `domain` of a password login (default "").
 *   loginSource   "auto" (default): password if given, else myApps when the page is in an
 *                 iframe, else the site's login endpoint. "myapps" / "endpoint" force one.
 *                 myApps: posts the JSON string of {mt: "getLogin", app, challenge} to
 *                 the parent window and takes its {mt: "Login", ...} answer, a JSON string
 *                 or an object, whose pbxObj is `app`.
 *   loginUrl      The site's login issuing endpoint (default "/appws/login").
 *   csrfToken     String, or function returning it (default: the `csrftoken` cookie).
 *   keepAlive     ms without sending anything before a KeepAlive is sent (default 60000;
 *                 0 disables).
 *   requestTimeout  Default timeout of request(), ms (default 30000; 0: none).
 *   loginTimeout  ms from open to AppLoginResult before giving up on this socket and
 *                 reconnecting (default 30000; 0: none).
 *   WebSocket, fetch, window, setTimeout, clearTimeout   Injections (tests, Node tools);
 *                 default: the globals.
 *   onConnected(login)   After every successful login. login = {app, sip, dn, domain,
 *                 appDomain, info, reconnected}.
 *   onError(error)       An Error with .code, .text, and where they apply .status (HTTP),
 *                 .fatal (the connection has ended for good), .reply (the message).
 *   onClosed(event, {reconnect, delay})   Every time a socket closes. After close code
 *                 4000 (an administrator ended the session) or 4403 (the App was
 *                 disabled or removed) it does not reconnect: onError gets a fatal
 *                 error with code "disconnected" or "app-withdrawn". After 4013 (a
 *                 slow reader) it reconnects, and the login that follows does not reset
 *                 the backoff: each further 4013 in a row doubles the delay. After 4012
 *                 (the server is restarting; also 1001 and 1012) it reconnects within
 *                 half a second, without backoff.
 *   onMessage(msg)       Messages after login not claimed by a src or an api handler.
 *   onNavigate(url)      CheckBuildResult named another URL (default:
 *                 location.replace(url)). The connection has ended by then.
 *   Handlers can also be set later as properties: conn.onMessage = ...
 *
 * Properties: state ("connecting" | "open" | "loggedIn" | "closed"; "connecting" also
 *   while waiting to reconnect, "closed" only once ended for good), url, app, login (the
 *   last onConnected argument), sessionKey (hex, password logins only, else null).
 *
 * Methods:
 *   send(msg, {api})            Fire and forget. false (nothing sent) unless logged in.
 *   request(msg, {api, timeout}) -> Promise of the reply. Adds a unique `src`; resolves
 *                               with the first message carrying it; rejects with an Error
 *                               (.code/.text/.reply) on an `error` reply, "timeout",
 *                               "closed" (connection lost) and "not-logged-in" (called
 *                               before login: requests are never queued).
 *   subscribe(msg, callback, {api}) -> {ready, close(), active}. Sent now if logged in,
 *                               else at the next login, and again after every later login
 *                               with a new src. callback(msg, {ack, resubscribed}) gets every
 *                               message with the src: the ack (ack true; resubscribed true
 *                               when it answers a re-send after a reconnect) and the
 *                               indications. ready resolves with the first ack; rejects
 *                               on an error ack (which also ends the subscription) or when
 *                               it is closed before. close() stops routing (nothing is sent).
 *   onApi(api, handler)         Messages with that `api` and no src of ours. Returns an
 *                               unregister function.
 *   encrypt(seed, text), decrypt(seed, hex), hash(seed, text) -> Promise
 *                               Session key helpers (password logins only).
 *   close()                     End for good: no reconnect.
 *
 * Routing after login: by src (our requests and subscriptions; a late message for a
 * finished one is dropped), then by api, then onMessage. Before login only handshake
 * replies are looked at. Frames that are not JSON objects with a string `mt` are ignored.
 *
 * Standalone: AppWS.loginDigest(fields, challenge, password), AppWS.sessionKey(challenge,
 * password), AppWS.sha256Hex(text) (all Promises, WebCrypto); AppWS.rc4Hex(key, text),
 * AppWS.rc4Unhex(key, hex); AppWS.toWebSocketUrl(url, base).
 */
(function (root, factory) {
  "use strict";
  const AppWS = factory();
  if (typeof module === "object" && module !== null && module.exports) {
    module.exports = AppWS;
  } else {
    root.AppWS = AppWS;
  }
})(typeof globalThis !== "undefined" ? globalThis : this, function () {
  "use strict";

  const BACKOFF_FIRST = 1000;
  const BACKOFF_MAX = 32000;
  // The server's close codes are listed in docs/errors.md; these two constants carry the
  // same numbers as the server (a test compares them).
  // The server found this session slow to read: reconnect, but keep backing off
  // across the logins in between, so a client that keeps falling behind waits longer.
  const SLOW_READER_CLOSE_CODE = 4013;
  // The server process is stopping (a restart, a deploy; 1001 and 1012 from a proxy or
  // another server): reconnect at once, within a jitter so its clients do not all arrive
  // in the same instant; if that attempt fails, the backoff takes over.
  const RESTART_CLOSE_CODES = [1001, 1012, 4012];
  const RESTART_JITTER = 500;
  // Close codes after which reconnecting would undo what the server decided.
  const FINAL_CLOSE_CODES = {
    4000: ["disconnected", "AppWS: an administrator ended this session"],
    4403: ["app-withdrawn", "AppWS: this App was disabled or removed"],
  };
  const LOGIN_FIELDS = ["app", "domain", "sip", "guid", "dn", "digest", "info", "pbxObj"];
  const ZERO_GUID = "00000000000000000000000000000000";
  const FATAL_ISSUER_STATUS = [401, 403, 404];
  const OPEN = 1; // WebSocket.OPEN

  // ---- small helpers -------------------------------------------------------------------

  function hasOwn(object, key) {
    return Object.prototype.hasOwnProperty.call(object, key);
  }

  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  function makeError(code, text, extra) {
    const error = new Error(text || String(code));
    error.name = "AppWSError";
    error.code = code;
    error.text = text;
    if (extra) Object.assign(error, extra);
    return error;
  }

  function replyError(msg) {
    const text = typeof msg.errorText === "string" && msg.errorText ? msg.errorText : "error " + String(msg.error);
    return makeError(msg.error, text, { reply: msg });
  }

  function isErrorReply(msg) {
    return Boolean(msg.error);
  }

  /** A frame's message, or null unless it is a JSON object with a string mt. */
  function parseFrame(data) {
    if (typeof data !== "string") return null;
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (_ignored) {
      return null;
    }
    return isObject(msg) && typeof msg.mt === "string" ? msg : null;
  }

  function pick(source, keys) {
    const out = {};
    for (const key of keys) {
      if (hasOwn(source, key) && source[key] !== undefined) out[key] = source[key];
    }
    return out;
  }

  /** Stop listening to a socket; keep an error listener (Node's ws throws without one). */
  function detach(ws) {
    ws.onopen = ws.onmessage = ws.onclose = null;
    ws.onerror = () => {};
  }

  function rethrowLater(error) {
    const schedule = typeof queueMicrotask === "function" ? queueMicrotask : (fn) => setTimeout(fn, 0);
    schedule(() => {
      throw error;
    });
  }

  function readCookie(win, name) {
    let cookies = "";
    try {
      cookies = (win && win.document && win.document.cookie) || "";
    } catch (_ignored) {
      return null;
    }
    for (const part of cookies.split(";")) {
      const eq = part.indexOf("=");
      if (eq >= 0 && part.slice(0, eq).trim() === name) {
        try {
          return decodeURIComponent(part.slice(eq + 1).trim());
        } catch (_ignored) {
          return part.slice(eq + 1).trim();
        }
      }
    }
    return null;
  }

  /** ws(s) URL of `url`; http(s) becomes ws(s); relative URLs resolve against `base`. */
  function toWebSocketUrl(url, base) {
    let parsed;
    try {
      parsed = base ? new URL(String(url), base) : new URL(String(url));
    } catch (_ignored) {
      throw new TypeError("AppWS: not a usable WebSocket URL: " + String(url));
    }
    if (parsed.protocol === "http:") parsed.protocol = "ws:";
    else if (parsed.protocol === "https:") parsed.protocol = "wss:";
    else if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
      throw new TypeError("AppWS: not a ws(s) or http(s) URL: " + String(url));
    }
    return parsed.href;
  }

  // ---- hashing and RC4 -------------------------------------------------------------------

  const encoder = new TextEncoder();

  function toHex(bytes) {
    let out = "";
    for (const byte of bytes) out += (byte < 16 ? "0" : "") + byte.toString(16);
    return out;
  }

  function fromHex(hex) {
    if (typeof hex !== "string" || hex.length % 2 !== 0 || /[^0-9a-fA-F]/.test(hex)) {
      throw new TypeError("AppWS: not a hex string");
    }
    const bytes = new Uint8Array(hex.length / 2);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.substr(i * 2, 2), 16);
    return bytes;
  }

  function subtle() {
    const webCrypto = globalThis.crypto;
    if (!webCrypto || !webCrypto.subtle) {
      throw makeError(
        "no-webcrypto",
        "WebCrypto (crypto.subtle) is not available; browsers offer it only on https:// or localhost pages",
      );
    }
    return webCrypto.subtle;
  }

  /** Lowercase hex SHA-256 of the UTF-8 bytes of `text` (Promise). */
  async function sha256Hex(text) {
    const digest = await subtle().digest("SHA-256", encoder.encode(String(text)));
    return toHex(new Uint8Array(digest));
  }

  /**
   * The AppLogin digest (docs/protocol.md): SHA-256 hex over
   * app:domain:sip:guid:dn[:info]:challenge:password. Missing or null fields count as "";
   * info (an object) is hashed as JSON.stringify writes it and only when not null.
   */
  function loginDigest(fields, challenge, password) {
    const f = fields || {};
    const parts = ["app", "domain", "sip", "guid", "dn"].map((key) => (f[key] == null ? "" : String(f[key])));
    if (f.info != null) parts.push(JSON.stringify(f.info));
    parts.push(String(challenge), String(password));
    return sha256Hex(parts.join(":"));
  }

  /** The session key: SHA-256 hex of "innovaphoneAppSessionKey:<challenge>:<password>" (Promise). */
  function sessionKey(challenge, password) {
    return sha256Hex("innovaphoneAppSessionKey:" + challenge + ":" + password);
  }

  /** Plain RC4 (no dropped bytes) of `data` under `key` (both Uint8Array). */
  function rc4(key, data) {
    if (key.length === 0) throw new TypeError("AppWS: RC4 needs a non-empty key");
    const state = new Uint8Array(256);
    for (let i = 0; i < 256; i++) state[i] = i;
    let j = 0;
    for (let i = 0; i < 256; i++) {
      j = (j + state[i] + key[i % key.length]) & 255;
      const swap = state[i];
      state[i] = state[j];
      state[j] = swap;
    }
    const out = new Uint8Array(data.length);
    let a = 0;
    let b = 0;
    for (let n = 0; n < data.length; n++) {
      a = (a + 1) & 255;
      b = (b + state[a]) & 255;
      const swap = state[a];
      state[a] = state[b];
      state[b] = swap;
      out[n] = data[n] ^ state[(state[a] + state[b]) & 255];
    }
    return out;
  }

  /** Hex of RC4 (key: UTF-8 of `key`) over the UTF-8 bytes of `text`. */
  function rc4Hex(key, text) {
    return toHex(rc4(encoder.encode(String(key)), encoder.encode(String(text))));
  }

  /** Inverse of rc4Hex: the text whose rc4Hex under `key` is `hex`. */
  function rc4Unhex(key, hex) {
    return new TextDecoder().decode(rc4(encoder.encode(String(key)), fromHex(hex)));
  }

  // ---- the connection ----------------------------------------------------------------------

  class Connection {
    constructor(url, app, options) {
      if (typeof app !== "string" || app === "") {
        throw new TypeError("AppWS.Connection: app must be a non-empty string");
      }
      const o = options || {};
      this._win = hasOwn(o, "window") ? o.window : globalThis.window;
      this.app = app;
      this.url = toWebSocketUrl(url, this._pageUrl() || undefined);

      this._WebSocket = o.WebSocket || globalThis.WebSocket;
      if (typeof this._WebSocket !== "function") {
        throw new TypeError("AppWS.Connection: no WebSocket here; pass options.WebSocket");
      }
      const injectedFetch = o.fetch;
      this._fetch = injectedFetch
        ? (input, init) => injectedFetch(input, init)
        : typeof globalThis.fetch === "function"
          ? (input, init) => globalThis.fetch(input, init)
          : null;
      const setT = o.setTimeout;
      const clearT = o.clearTimeout;
      this._setTimeout = setT ? (fn, ms) => setT(fn, ms) : (fn, ms) => setTimeout(fn, ms);
      this._clearTimeout = clearT ? (id) => clearT(id) : (id) => clearTimeout(id);

      this._password = o.password == null ? null : String(o.password);
      if (this._password !== null) subtle(); // fail now, not at every login
      this._domain = o.domain == null ? "" : String(o.domain);
      this.loginSource = o.loginSource || "auto";
      if (!["auto", "myapps", "endpoint"].includes(this.loginSource)) {
        throw new TypeError('AppWS.Connection: loginSource must be "auto", "myapps" or "endpoint"');
      }
      this.loginUrl = o.loginUrl || "/appws/login";
      this._csrfToken = o.csrfToken;
      this._checkBuild = o.checkBuild === undefined ? true : o.checkBuild;
      this.keepAlive = o.keepAlive === undefined ? 60000 : Number(o.keepAlive) || 0;
      this.requestTimeout = o.requestTimeout === undefined ? 30000 : Number(o.requestTimeout) || 0;
      this.loginTimeout = o.loginTimeout === undefined ? 30000 : Number(o.loginTimeout) || 0;

      this.onConnected = o.onConnected || null;
      this.onError = o.onError || null;
      this.onClosed = o.onClosed || null;
      this.onMessage = o.onMessage || null;
      this.onNavigate = o.onNavigate || null;

      this.state = "connecting";
      this.login = null;
      this.sessionKey = null;
      this._stopped = false;
      this._backoff = BACKOFF_FIRST;
      this._slowReader = false; // the last socket was closed with SLOW_READER_CLOSE_CODE
      this._attempt = null; // {ws, challenge, loginSent, awaitingParent, fields, key}
      this._reconnectTimer = null;
      this._idleTimer = null;
      this._loginTimer = null;
      this._routes = new Map(); // src -> {deliver(msg), lost()}
      this._subscriptions = new Set();
      this._apiHandlers = new Map();
      this._srcPrefix = "aw" + Math.random().toString(36).slice(2, 8) + ".";
      this._srcCount = 0;
      this._logins = 0;
      this._listening = false;
      this._onWindowMessage = this._onWindowMessage.bind(this);

      this._connect();
    }

    // ---- public API ----

    send(msg, options) {
      checkMessage(msg);
      if (this.state !== "loggedIn") return false;
      const api = options && options.api;
      return this._sendFrame(api ? Object.assign({}, msg, { api: api }) : msg);
    }

    request(msg, options) {
      checkMessage(msg);
      const opts = options || {};
      if (this.state !== "loggedIn") {
        return Promise.reject(makeError("not-logged-in", "AppWS: not logged in (state " + this.state + ")"));
      }
      const src = this._newSrc();
      const out = Object.assign({}, msg, opts.api ? { api: opts.api } : {}, { src: src });
      const timeout = opts.timeout === undefined ? this.requestTimeout : Number(opts.timeout) || 0;
      return new Promise((resolve, reject) => {
        let timer = null;
        const finish = () => {
          this._routes.delete(src);
          if (timer !== null) this._clearTimeout(timer);
        };
        this._routes.set(src, {
          deliver(reply) {
            finish();
            if (isErrorReply(reply)) reject(replyError(reply));
            else resolve(reply);
          },
          lost() {
            finish();
            reject(makeError("closed", "AppWS: connection lost before the reply to " + msg.mt));
          },
        });
        if (timeout > 0) {
          timer = this._setTimeout(() => {
            timer = null;
            finish();
            reject(makeError("timeout", "AppWS: no reply to " + msg.mt + " within " + timeout + " ms"));
          }, timeout);
        }
        try {
          this._sendFrame(out);
        } catch (error) {
          finish(); // e.g. JSON.stringify on a cyclic object
          reject(error);
        }
      });
    }

    subscribe(msg, callback, options) {
      checkMessage(msg);
      if (typeof callback !== "function") throw new TypeError("AppWS: subscribe needs a callback");
      const api = options && options.api;
      const sub = {
        msg: api ? Object.assign({}, msg, { api: api }) : Object.assign({}, msg),
        callback: callback,
        src: null,
        awaitingAck: false,
        sends: 0,
        closed: false,
        settled: false,
        resolve: null,
        reject: null,
      };
      JSON.stringify(sub.msg); // throws now (cyclic object) rather than at every login
      const ready = new Promise((resolve, reject) => {
        sub.resolve = resolve;
        sub.reject = reject;
      });
      ready.catch(() => {}); // a page that never looks at ready gets no unhandled rejection
      const handle = {
        ready: ready,
        close: () => this._closeSubscription(sub, "AppWS: subscription closed"),
        get active() {
          return !sub.closed;
        },
      };
      if (this._stopped) {
        this._closeSubscription(sub, "AppWS: connection closed");
      } else {
        this._subscriptions.add(sub);
        if (this.state === "loggedIn") this._sendSubscription(sub);
      }
      return handle;
    }

    onApi(api, handler) {
      if (handler == null) {
        this._apiHandlers.delete(api);
        return () => {};
      }
      if (typeof handler !== "function") throw new TypeError("AppWS: onApi needs a function");
      this._apiHandlers.set(api, handler);
      return () => {
        if (this._apiHandlers.get(api) === handler) this._apiHandlers.delete(api);
      };
    }

    encrypt(seed, text) {
      return rc4Hex(seed + ":" + this._requireKey(), text);
    }

    decrypt(seed, hex) {
      return rc4Unhex(seed + ":" + this._requireKey(), hex);
    }

    async hash(seed, text) {
      return sha256Hex(seed + ":" + this._requireKey() + ":" + text);
    }

    close() {
      this._end();
    }

    // ---- socket lifecycle ----

    _pageUrl() {
      try {
        return (this._win && this._win.location && this._win.location.href) || null;
      } catch (_ignored) {
        return null;
      }
    }

    _connect() {
      this._reconnectTimer = null;
      if (this._stopped) return;
      this.state = "connecting";
      let ws;
      try {
        ws = new this._WebSocket(this.url);
      } catch (error) {
        this._fail(makeError("socket", "AppWS: cannot open " + this.url + ": " + error.message, { cause: error }));
        return;
      }
      const attempt = { ws: ws, challenge: null, loginSent: false, awaitingParent: false, fields: null, key: null };
      this._attempt = attempt;
      ws.onopen = () => {
        if (this._attempt === attempt) this._onOpen(attempt);
      };
      ws.onmessage = (event) => {
        if (this._attempt === attempt) this._onFrame(attempt, event);
      };
      ws.onclose = (event) => {
        if (this._attempt === attempt) this._onSocketClosed(attempt, event);
      };
      ws.onerror = () => {}; // a close event follows; onClosed reports it
    }

    _onOpen(attempt) {
      this.state = "open";
      const checkUrl = this._checkBuild === true ? this._pageUrl() : this._checkBuild || null;
      if (typeof checkUrl === "string" && checkUrl) this._sendFrame({ mt: "CheckBuild", url: checkUrl });
      this._sendFrame({ mt: "AppChallenge" });
      if (this.loginTimeout > 0) {
        this._loginTimer = this._setTimeout(() => {
          this._loginTimer = null;
          if (this._attempt !== attempt) return;
          this._reportError(makeError("login-timeout", "AppWS: not logged in within " + this.loginTimeout + " ms"));
          this._drop(attempt, "login timeout");
        }, this.loginTimeout);
      }
    }

    /** Close `attempt`'s socket ourselves and handle it as closed right away. */
    _drop(attempt, reason) {
      const ws = attempt.ws;
      detach(ws);
      try {
        ws.close(1000, reason);
      } catch (_ignored) {
        // already closed
      }
      this._onSocketClosed(attempt, { type: "close", code: 1000, reason: reason, wasClean: true });
    }

    _onSocketClosed(attempt, event) {
      if (this._attempt !== attempt) return;
      this._attempt = null;
      const ws = attempt.ws;
      detach(ws);
      this._clearTimer("_idleTimer");
      this._clearTimer("_loginTimer");
      this.sessionKey = null;
      const routes = Array.from(this._routes.values());
      this._routes.clear();
      for (const route of routes) route.lost();
      this._slowReader = event.code === SLOW_READER_CLOSE_CODE;
      const final = FINAL_CLOSE_CODES[event.code];
      if (final && !this._stopped) {
        this.state = "closed";
        this._emit("onClosed", event, { reconnect: false, delay: null });
        this._fail(makeError(final[0], final[1], { status: event.code }));
        return;
      }
      const reconnect = !this._stopped;
      let delay = null;
      if (reconnect) {
        if (RESTART_CLOSE_CODES.includes(event.code)) {
          delay = Math.floor(Math.random() * RESTART_JITTER); // the backoff stays as it is
        } else {
          delay = this._backoff;
          this._backoff = Math.min(this._backoff * 2, BACKOFF_MAX);
        }
        this.state = "connecting";
        this._reconnectTimer = this._setTimeout(() => this._connect(), delay);
      } else {
        this.state = "closed";
      }
      this._emit("onClosed", event, { reconnect: reconnect, delay: delay });
    }

    /** End for good. */
    _end() {
      if (this._stopped) return;
      this._stopped = true;
      this._clearTimer("_reconnectTimer");
      if (this._listening && this._win && typeof this._win.removeEventListener === "function") {
        this._win.removeEventListener("message", this._onWindowMessage);
      }
      this._listening = false;
      for (const sub of Array.from(this._subscriptions)) this._closeSubscription(sub, "AppWS: connection closed");
      if (this._attempt) this._drop(this._attempt, "closed");
      else this.state = "closed";
    }

    _fail(error) {
      error.fatal = true;
      this._reportError(error);
      this._end();
    }

    _clearTimer(name) {
      if (this[name] !== null) {
        this._clearTimeout(this[name]);
        this[name] = null;
      }
    }

    _sendFrame(msg) {
      const ws = this._attempt && this._attempt.ws;
      if (!ws || ws.readyState !== OPEN) return false;
      ws.send(JSON.stringify(msg));
      this._armKeepAlive();
      return true;
    }

    _armKeepAlive() {
      this._clearTimer("_idleTimer");
      if (this.keepAlive > 0) {
        this._idleTimer = this._setTimeout(() => {
          this._idleTimer = null;
          this._sendFrame({ mt: "KeepAlive" });
        }, this.keepAlive);
      }
    }

    // ---- handshake ----

    _onFrame(attempt, event) {
      const msg = parseFrame(event && event.data);
      if (msg === null) return;
      if (this.state === "loggedIn") {
        this._route(msg);
        return;
      }
      if (msg.mt === "CheckBuildResult") {
        if (typeof msg.url === "string" && msg.url) this._navigate(msg.url);
      } else if (msg.mt === "AppChallengeResult") {
        if (attempt.challenge === null) this._onChallenge(attempt, msg);
      } else if (msg.mt === "AppLoginResult") {
        if (attempt.loginSent) this._onLoginResult(attempt, msg);
      }
      // anything else before login is dropped
    }

    _navigate(url) {
      this._end();
      if (typeof this.onNavigate === "function") {
        this._emit("onNavigate", url);
      } else if (this._win && this._win.location && typeof this._win.location.replace === "function") {
        this._win.location.replace(url);
      }
    }

    _onChallenge(attempt, msg) {
      if (typeof msg.challenge !== "string" || msg.challenge === "") {
        this._reportError(makeError("bad-challenge", "AppWS: AppChallengeResult without a challenge", { reply: msg }));
        this._drop(attempt, "bad challenge");
        return;
      }
      attempt.challenge = msg.challenge;
      if (this._password !== null) this._loginWithPassword(attempt);
      else if (this.loginSource === "myapps" || (this.loginSource === "auto" && this._inFrame())) {
        this._loginViaParent(attempt);
      } else this._loginViaEndpoint(attempt);
    }

    _inFrame() {
      try {
        const win = this._win;
        return Boolean(win && win.parent && win.parent !== win);
      } catch (_ignored) {
        return false;
      }
    }

    _sendLogin(attempt, fields) {
      attempt.loginSent = true;
      attempt.fields = fields;
      this._sendFrame(Object.assign({ mt: "AppLogin" }, fields));
    }

    _loginWithPassword(attempt) {
      const fields = { app: this.app, domain: this._domain, sip: this.app, guid: ZERO_GUID, dn: "Admin" };
      Promise.all([
        loginDigest(fields, attempt.challenge, this._password),
        sessionKey(attempt.challenge, this._password),
      ]).then(
        ([digest, key]) => {
          if (this._attempt !== attempt) return;
          attempt.key = key;
          this._sendLogin(attempt, Object.assign(fields, { digest: digest, pbxObj: this.app }));
        },
        (error) => {
          if (this._attempt === attempt) this._fail(makeError("digest", "AppWS: " + error.message, { cause: error }));
        },
      );
    }

    _loginViaParent(attempt) {
      const win = this._win;
      if (!this._listening && win && typeof win.addEventListener === "function") {
        win.addEventListener("message", this._onWindowMessage);
        this._listening = true;
      }
      attempt.awaitingParent = true;
      try {
        // A JSON string, not an object: myApps (like the vendor's own App library) ignores
        // every message whose data is not a string, so an object never gets a login.
        const ask = { mt: "getLogin", app: this.app, challenge: attempt.challenge };
        win.parent.postMessage(JSON.stringify(ask), "*");
      } catch (error) {
        this._fail(makeError("no-login-source", "AppWS: cannot ask the parent window for a login: " + error.message));
      }
    }

    _onWindowMessage(event) {
      const attempt = this._attempt;
      if (!attempt || !attempt.awaitingParent || !event) return;
      const win = this._win;
      if (event.source !== win.parent && event.source !== win.top) return;
      // myApps answers with a JSON string; a posted object is accepted too.
      let data = event.data;
      if (typeof data === "string") {
        try {
          data = JSON.parse(data);
        } catch (_ignored) {
          return;
        }
      }
      if (!isObject(data) || data.mt !== "Login" || data.pbxObj !== this.app) return;
      attempt.awaitingParent = false;
      if (data.error || (typeof data.errorText === "string" && data.errorText)) {
        const text = typeof data.errorText === "string" && data.errorText ? data.errorText : "myApps refused the login";
        this._reportError(makeError("login-refused", text, { reply: data }));
        this._drop(attempt, "login refused");
        return;
      }
      this._sendLogin(attempt, pick(data, LOGIN_FIELDS));
    }

    _csrf() {
      const token = this._csrfToken;
      if (typeof token === "function") return token();
      if (typeof token === "string") return token;
      return readCookie(this._win, "csrftoken");
    }

    _loginViaEndpoint(attempt) {
      const fetchFn = this._fetch;
      if (!fetchFn) {
        this._fail(makeError("no-login-source", "AppWS: no password, no parent window and no fetch: cannot log in"));
        return;
      }
      const headers = { "Content-Type": "application/json" };
      let request;
      try {
        const token = this._csrf();
        if (token) headers["X-CSRFToken"] = token;
        request = Promise.resolve(
          fetchFn(this.loginUrl, {
            method: "POST",
            credentials: "same-origin",
            headers: headers,
            body: JSON.stringify({ app: this.app, challenge: attempt.challenge }),
          }),
        );
      } catch (error) {
        request = Promise.reject(error);
      }
      request
        .then(async (response) => {
          let body = null;
          try {
            body = await response.json();
          } catch (_ignored) {
            // not JSON (e.g. Django's CSRF failure page)
          }
          if (this._attempt !== attempt) return;
          if (!response.ok) {
            const status = response.status;
            const code = body && typeof body.error === "string" ? body.error : "http-" + status;
            const text =
              body && typeof body.errorText === "string" ? body.errorText : "login issuer answered HTTP " + status;
            const error = makeError(code, text, { status: status, reply: body });
            if (FATAL_ISSUER_STATUS.includes(status)) {
              this._fail(error);
            } else {
              this._reportError(error);
              this._drop(attempt, "login refused");
            }
            return;
          }
          if (!isObject(body)) {
            this._reportError(makeError("bad-login", "AppWS: the login issuer's answer is not a JSON object"));
            this._drop(attempt, "bad login");
            return;
          }
          this._sendLogin(attempt, pick(body, LOGIN_FIELDS));
        })
        .catch((error) => {
          if (this._attempt !== attempt) return;
          this._reportError(makeError("fetch-failed", "AppWS: login request failed: " + error.message, { cause: error }));
          this._drop(attempt, "login failed");
        });
    }

    _onLoginResult(attempt, msg) {
      this._clearTimer("_loginTimer");
      if (msg.ok !== true) {
        const text = typeof msg.errorText === "string" && msg.errorText ? msg.errorText : "login refused";
        this._reportError(makeError("login-refused", text, { reply: msg }));
        this._drop(attempt, "login refused");
        return;
      }
      const fields = attempt.fields || {};
      this.state = "loggedIn";
      if (!this._slowReader) this._backoff = BACKOFF_FIRST;
      this.sessionKey = attempt.key;
      this.login = {
        app: fields.app == null ? this.app : fields.app,
        sip: fields.sip,
        dn: fields.dn,
        domain: fields.domain,
        appDomain: msg.domain,
        info: fields.info,
        reconnected: this._logins > 0,
      };
      this._logins++;
      for (const sub of Array.from(this._subscriptions)) this._sendSubscription(sub);
      this._emit("onConnected", this.login);
    }

    // ---- routing ----

    _newSrc() {
      this._srcCount++;
      return this._srcPrefix + this._srcCount;
    }

    _route(msg) {
      const src = msg.src;
      if (typeof src === "string") {
        const route = this._routes.get(src);
        if (route) {
          route.deliver(msg);
          return;
        }
        if (src.startsWith(this._srcPrefix)) return; // ours, finished: never for the general handler
      }
      if (typeof msg.api === "string") {
        const handler = this._apiHandlers.get(msg.api);
        if (handler) {
          this._call(handler, msg);
          return;
        }
      }
      this._emit("onMessage", msg);
    }

    _sendSubscription(sub) {
      const src = this._newSrc();
      sub.src = src;
      sub.awaitingAck = true;
      sub.sends++;
      this._routes.set(src, {
        deliver: (msg) => this._deliverToSubscription(sub, msg),
        lost: () => {
          sub.src = null;
          sub.awaitingAck = false;
        },
      });
      this._sendFrame(Object.assign({}, sub.msg, { src: src }));
    }

    _deliverToSubscription(sub, msg) {
      const ack = sub.awaitingAck;
      const meta = { ack: ack, resubscribed: ack && sub.sends > 1 };
      sub.awaitingAck = false;
      if (ack && isErrorReply(msg)) {
        const error = replyError(msg);
        this._closeSubscription(sub, null);
        if (!sub.settled) {
          sub.settled = true;
          sub.reject(error);
        }
      } else if (ack && !sub.settled) {
        sub.settled = true;
        sub.resolve(msg);
      }
      this._call(sub.callback, msg, meta);
    }

    _closeSubscription(sub, text) {
      if (sub.closed) return;
      sub.closed = true;
      this._subscriptions.delete(sub);
      if (sub.src !== null) this._routes.delete(sub.src);
      if (!sub.settled && text) {
        sub.settled = true;
        sub.reject(makeError("closed", text));
      }
    }

    _requireKey() {
      if (!this.sessionKey) {
        throw makeError("no-session-key", "AppWS: no session key (only password logins have one)");
      }
      return this.sessionKey;
    }

    // ---- calling the page ----

    _call(fn, ...args) {
      try {
        fn.apply(this, args);
      } catch (error) {
        rethrowLater(error); // reported like any uncaught error, without breaking our state
      }
    }

    _emit(name, ...args) {
      const fn = this[name];
      if (typeof fn === "function") this._call(fn, ...args);
    }

    _reportError(error) {
      if (typeof this.onError === "function") this._emit("onError", error);
      else if (typeof console !== "undefined") console.error(error);
    }
  }

  function checkMessage(msg) {
    if (!isObject(msg) || typeof msg.mt !== "string" || msg.mt === "") {
      throw new TypeError("AppWS: a message is an object with a string mt");
    }
  }

  return {
    Connection: Connection,
    loginDigest: loginDigest,
    sessionKey: sessionKey,
    sha256Hex: sha256Hex,
    rc4Hex: rc4Hex,
    rc4Unhex: rc4Unhex,
    toWebSocketUrl: toWebSocketUrl,
  };
});
