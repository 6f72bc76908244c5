// Unit tests of the browser client (appws/static/appws/appws.js): node --test tests/js/
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";

import { AppWS, CHALLENGE, fakeFetch, fakeWindow, logIn, settle, setup, until } from "./helpers.mjs";

const PASSWORD = "pwd";
const KEY = "d58c77eae0c1c1f37a9f545e207643c926ad9ea4932016a83a4a01029de37760";

const sha256 = (text) => createHash("sha256").update(text, "utf8").digest("hex");

/** A password-logged-in connection (the usual start of the messaging tests). */
async function loggedIn(options = {}) {
  const h = setup({ password: PASSWORD, ...options });
  const ws = await logIn(h);
  assert.equal(h.conn.state, "loggedIn");
  return { h, ws, conn: h.conn };
}

describe("module", () => {
  test("loads as CommonJS and exports the API", () => {
    for (const name of ["Connection", "loginDigest", "sessionKey", "sha256Hex", "rc4Hex", "rc4Unhex", "toWebSocketUrl"]) {
      assert.equal(typeof AppWS[name], "function", name);
    }
  });

  test("defines the global AppWS when there is no module object (classic <script>)", async () => {
    const { readFile } = await import("node:fs/promises");
    const vm = await import("node:vm");
    const source = await readFile(new URL("../../appws/static/appws/appws.js", import.meta.url), "utf8");
    const context = vm.createContext({ TextEncoder, TextDecoder, URL });
    vm.runInContext(source, context);
    assert.equal(typeof vm.runInContext("AppWS.Connection", context), "function");
  });

  test("http(s) URLs become ws(s); relative ones resolve against the page", () => {
    assert.equal(AppWS.toWebSocketUrl("http://h.test/apps/notes"), "ws://h.test/apps/notes");
    assert.equal(AppWS.toWebSocketUrl("https://h.test:8443/apps/notes"), "wss://h.test:8443/apps/notes");
    assert.equal(AppWS.toWebSocketUrl("wss://h.test/a"), "wss://h.test/a");
    assert.equal(AppWS.toWebSocketUrl("/apps/notes", "https://h.test/apps/1/x.htm"), "wss://h.test/apps/notes");
    assert.throws(() => AppWS.toWebSocketUrl("ftp://h.test/x"), TypeError);
    const h = setup({ url: "/apps/notes", password: PASSWORD });
    assert.equal(h.Socket.latest.url, "wss://site.test/apps/notes");
    assert.equal(h.conn.url, "wss://site.test/apps/notes");
  });
});

describe("digests and session key", () => {
  test("login digests equal the vendor's test vectors", async () => {
    const vectors = [
      [{ app: "pbxadminapi" }, "a205299ed2ef2786c311e0be1b14db343f2cadd906a6ae7b564eee34bda5e9a1"],
      [{ app: "pbxadminapi", info: {} }, "57b23fe824b9222a7ac879597cb509bcdc865a1bfeb057d9d12118cef0c3ba34"],
      [
        { app: "pbxadminapi", domain: "", sip: null, info: { cn: "Test User" } },
        "96db3c3f657230c2b68194becc6d2a77f05de9f79f01fc81e9ca0fb196b10d9d",
      ],
      [
        {
          app: "innovaphone-users",
          domain: "example.com",
          sip: "administrator",
          guid: "0123456789abcdef0123456789abcdef",
          dn: "Administrator User",
          info: {
            appobj: "users",
            apps: [{ name: "users" }, { name: "profile" }],
            appurl: "https://1.2.3.4/example.com/usersapp/innovaphone-users",
            unlicensed: true,
          },
        },
        "ef1b811ffaa8f9255c39c653d8fb26b4687b2d8c4d9ac91b4821bff6bae3ff44",
      ],
    ];
    for (const [fields, digest] of vectors) {
      assert.equal(await AppWS.loginDigest(fields, CHALLENGE, PASSWORD), digest);
    }
    // info: null is absent, exactly like a missing info
    assert.equal(await AppWS.loginDigest({ app: "pbxadminapi", info: null }, CHALLENGE, PASSWORD), vectors[0][1]);
  });

  test("session key, encrypt/decrypt and hash vectors", async () => {
    assert.equal(await AppWS.sessionKey(CHALLENGE, PASSWORD), KEY);
    assert.equal(AppWS.rc4Hex("seed1:" + KEY, "hello"), "970a852834");
    assert.equal(AppWS.rc4Unhex("seed1:" + KEY, "970a852834"), "hello");
    assert.equal(AppWS.rc4Unhex("k", AppWS.rc4Hex("k", "grüße ✓ 😀")), "grüße ✓ 😀");
    assert.equal(AppWS.rc4Hex("Key", "Plaintext"), "bbf316e8d940af0ad3"); // the classic RC4 test vector
    assert.throws(() => AppWS.rc4Unhex("k", "abc"), TypeError);
    assert.equal(await AppWS.sha256Hex("abc"), sha256("abc"));
  });

  test("a password login exposes the session key helpers", async () => {
    const { conn } = await loggedIn();
    assert.equal(conn.sessionKey, KEY);
    assert.equal(conn.encrypt("seed1", "hello"), "970a852834");
    assert.equal(conn.decrypt("seed1", "970a852834"), "hello");
    assert.equal(await conn.hash("seed1", "hello"), sha256("seed1:" + KEY + ":hello"));
  });

  test("without a password there is no session key", async () => {
    const fetch = fakeFetch(200, { app: "notes", sip: "alice", digest: "x" });
    const h = setup({ fetch });
    await logIn(h);
    assert.equal(h.conn.sessionKey, null);
    assert.throws(() => h.conn.encrypt("s", "t"), (e) => e.code === "no-session-key");
    await assert.rejects(h.conn.hash("s", "t"), (e) => e.code === "no-session-key");
  });
});

describe("handshake", () => {
  test("CheckBuild and AppChallenge go out back to back on open", () => {
    const h = setup({ password: PASSWORD });
    const ws = h.Socket.latest;
    assert.equal(h.conn.state, "connecting");
    ws.open();
    assert.equal(h.conn.state, "open");
    assert.deepEqual(ws.sent, [
      { mt: "CheckBuild", url: "https://site.test/apps/abc123/notes.htm" },
      { mt: "AppChallenge" },
    ]);
  });

  test("checkBuild false sends only AppChallenge; a string is checked instead of location", () => {
    const off = setup({ password: PASSWORD, checkBuild: false });
    off.Socket.latest.open();
    assert.deepEqual(off.Socket.latest.sent, [{ mt: "AppChallenge" }]);
    const custom = setup({ password: PASSWORD, checkBuild: "https://x.test/a/b.htm" });
    custom.Socket.latest.open();
    assert.deepEqual(custom.Socket.latest.sent[0], { mt: "CheckBuild", url: "https://x.test/a/b.htm" });
    const noWindow = setup({ password: PASSWORD, window: undefined });
    noWindow.Socket.latest.open();
    assert.deepEqual(noWindow.Socket.latest.sent, [{ mt: "AppChallenge" }]);
  });

  test("CheckBuildResult with a url navigates and ends the connection", async () => {
    const h = setup({ password: PASSWORD });
    const ws = h.Socket.latest;
    ws.open();
    ws.push({ mt: "CheckBuildResult", url: "https://site.test/apps/fff000/notes.htm" });
    assert.deepEqual(h.navigated, ["https://site.test/apps/fff000/notes.htm"]);
    assert.equal(h.conn.state, "closed");
    assert.ok(ws.closedWith, "the client closed the socket");
    assert.equal(h.closes.length, 1);
    assert.equal(h.closes[0].info.reconnect, false);
    ws.push({ mt: "AppChallengeResult", challenge: CHALLENGE }); // ignored: detached
    await settle();
    h.timers.advance(120000);
    assert.equal(h.Socket.all.length, 1, "no reconnect");
    assert.ok(!ws.mts().includes("AppLogin"));
  });

  test("without onNavigate, CheckBuildResult replaces the location", () => {
    const win = fakeWindow();
    const h = setup({ password: PASSWORD, window: win, onNavigate: undefined });
    h.Socket.latest.open();
    h.Socket.latest.push({ mt: "CheckBuildResult", url: "https://site.test/apps/1/notes.htm" });
    assert.deepEqual(win.location.replaced, ["https://site.test/apps/1/notes.htm"]);
  });

  test("CheckBuildResult without a url carries on", async () => {
    const h = setup({ password: PASSWORD });
    const ws = h.Socket.latest;
    ws.open();
    ws.push({ mt: "CheckBuildResult" });
    ws.push({ mt: "AppChallengeResult", challenge: CHALLENGE });
    await until(() => ws.mts().includes("AppLogin"));
    assert.deepEqual(h.navigated, []);
  });

  test("password login: the vendor's fields and a digest over them", async () => {
    const h = setup({ password: PASSWORD, app: "pbxadminapi" });
    const ws = h.Socket.latest;
    ws.open();
    ws.push({ mt: "AppChallengeResult", challenge: CHALLENGE });
    await until(() => ws.mts().includes("AppLogin"));
    const login = ws.last();
    const fields = { app: "pbxadminapi", domain: "", sip: "pbxadminapi", guid: "0".repeat(32), dn: "Admin" };
    assert.deepEqual(login, {
      mt: "AppLogin",
      ...fields,
      digest: await AppWS.loginDigest(fields, CHALLENGE, PASSWORD),
      pbxObj: "pbxadminapi",
    });
    assert.equal(login.digest, sha256(`pbxadminapi::pbxadminapi:${"0".repeat(32)}:Admin:${CHALLENGE}:pwd`));
    ws.push({ mt: "AppLoginResult", ok: true, domain: "apps.example.com" });
    assert.equal(h.conn.state, "loggedIn");
    assert.deepEqual(h.connected, [
      {
        app: "pbxadminapi",
        sip: "pbxadminapi",
        dn: "Admin",
        domain: "",
        appDomain: "apps.example.com",
        info: undefined,
        reconnected: false,
      },
    ]);
    assert.equal(h.conn.login, h.connected[0]);
  });

  test("a password wins over an iframe and over the endpoint", async () => {
    const fetch = fakeFetch(200, {});
    const win = fakeWindow({ framed: true });
    const h = setup({ password: PASSWORD, window: win, fetch });
    await logIn(h);
    assert.equal(win.posted.length, 0);
    assert.equal(fetch.calls.length, 0);
  });

  test("anything but handshake replies is dropped before login", async () => {
    const h = setup({ password: PASSWORD });
    const ws = h.Socket.latest;
    ws.open();
    ws.push({ mt: "Error", error: "not-json", errorText: "x" });
    ws.push({ mt: "SomethingElse", src: "x" });
    ws.push({ mt: "AppLoginResult", ok: true }); // no AppLogin sent yet: ignored
    assert.equal(h.conn.state, "open");
    await logIn(h);
    assert.deepEqual(h.messages, []);
  });

  test("AppLoginResult ok:false reports, closes and reconnects after 1 s", async () => {
    const h = setup({ password: PASSWORD });
    const ws = h.Socket.latest;
    ws.open();
    ws.push({ mt: "AppChallengeResult", challenge: CHALLENGE });
    await until(() => ws.mts().includes("AppLogin"));
    ws.push({ mt: "AppLoginResult", ok: false, errorText: "wrong digest" });
    assert.equal(h.errors.length, 1);
    assert.equal(h.errors[0].code, "login-refused");
    assert.equal(h.errors[0].text, "wrong digest");
    assert.ok(ws.closedWith);
    assert.equal(h.conn.state, "connecting");
    assert.deepEqual(h.closes.map((c) => c.info), [{ reconnect: true, delay: 1000 }]);
    h.timers.advance(999);
    assert.equal(h.Socket.all.length, 1);
    h.timers.advance(1);
    assert.equal(h.Socket.all.length, 2);
  });

  test("no login within loginTimeout: report, close, reconnect", () => {
    const h = setup({ password: PASSWORD, loginTimeout: 5000 });
    h.Socket.latest.open();
    h.timers.advance(5000);
    assert.equal(h.errors[0].code, "login-timeout");
    assert.ok(h.Socket.all[0].closedWith);
    assert.equal(h.conn.state, "connecting");
    h.timers.advance(1000);
    assert.equal(h.Socket.all.length, 2);
  });
});

describe("login from myApps (page in an iframe)", () => {
  const posted = {
    mt: "Login",
    app: "notes",
    domain: "pbx.example.com",
    sip: "alice",
    guid: "11112222333344445555666677778888",
    dn: "Alice",
    info: { appobj: "notes", cn: "Alice" },
    digest: "d".repeat(64),
    pbxObj: "notes",
    salt: "s1",
    key: "k1",
    src: "myapps-src",
  };

  test("asks the parent, ignores foreign logins, sends the matching one on as AppLogin", async () => {
    const win = fakeWindow({ framed: true });
    const h = setup({ window: win });
    const ws = h.Socket.latest;
    ws.open();
    ws.push({ mt: "AppChallengeResult", challenge: CHALLENGE });
    assert.equal(win.posted.length, 1);
    assert.equal(win.posted[0].targetOrigin, "*");
    assert.equal(typeof win.posted[0].data, "string", "myApps reads string messages only");
    assert.deepEqual(JSON.parse(win.posted[0].data), { mt: "getLogin", app: "notes", challenge: CHALLENGE });

    win.deliver({ ...posted, pbxObj: "other-app" }); // another App's login
    win.deliver({ ...posted }, { postMessage() {} }); // not from the parent
    win.deliver({ ...posted, mt: "Other" });
    win.deliver("not json");
    assert.ok(!ws.mts().includes("AppLogin"));

    win.deliver({ ...posted });
    assert.deepEqual(ws.last(), {
      mt: "AppLogin",
      app: "notes",
      domain: "pbx.example.com",
      sip: "alice",
      guid: "11112222333344445555666677778888",
      dn: "Alice",
      digest: "d".repeat(64),
      info: { appobj: "notes", cn: "Alice" },
      pbxObj: "notes",
    });
    win.deliver({ ...posted }); // a second one is not sent again
    assert.equal(ws.mts().filter((mt) => mt === "AppLogin").length, 1);
    ws.push({ mt: "AppLoginResult", ok: true, domain: "apps.example.com" });
    assert.deepEqual(h.connected[0], {
      app: "notes",
      sip: "alice",
      dn: "Alice",
      domain: "pbx.example.com",
      appDomain: "apps.example.com",
      info: { appobj: "notes", cn: "Alice" },
      reconnected: false,
    });
    h.conn.close();
    assert.equal(win.listenerCount(), 0, "the message listener goes with the connection");
  });

  test("a posted login arriving as a JSON string is accepted too", () => {
    const win = fakeWindow({ framed: true });
    const h = setup({ window: win });
    h.Socket.latest.open();
    h.Socket.latest.push({ mt: "AppChallengeResult", challenge: CHALLENGE });
    win.deliver(JSON.stringify({ ...posted, pbxObj: "other-app" })); // another App's login
    win.deliver(JSON.stringify({ ...posted, mt: "Other" }));
    assert.ok(!h.Socket.latest.mts().includes("AppLogin"));
    win.deliver(JSON.stringify(posted));
    assert.equal(h.Socket.latest.last().mt, "AppLogin");
    assert.equal(h.Socket.latest.last().digest, posted.digest);
  });

  test("a posted login error arriving as a JSON string is reported", () => {
    const win = fakeWindow({ framed: true });
    const h = setup({ window: win });
    h.Socket.latest.open();
    h.Socket.latest.push({ mt: "AppChallengeResult", challenge: CHALLENGE });
    win.deliver(JSON.stringify({ mt: "Login", pbxObj: "notes", error: 1, errorText: "no such App" }));
    assert.ok(!h.Socket.latest.mts().includes("AppLogin"));
    assert.equal(h.errors.at(-1).code, "login-refused");
    assert.equal(h.errors.at(-1).text, "no such App");
  });

  test("a posted login with an error is reported and the socket closed", () => {
    const win = fakeWindow({ framed: true });
    const h = setup({ window: win });
    const ws = h.Socket.latest;
    ws.open();
    ws.push({ mt: "AppChallengeResult", challenge: CHALLENGE });
    win.deliver({ mt: "Login", pbxObj: "notes", error: 5, errorText: "no access" });
    assert.equal(h.errors.length, 1);
    assert.equal(h.errors[0].text, "no access");
    assert.ok(!ws.mts().includes("AppLogin"));
    assert.ok(ws.closedWith);
    assert.equal(h.closes[0].info.reconnect, true);
  });
});

describe("login from the site's endpoint (top-level page)", () => {
  const issued = {
    app: "notes",
    domain: "example.com",
    sip: "alice",
    guid: "3f1c0d9e6b7a5a4c9b2e8d7f6a5b4c3d",
    dn: "Alice Liddell",
    info: { appobj: "notes", cn: "Alice Liddell", apps: [{ name: "notes" }] },
    pbxObj: "notes",
    digest: "e".repeat(64),
  };

  test("POSTs app and challenge with the CSRF cookie and sends the answer as AppLogin", async () => {
    const fetch = fakeFetch(200, issued);
    const win = fakeWindow({ cookie: "sessionid=abc; csrftoken=tok%2Ben; other=1" });
    const h = setup({ window: win, fetch });
    const ws = h.Socket.latest;
    ws.open();
    ws.push({ mt: "AppChallengeResult", challenge: CHALLENGE });
    await until(() => ws.mts().includes("AppLogin"));
    assert.equal(fetch.calls.length, 1);
    const call = fetch.calls[0];
    assert.equal(call.url, "/appws/login");
    assert.equal(call.init.method, "POST");
    assert.equal(call.init.credentials, "same-origin");
    assert.deepEqual(call.init.headers, { "Content-Type": "application/json", "X-CSRFToken": "tok+en" });
    assert.deepEqual(call.body, { app: "notes", challenge: CHALLENGE });
    assert.deepEqual(ws.last(), { mt: "AppLogin", ...issued });
    ws.push({ mt: "AppLoginResult", ok: true, domain: "example.com" });
    assert.equal(h.connected[0].dn, "Alice Liddell");
    assert.equal(h.connected[0].sip, "alice");
    assert.deepEqual(h.connected[0].info, issued.info);
  });

  test("loginUrl and csrfToken (string or function) options", async () => {
    for (const csrfToken of ["given", () => "given"]) {
      const fetch = fakeFetch(200, issued);
      const h = setup({ fetch, loginUrl: "/custom/login", csrfToken });
      h.Socket.latest.open();
      h.Socket.latest.push({ mt: "AppChallengeResult", challenge: CHALLENGE });
      await until(() => fetch.calls.length === 1);
      assert.equal(fetch.calls[0].url, "/custom/login");
      assert.equal(fetch.calls[0].init.headers["X-CSRFToken"], "given");
    }
  });

  test("no CSRF cookie: no X-CSRFToken header", async () => {
    const fetch = fakeFetch(200, issued);
    const h = setup({ fetch });
    h.Socket.latest.open();
    h.Socket.latest.push({ mt: "AppChallengeResult", challenge: CHALLENGE });
    await until(() => fetch.calls.length === 1);
    assert.deepEqual(fetch.calls[0].init.headers, { "Content-Type": "application/json" });
  });

  for (const [status, error] of [
    [401, "not-authenticated"],
    [403, "forbidden"],
    [404, "unknown-app"],
  ]) {
    test(`a ${status} from the issuer is fatal: reported once, no reconnect`, async () => {
      const fetch = fakeFetch(status, { error, errorText: `refused with ${status}` });
      const h = setup({ fetch });
      const ws = h.Socket.latest;
      ws.open();
      ws.push({ mt: "AppChallengeResult", challenge: CHALLENGE });
      await until(() => h.errors.length === 1);
      const e = h.errors[0];
      assert.equal(e.status, status);
      assert.equal(e.code, error);
      assert.equal(e.text, `refused with ${status}`);
      assert.equal(e.fatal, true);
      assert.equal(h.conn.state, "closed");
      assert.ok(ws.closedWith);
      assert.deepEqual(h.closes.map((c) => c.info.reconnect), [false]);
      h.timers.advance(600000);
      assert.equal(h.Socket.all.length, 1);
      assert.equal(fetch.calls.length, 1);
    });
  }

  test("Django's HTML CSRF 403 is fatal too", async () => {
    const h = setup({ fetch: fakeFetch(403, "<html>CSRF verification failed</html>") });
    h.Socket.latest.open();
    h.Socket.latest.push({ mt: "AppChallengeResult", challenge: CHALLENGE });
    await until(() => h.errors.length === 1);
    assert.equal(h.errors[0].code, "http-403");
    assert.equal(h.conn.state, "closed");
  });

  test("a 500 from the issuer is reported and retried with backoff", async () => {
    const fetch = fakeFetch(500, { error: "internal", errorText: "cannot decrypt" });
    const h = setup({ fetch });
    h.Socket.latest.open();
    h.Socket.latest.push({ mt: "AppChallengeResult", challenge: CHALLENGE });
    await until(() => h.errors.length === 1);
    assert.equal(h.errors[0].text, "cannot decrypt");
    assert.equal(h.errors[0].fatal, undefined);
    assert.equal(h.conn.state, "connecting");
    h.timers.advance(1000);
    assert.equal(h.Socket.all.length, 2);
  });

  test("a failing fetch is reported and retried", async () => {
    const h = setup({ fetch: () => Promise.reject(new TypeError("network down")) });
    h.Socket.latest.open();
    h.Socket.latest.push({ mt: "AppChallengeResult", challenge: CHALLENGE });
    await until(() => h.errors.length === 1);
    assert.equal(h.errors[0].code, "fetch-failed");
    assert.equal(h.conn.state, "connecting");
  });

  test("an answer arriving after the socket closed is not sent anywhere", async () => {
    let answer;
    const fetch = () => new Promise((resolve) => (answer = resolve));
    const h = setup({ fetch });
    const ws = h.Socket.latest;
    ws.open();
    ws.push({ mt: "AppChallengeResult", challenge: CHALLENGE });
    ws.serverClose();
    answer({ ok: true, status: 200, json: async () => issued });
    await settle();
    assert.ok(!ws.mts().includes("AppLogin"));
    assert.deepEqual(h.errors, []);
  });
});

describe("messaging", () => {
  test("send is refused before login, delivered after", async () => {
    const h = setup({ password: PASSWORD });
    assert.equal(h.conn.send({ mt: "Ping" }), false);
    await logIn(h);
    assert.equal(h.conn.send({ mt: "Ping" }, { api: "X" }), true);
    assert.deepEqual(h.Socket.latest.last(), { mt: "Ping", api: "X" });
    assert.throws(() => h.conn.send({ nomt: 1 }), TypeError);
  });

  test("request before login rejects", async () => {
    const h = setup({ password: PASSWORD });
    await assert.rejects(h.conn.request({ mt: "ListNotes" }), (e) => e.code === "not-logged-in");
  });

  test("request/reply matched by src", async () => {
    const { ws, conn, h } = await loggedIn();
    const first = conn.request({ mt: "ListNotes" });
    const second = conn.request({ mt: "GetNote", id: 1 }, { api: "Notes" });
    const [a, b] = ws.sent.slice(-2);
    assert.equal(a.mt, "ListNotes");
    assert.deepEqual({ ...b, src: undefined }, { mt: "GetNote", id: 1, api: "Notes", src: undefined });
    assert.equal(typeof a.src, "string");
    assert.notEqual(a.src, b.src);
    ws.push({ mt: "GetNoteResult", api: "Notes", src: b.src, note: "n" });
    ws.push({ mt: "ListNotesResult", src: a.src, notes: [] });
    assert.deepEqual(await first, { mt: "ListNotesResult", src: a.src, notes: [] });
    assert.equal((await second).note, "n");
    ws.push({ mt: "ListNotesResult", src: a.src, notes: [1] }); // a second reply: ours, dropped
    assert.deepEqual(h.messages, []);
  });

  test("an error reply rejects with code and text", async () => {
    const { ws, conn } = await loggedIn();
    const pending = conn.request({ mt: "DeleteNote", id: 1 });
    ws.push({ mt: "DeleteNoteResult", src: ws.last().src, error: "forbidden", errorText: "not allowed" });
    await assert.rejects(pending, (e) => e.code === "forbidden" && e.text === "not allowed" && e.reply.mt === "DeleteNoteResult");
  });

  test("a request times out; its late reply is dropped", async () => {
    const { ws, conn, h } = await loggedIn();
    const pending = conn.request({ mt: "Slow" }, { timeout: 2000 });
    const src = ws.last().src;
    h.timers.advance(2000);
    await assert.rejects(pending, (e) => e.code === "timeout");
    ws.push({ mt: "SlowResult", src });
    assert.deepEqual(h.messages, []);
  });

  test("the default request timeout is requestTimeout", async () => {
    const { conn, h } = await loggedIn({ requestTimeout: 700, keepAlive: 0 });
    const pending = conn.request({ mt: "Slow" });
    assert.ok(h.timers.pending().includes(700));
    h.timers.advance(700);
    await assert.rejects(pending, (e) => e.code === "timeout");
  });

  test("pending requests reject when the connection is lost", async () => {
    const { ws, conn } = await loggedIn();
    const pending = conn.request({ mt: "ListNotes" });
    ws.serverClose(1006);
    await assert.rejects(pending, (e) => e.code === "closed");
    assert.equal(conn.state, "connecting");
  });

  test("subscribe: ack and indications by src, close() stops them", async () => {
    const { ws, conn, h } = await loggedIn();
    const seen = [];
    const sub = conn.subscribe({ mt: "SubscribeNotes" }, (msg, meta) => seen.push([msg.mt, meta]), { api: "Notes" });
    const sent = ws.last();
    assert.equal(sent.mt, "SubscribeNotes");
    assert.equal(sent.api, "Notes");
    ws.push({ mt: "SubscribeNotesResult", src: sent.src });
    assert.equal((await sub.ready).mt, "SubscribeNotesResult");
    ws.push({ mt: "NoteAdded", src: sent.src, api: "Notes" });
    ws.push({ mt: "NoteAdded", src: sent.src, api: "Notes" });
    assert.deepEqual(seen, [
      ["SubscribeNotesResult", { ack: true, resubscribed: false }],
      ["NoteAdded", { ack: false, resubscribed: false }],
      ["NoteAdded", { ack: false, resubscribed: false }],
    ]);
    assert.equal(sub.active, true);
    sub.close();
    assert.equal(sub.active, false);
    ws.push({ mt: "NoteAdded", src: sent.src, api: "Notes" });
    assert.equal(seen.length, 3);
    assert.deepEqual(h.messages, [], "a closed subscription's indications reach no other handler");
  });

  test("a subscription is re-sent with a new src after reconnect and login", async () => {
    const { ws, conn, h } = await loggedIn();
    const seen = [];
    const sub = conn.subscribe({ mt: "SubscribeNotes" }, (msg, meta) => seen.push([msg, meta]));
    const oldSrc = ws.last().src;
    ws.push({ mt: "SubscribeNotesResult", src: oldSrc });
    await sub.ready;
    ws.serverClose(1006);
    h.timers.advance(1000);
    const ws2 = await logIn(h);
    assert.equal(h.connected[1].reconnected, true);
    const again = ws2.sent.find((m) => m.mt === "SubscribeNotes");
    assert.ok(again, "re-sent");
    assert.notEqual(again.src, oldSrc);
    ws2.push({ mt: "SubscribeNotesResult", src: again.src, notes: ["x"] });
    ws2.push({ mt: "NoteAdded", src: again.src });
    assert.deepEqual(
      seen.map(([msg, meta]) => [msg.mt, meta.ack, meta.resubscribed]),
      [
        ["SubscribeNotesResult", true, false],
        ["SubscribeNotesResult", true, true],
        ["NoteAdded", false, false],
      ],
    );
    // the subscription is sent before the page hears onConnected (which may send more)
    assert.ok(ws2.sent.findIndex((m) => m.mt === "SubscribeNotes") > ws2.sent.findIndex((m) => m.mt === "AppLogin"));
  });

  test("a subscription made before login goes out at login", async () => {
    const h = setup({ password: PASSWORD });
    const seen = [];
    const sub = h.conn.subscribe({ mt: "SubscribeNotes" }, (msg) => seen.push(msg.mt));
    const ws = await logIn(h);
    const sent = ws.sent.find((m) => m.mt === "SubscribeNotes");
    ws.push({ mt: "SubscribeNotesResult", src: sent.src });
    await sub.ready;
    assert.deepEqual(seen, ["SubscribeNotesResult"]);
  });

  test("an error ack rejects ready and ends the subscription", async () => {
    const { ws, conn, h } = await loggedIn();
    const seen = [];
    const sub = conn.subscribe({ mt: "SubscribeSecrets" }, (msg) => seen.push(msg.mt));
    ws.push({ mt: "SubscribeSecretsResult", src: ws.last().src, error: "forbidden", errorText: "no" });
    await assert.rejects(sub.ready, (e) => e.code === "forbidden");
    assert.equal(sub.active, false);
    assert.deepEqual(seen, ["SubscribeSecretsResult"]);
    ws.serverClose();
    h.timers.advance(1000);
    const ws2 = await logIn(h);
    assert.ok(!ws2.mts().includes("SubscribeSecrets"), "not re-sent");
  });

  test("closing before the ack rejects ready", async () => {
    const { conn } = await loggedIn();
    const sub = conn.subscribe({ mt: "SubscribeNotes" }, () => {});
    sub.close();
    await assert.rejects(sub.ready, (e) => e.code === "closed");
  });

  test("routing: src first, then api, then the general handler", async () => {
    const { ws, conn, h } = await loggedIn();
    const api = [];
    const off = conn.onApi("PbxSignal", (msg) => api.push(msg.mt));
    const pending = conn.request({ mt: "Q", api: "PbxSignal" });
    ws.push({ mt: "QResult", api: "PbxSignal", src: ws.last().src }); // by src, not the api handler
    await pending;
    ws.push({ mt: "Event", api: "PbxSignal" });
    ws.push({ mt: "Event", api: "PbxSignal", src: "someone-elses" });
    ws.push({ mt: "Other", api: "Unknown" });
    ws.push({ mt: "Plain" });
    assert.deepEqual(api, ["Event", "Event"]);
    assert.deepEqual(
      h.messages.map((m) => m.mt),
      ["Other", "Plain"],
    );
    off();
    ws.push({ mt: "Event", api: "PbxSignal" });
    assert.equal(h.messages[h.messages.length - 1].mt, "Event");
  });

  test("frames that are not JSON objects with a string mt are ignored", async () => {
    const { ws, h } = await loggedIn();
    for (const frame of ["not json", "[1,2]", "5", "null", '"str"', "{}", '{"mt":5}', '{"mt":null}']) ws.push(frame);
    ws.pushRaw(new ArrayBuffer(4));
    ws.pushRaw(undefined);
    assert.deepEqual(h.messages, []);
    ws.push({ mt: "Fine" });
    assert.deepEqual(h.messages, [{ mt: "Fine" }]);
  });

  test("an exception in a page handler does not break the connection", async () => {
    const { ws, conn, h } = await loggedIn();
    // The client rethrows a page's exception from a fresh microtask (reported like any
    // uncaught error); capture that instead of letting it reach the test runner.
    const thrown = [];
    const realQueue = globalThis.queueMicrotask;
    globalThis.queueMicrotask = (fn) => {
      try {
        fn();
      } catch (e) {
        thrown.push(e);
      }
    };
    try {
      conn.onMessage = () => {
        throw new Error("page bug");
      };
      ws.push({ mt: "A" });
    } finally {
      globalThis.queueMicrotask = realQueue;
    }
    assert.equal(thrown.length, 1);
    assert.equal(thrown[0].message, "page bug");
    conn.onMessage = (msg) => h.messages.push(msg);
    ws.push({ mt: "B" });
    assert.deepEqual(h.messages.map((m) => m.mt), ["B"]);
  });
});

describe("reconnect, keepalive, close", () => {
  test("backoff 1,2,4,8,16,32,32 s, reset after a successful login", async () => {
    const h = setup({ password: PASSWORD, keepAlive: 0, loginTimeout: 0 });
    const delays = [];
    for (let i = 0; i < 7; i++) {
      h.Socket.latest.serverClose(1006);
      delays.push(h.closes[h.closes.length - 1].info.delay);
      assert.deepEqual(h.timers.pending(), [delays[delays.length - 1]]);
      h.timers.advance(delays[delays.length - 1]);
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 32000, 32000]);
    assert.equal(h.Socket.all.length, 8);
    await logIn(h);
    h.Socket.latest.serverClose(1006);
    assert.equal(h.closes[h.closes.length - 1].info.delay, 1000);
    // failed logins do not reset it
    h.timers.advance(1000);
    const ws = h.Socket.latest;
    ws.open();
    ws.push({ mt: "AppChallengeResult", challenge: CHALLENGE });
    await until(() => ws.mts().includes("AppLogin"));
    ws.push({ mt: "AppLoginResult", ok: false, errorText: "no" });
    assert.equal(h.closes[h.closes.length - 1].info.delay, 2000);
  });

  test("a slow reader (4013) reconnects, backing off across its logins", async () => {
    const { h } = await loggedIn({ keepAlive: 0, loginTimeout: 0 });
    const delays = [];
    for (let i = 0; i < 3; i++) {
      h.Socket.latest.serverClose(4013);
      delays.push(h.closes[h.closes.length - 1].info.delay);
      assert.equal(h.closes[h.closes.length - 1].info.reconnect, true);
      h.timers.advance(delays[delays.length - 1]);
      await logIn(h);
    }
    assert.deepEqual(delays, [1000, 2000, 4000]);
    // Another close after a login resets it as usual at the next login.
    h.Socket.latest.serverClose(1006);
    assert.equal(h.closes[h.closes.length - 1].info.delay, 8000);
    h.timers.advance(8000);
    await logIn(h);
    h.Socket.latest.serverClose(1006);
    assert.equal(h.closes[h.closes.length - 1].info.delay, 1000);
  });

  for (const code of [4012, 1012, 1001]) {
    test(`close code ${code} (the server restarts) reconnects within the jitter, not the backoff`, async () => {
      const { h } = await loggedIn({ keepAlive: 0, loginTimeout: 0 });
      // Two plain losses first: the backoff is at 4 s now.
      for (const wait of [1000, 2000]) {
        h.Socket.latest.serverClose(1006);
        h.timers.advance(wait);
      }
      const realRandom = Math.random;
      Math.random = () => 0.999;
      try {
        h.Socket.latest.serverClose(code);
      } finally {
        Math.random = realRandom;
      }
      const info = h.closes[h.closes.length - 1].info;
      assert.equal(info.reconnect, true);
      assert.equal(info.delay, 499);
      assert.deepEqual(h.timers.pending(), [499]);
      h.timers.advance(499);
      assert.equal(h.Socket.all.length, 4, "a new socket after the jitter");
      // That attempt fails (the server is not back yet): the backoff goes on where it was.
      h.Socket.latest.serverClose(1006);
      assert.equal(h.closes[h.closes.length - 1].info.delay, 4000);
      h.timers.advance(4000);
      await logIn(h);
      assert.equal(h.connected.length, 2);
    });
  }

  for (const [code, errorCode] of [[4000, "disconnected"], [4403, "app-withdrawn"]]) {
    test(`close code ${code} ends the connection for good (${errorCode})`, async () => {
      const { ws, conn, h } = await loggedIn();
      ws.serverClose(code);
      assert.equal(conn.state, "closed");
      assert.deepEqual(h.timers.pending(), [], "no reconnect scheduled");
      assert.equal(h.closes[h.closes.length - 1].info.reconnect, false);
      const error = h.errors[h.errors.length - 1];
      assert.equal(error.code, errorCode);
      assert.equal(error.fatal, true);
      assert.equal(h.Socket.all.length, 1);
    });
  }

  test("KeepAlive after keepAlive ms without sending; each send restarts the idle time", async () => {
    const { ws, conn, h } = await loggedIn({ keepAlive: 60000 });
    const count = () => ws.mts().filter((mt) => mt === "KeepAlive").length;
    h.timers.advance(59999);
    assert.equal(count(), 0);
    conn.send({ mt: "Ping" });
    h.timers.advance(59999);
    assert.equal(count(), 0);
    h.timers.advance(1);
    assert.equal(count(), 1);
    assert.deepEqual(ws.last(), { mt: "KeepAlive" });
    h.timers.advance(60000);
    assert.equal(count(), 2);
    ws.serverClose();
    assert.ok(!h.timers.pending().includes(60000), "no keepalive without a socket");
  });

  test("keepAlive 0 disables it", async () => {
    const { ws, h } = await loggedIn({ keepAlive: 0 });
    h.timers.advance(10 * 60000);
    assert.ok(!ws.mts().includes("KeepAlive"));
  });

  test("close() ends for good", async () => {
    const { ws, conn, h } = await loggedIn();
    const pending = conn.request({ mt: "ListNotes" });
    const sub = conn.subscribe({ mt: "SubscribeNotes" }, () => {});
    conn.close();
    assert.equal(conn.state, "closed");
    assert.ok(ws.closedWith);
    await assert.rejects(pending, (e) => e.code === "closed");
    await assert.rejects(sub.ready, (e) => e.code === "closed");
    assert.deepEqual(h.closes.map((c) => c.info), [{ reconnect: false, delay: null }]);
    assert.deepEqual(h.timers.pending(), []);
    ws.serverClose(); // late close event: detached
    assert.equal(h.closes.length, 1);
    conn.close(); // idempotent
    assert.equal(conn.send({ mt: "X" }), false);
    await assert.rejects(conn.request({ mt: "X" }), (e) => e.code === "not-logged-in");
  });

  test("close() while waiting to reconnect cancels the reconnect", () => {
    const h = setup({ password: PASSWORD });
    h.Socket.latest.serverClose();
    assert.equal(h.conn.state, "connecting");
    h.conn.close();
    assert.equal(h.conn.state, "closed");
    h.timers.advance(60000);
    assert.equal(h.Socket.all.length, 1);
  });

  test("close() while the socket is still connecting closes it and keeps an error listener", () => {
    const h = setup({ password: PASSWORD });
    const ws = h.Socket.latest;
    h.conn.close();
    assert.equal(h.conn.state, "closed");
    assert.ok(ws.closedWith);
    assert.equal(ws.onopen, null);
    assert.equal(ws.onmessage, null);
    assert.equal(typeof ws.onerror, "function", "Node's ws package throws on an error event nobody listens to");
    ws.onerror(new Error("closed before the connection was established"));
    assert.deepEqual(h.errors, []);
  });

  test("a WebSocket constructor that throws is fatal", () => {
    const errors = [];
    const conn = new AppWS.Connection("wss://x.test/apps/a", "a", {
      WebSocket: function () {
        throw new Error("blocked port");
      },
      window: undefined,
      password: PASSWORD,
      onError: (e) => errors.push(e),
    });
    assert.equal(conn.state, "closed");
    assert.equal(errors[0].code, "socket");
    assert.equal(errors[0].fatal, true);
  });

  test("constructor argument checks", () => {
    const Socket = function () {};
    assert.throws(() => new AppWS.Connection("wss://x.test/a", "", { WebSocket: Socket }), TypeError);
    if (typeof globalThis.WebSocket !== "function") {
      assert.throws(() => new AppWS.Connection("wss://x.test/a", "a", { WebSocket: null, window: undefined }), TypeError);
    }
    assert.throws(() => new AppWS.Connection("wss://x.test/a", "a", { WebSocket: Socket, loginSource: "pbx" }), TypeError);
  });
});
