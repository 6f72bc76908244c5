// Fakes for the browser client's tests: WebSocket, timers, window, fetch.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
export const AppWS = require("../../appws/static/appws/appws.js");

/** A fresh fake WebSocket class; `Socket.all` lists every instance in creation order. */
export function socketClass() {
  class FakeSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = []; // parsed frames, in order
      this.closedWith = null; // {code, reason} when the client called close()
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      FakeSocket.all.push(this);
    }

    send(text) {
      if (this.readyState !== 1) throw new Error("send on a socket that is not open");
      this.sent.push(JSON.parse(text));
    }

    close(code, reason) {
      this.closedWith = { code, reason };
      this.readyState = 3;
    }

    // ---- the test plays the server ----
    open() {
      this.readyState = 1;
      if (this.onopen) this.onopen({ type: "open" });
    }

    push(msg) {
      if (this.onmessage) this.onmessage({ data: typeof msg === "string" ? msg : JSON.stringify(msg) });
    }

    pushRaw(data) {
      if (this.onmessage) this.onmessage({ data });
    }

    serverClose(code = 1006, reason = "") {
      this.readyState = 3;
      if (this.onclose) this.onclose({ type: "close", code, reason, wasClean: code !== 1006 });
    }

    mts() {
      return this.sent.map((m) => m.mt);
    }

    last() {
      return this.sent[this.sent.length - 1];
    }
  }
  FakeSocket.all = [];
  Object.defineProperty(FakeSocket, "latest", { get: () => FakeSocket.all[FakeSocket.all.length - 1] });
  return FakeSocket;
}

/** Manual clock: nothing runs until advance(). */
export function fakeTimers() {
  let now = 0;
  let seq = 0;
  const timers = new Map();
  return {
    setTimeout(fn, ms) {
      seq += 1;
      timers.set(seq, { fn, at: now + ms, ms });
      return seq;
    },
    clearTimeout(id) {
      timers.delete(id);
    },
    /** Delays (ms) of the timers still pending, in creation order. */
    pending() {
      return [...timers.values()].map((t) => t.ms);
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        let next = null;
        for (const [id, t] of timers) {
          if (t.at <= end && (next === null || t.at < next[1].at)) next = [id, t];
        }
        if (next === null) break;
        timers.delete(next[0]);
        now = next[1].at;
        next[1].fn();
      }
      now = end;
    },
  };
}

/** A window; framed: inside an iframe whose parent records postMessage calls. */
export function fakeWindow({ framed = false, href = "https://site.test/apps/abc123/notes.htm", cookie = "" } = {}) {
  const listeners = new Set();
  const win = {
    location: {
      href,
      replaced: [],
      replace(url) {
        this.replaced.push(url);
      },
    },
    document: { cookie },
    posted: [],
    addEventListener(type, fn) {
      if (type === "message") listeners.add(fn);
    },
    removeEventListener(type, fn) {
      if (type === "message") listeners.delete(fn);
    },
    listenerCount: () => listeners.size,
    /** Deliver a `message` event, by default from the parent. */
    deliver(data, source = win.parent) {
      for (const fn of [...listeners]) fn({ type: "message", data, source });
    },
  };
  if (framed) {
    win.parent = {
      postMessage(data, targetOrigin) {
        win.posted.push({ data, targetOrigin });
      },
    };
    win.top = win.parent;
  } else {
    win.parent = win;
    win.top = win;
  }
  return win;
}

/** fetch answering every call with `status` and JSON `body`; records the calls. */
export function fakeFetch(status, body) {
  const calls = [];
  const fetch = (url, init) => {
    calls.push({ url, init, body: JSON.parse(init.body) });
    return Promise.resolve({
      ok: status >= 200 && status < 300,
      status,
      json: async () => {
        if (typeof body === "string") throw new SyntaxError("not JSON");
        return body;
      },
    });
  };
  fetch.calls = calls;
  return fetch;
}

/** Resolves once pred() is true (real event-loop turns: WebCrypto and fetch settle). */
export async function until(pred, what = "condition") {
  for (let i = 0; i < 500; i++) {
    if (pred()) return;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  throw new Error("timed out waiting for " + what);
}

/** Let pending promise callbacks run. */
export async function settle() {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * A Connection wired to fakes. Collects what the handlers saw in h.errors, h.closes,
 * h.connected, h.messages, h.navigated. Options override the defaults.
 */
export function setup(options = {}) {
  const Socket = socketClass();
  const timers = fakeTimers();
  const h = { Socket, timers, errors: [], closes: [], connected: [], messages: [], navigated: [] };
  const win = "window" in options ? options.window : fakeWindow();
  h.window = win;
  h.conn = new AppWS.Connection(options.url || "https://site.test/apps/notes", options.app || "notes", {
    WebSocket: Socket,
    window: win,
    fetch: options.fetch || fakeFetch(500, { error: "unused", errorText: "no fetch expected" }),
    setTimeout: timers.setTimeout,
    clearTimeout: timers.clearTimeout,
    onError: (e) => h.errors.push(e),
    onClosed: (event, info) => h.closes.push({ event, info }),
    onConnected: (login) => h.connected.push(login),
    onMessage: (msg) => h.messages.push(msg),
    onNavigate: (url) => h.navigated.push(url),
    ...options,
  });
  return h;
}

export const CHALLENGE = "0123456789abcdef";

/** Open the latest socket, answer the challenge, wait for AppLogin, answer ok. */
export async function logIn(h, { domain = "apps.example.com" } = {}) {
  const ws = h.Socket.latest;
  ws.open();
  ws.push({ mt: "AppChallengeResult", challenge: CHALLENGE });
  await until(() => ws.mts().includes("AppLogin"), "AppLogin");
  ws.push({ mt: "AppLoginResult", ok: true, domain });
  return ws;
}
