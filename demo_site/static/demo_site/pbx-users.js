// The landing page's list of PBX users, kept current through the notes App Service:
// a PbxUsersChanged indication says the users changed; the page asks for the list again.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const state = $("pbx-users-state");
  let busy = false; // a ListPbxUsers on its way
  let again = false; // and the users changed meanwhile: ask once more after it

  function setState(name, text) {
    state.dataset.state = name;
    state.textContent = text;
  }

  function show(reply) {
    const rows = reply.users.map((user) => {
      const row = document.createElement("tr");
      row.dataset.guid = user.guid;
      for (const text of [user.name, user.number]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.appendChild(cell);
      }
      return row;
    });
    $("pbx-user-rows").replaceChildren(...rows);
    $("pbx-users-empty").hidden = rows.length > 0;
    const more = reply.total - rows.length;
    $("pbx-users-more").hidden = more <= 0;
    $("pbx-users-more-count").textContent = String(more);
  }

  // An initial copy changes the users batch after batch: one request at a time.
  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      do {
        again = false;
        show(await conn.request({ mt: "ListPbxUsers" }));
      } while (again);
    } catch (error) {
      setState("problem", "Live updates failed: " + (error.text || error.message));
    } finally {
      busy = false;
    }
  }

  const conn = new AppWS.Connection("/apps/notes", "notes", {
    checkBuild: false, // this page is no App page
    loginSource: "endpoint",
    onConnected() {
      setState("online", "Updated live.");
      refresh(); // what changed while the page was loading or offline
    },
    onClosed(event, { reconnect }) {
      setState("offline", reconnect ? "Live updates paused: reconnecting…" : "Live updates off.");
    },
    onError(error) {
      if (error && error.fatal) setState("ended", "Live updates off: " + (error.text || error.message));
    },
  });
  conn.subscribe({ mt: "SubscribePbxUsers" }, (msg, meta) => {
    if (!meta.ack && msg.mt === "PbxUsersChanged") refresh();
  });
  window.pbxUsers = { conn };
})();
