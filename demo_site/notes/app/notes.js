// The notes App: list, add, watch (and, for notes-admin, delete) shared notes.
(function () {
  "use strict";
  const app = document.body.dataset.app;
  const $ = (id) => document.getElementById(id);
  const list = $("notes");
  let canDelete = false;
  let subscription = null;

  // The App Service lives at the App URL: this page's directory without the
  // build number, plus the App name (/apps/<build>/notes.htm -> /apps/notes).
  function serviceUrl() {
    const parts = location.pathname.split("/");
    parts.pop();
    if (/^[0-9a-fA-F]+$/.test(parts[parts.length - 1])) parts.pop();
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + location.host + parts.join("/") + "/" + app;
  }

  function setState(state, text) {
    const badge = $("state");
    badge.dataset.state = state;
    badge.textContent = text;
    const online = state === "online";
    $("text").disabled = !online;
    $("add-button").disabled = !online;
  }

  // What the pill says once the connection has ended for good (error.fatal).
  function endedText(error) {
    if (error.code === "disconnected") return "disconnected by an administrator";
    if (error.code === "app-withdrawn") return "closed: this App was disabled or removed";
    if (error.status === 401) return "not logged in";
    if (error.status === 403) return "no access to this App";
    if (error.status === 404) return "no such App";
    return "closed";
  }

  function showProblem(text, loginLink) {
    const box = $("problem");
    box.hidden = !text;
    box.textContent = text || "";
    if (text && loginLink) {
      const link = document.createElement("a");
      link.href = "/accounts/login/?next=" + encodeURIComponent(location.pathname);
      link.textContent = " Log in";
      box.appendChild(link);
    }
  }

  function render(note) {
    const item = document.createElement("li");
    item.className = "note";
    item.dataset.id = String(note.id);
    const body = document.createElement("div");
    body.className = "text";
    body.textContent = note.text;
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = (note.author || "someone") + " · " + new Date(note.created).toLocaleString();
    body.appendChild(meta);
    item.appendChild(body);
    if (canDelete) {
      const remove = document.createElement("button");
      remove.className = "delete";
      remove.type = "button";
      remove.textContent = "Delete";
      remove.addEventListener("click", () => {
        conn.request({ mt: "DeleteNote", id: note.id }).catch((e) => showProblem(e.text || e.message));
      });
      item.appendChild(remove);
    }
    return item;
  }

  function add(note) {
    if (list.querySelector('[data-id="' + note.id + '"]')) return;
    list.prepend(render(note));
    $("empty").hidden = true;
  }

  function remove(id) {
    const item = list.querySelector('[data-id="' + id + '"]');
    if (item) item.remove();
    $("empty").hidden = list.children.length > 0;
  }

  async function load() {
    const reply = await conn.request({ mt: "ListNotes" });
    canDelete = reply.canDelete === true;
    list.replaceChildren(...reply.notes.map(render));
    $("empty").hidden = reply.notes.length > 0;
  }

  function onIndication(msg) {
    if (msg.mt === "NoteAdded") add(msg.note);
    else if (msg.mt === "NoteDeleted") remove(msg.id);
  }

  const conn = new AppWS.Connection(serviceUrl(), app, {
    onConnected(info) {
      $("who").textContent = info.dn || info.sip || "";
      setState("online", "online");
      showProblem("");
      if (!subscription) subscription = conn.subscribe({ mt: "SubscribeNotes" }, onIndication);
      // After a reconnect the list may have changed while we were away.
      load().catch((e) => showProblem(e.text || e.message));
    },
    onClosed(event, { reconnect }) {
      // Only say "reconnecting" when the client will; a final close is named by onError,
      // which follows (close codes 4000, 4403) or came just before (a refused login).
      if (reconnect) setState("offline", "offline: reconnecting…");
      else if ($("state").dataset.state !== "ended") setState("ended", "closed");
    },
    onError(error) {
      const fatal = error && (error.status === 401 || error.fatal);
      if (error && error.fatal) setState("ended", endedText(error));
      showProblem((error && (error.text || error.message)) || String(error), fatal && error.status === 401);
    },
  });

  $("add").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("text").value.trim();
    if (!text) return;
    conn.request({ mt: "AddNote", text }).then(
      (reply) => { add(reply.note); $("text").value = ""; },
      (e) => showProblem(e.text || e.message),
    );
  });
  window.notesApp = { conn };
})();
