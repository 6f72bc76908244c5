"""The keys of the ``APPWS`` setting and their defaults, each with what it means.

This dict is the only place a default is written: the typed settings object
(:class:`appws.conf.AppwsSettings`) has one attribute per key and no defaults
of its own, and the system checks quote these values in their hints.
"""

from __future__ import annotations

from typing import Any

from appws.protocol import DEFAULT_MAX_MESSAGE_BYTES

DEFAULTS: dict[str, Any] = {
    # App name -> {"password": str, "domain": str, "permissions": [str, ...],
    # "check_logins": [App name, ...], "pbx_rate_limit": float}: Apps a service
    # can log in without any database. check_logins: the Apps whose passwords
    # sessions of this App may verify with AppCheckLogin (default: none).
    # pbx_rate_limit: messages per second this App's PBX connections may send
    # (0: no limit; left out: the setting for PBX connections).
    "APPS": {},
    # Domain sent in AppLoginResult when the App itself names none; None: the
    # host name the client connected to.
    "DOMAIN": None,
    # Build number CheckBuild compares against (lowercase hex); None: derived
    # from the content of the App files in APP_DIRS (no APP_DIRS: CheckBuild
    # never redirects).
    "BUILD": None,
    # Directories holding the Apps' HTML pages and assets, served under
    # /apps/<build>/ (include appws.app_urls at "apps/").
    "APP_DIRS": [],
    # Origins that may show App pages in a frame (the myApps client's hosts):
    # sent as CSP frame-ancestors. None: any origin, as myApps needs by default.
    "FRAME_ANCESTORS": None,
    # Largest accepted text frame, in UTF-8 bytes. Keep the server's own limit
    # (daphne --websocket-max-message-size) above it, or the server closes the
    # socket before appws can answer.
    "MAX_MESSAGE_BYTES": DEFAULT_MAX_MESSAGE_BYTES,
    # Largest accepted text frame before the connection has logged in, in UTF-8
    # bytes: a client that knows no password gets no more than this parsed and
    # hashed. A PBX's AppLogin, the largest real one, is a few KiB. Capped by
    # MAX_MESSAGE_BYTES.
    "MAX_LOGIN_MESSAGE_BYTES": 64 * 1024,
    # Most objects and arrays a frame may hold before login. Each costs an
    # allocation and garbage-collector work; a PBX's AppLogin holds a few dozen.
    "MAX_LOGIN_CONTAINERS": 1024,
    # Bytes per second of frames from connections not logged in, shared by all of them in
    # one process (bursts of 4 * MAX_LOGIN_MESSAGE_BYTES); a frame beyond it waits. Bounds
    # the share of the process that clients knowing no password can take from logged-in
    # sessions. 0: no budget.
    "LOGIN_BYTES_PER_SECOND": 1024 * 1024,
    # Largest frame appws hands the server, in UTF-8 bytes. daphne fails the
    # whole connection on a frame above its --websocket-max-message-size (1 MiB
    # by default), so stay below that: a larger reply is answered with error
    # "too-large" instead, a larger indication is dropped for that subscriber.
    "MAX_OUTGOING_BYTES": 1_000_000,
    # Bytes of one indication a session may be handed, its copies for all its
    # subscriptions to the topic together; more closes it as a slow reader (4013).
    "MAX_INDICATION_BYTES": 4_000_000,
    # Bytes a session may be handed within SEND_WINDOW_SECONDS (a PBX's own
    # connection: PBX_SEND_WINDOW_BYTES); more closes it as a slow reader
    # (4013). daphne buffers what a client does not read, and through ASGI
    # appws cannot see whether it reads: this bounds how fast that can grow.
    "SEND_WINDOW_SECONDS": 10,
    "SEND_WINDOW_BYTES": 16_000_000,
    "PBX_SEND_WINDOW_BYTES": 64_000_000,
    # Deepest nesting of objects/arrays in a frame (the frame itself is 1).
    "MAX_DEPTH": 32,
    # Longest accepted src tag, in characters.
    "MAX_SRC_LENGTH": 256,
    # Subscriptions (topic, src) one session may hold.
    "MAX_SUBSCRIPTIONS": 100,
    # Badge calls (presence subscriptions of badge_apps, over PbxSignal) one PBX
    # session answers at once; one more is released (rel) and logged. They are no
    # subscriptions: MAX_SUBSCRIPTIONS does not count them.
    "MAX_BADGE_CALLS": 100_000,
    # Messages per second per session, with bursts up to RATE_BURST; excess is
    # answered with "rate-limited"; refusals are forgiven at half the rate, and
    # more than RATE_BURST outstanding close the socket (4008).
    "RATE_LIMIT": 50,
    "RATE_BURST": 100,
    # Messages per second per session of a PBX's own App object (bursts up to
    # RATE_BURST), in place of RATE_LIMIT; None: no limit. A PBX streams far more
    # than a browser (a replication, call control). Limits before login still apply.
    "PBX_RATE_LIMIT": None,
    # Messages of one session waiting for their handler (handlers run one at a
    # time, in arrival order); one more closes the session (4503). Replies to the
    # service's own requests to the peer never wait here.
    "MAX_QUEUED_MESSAGES": 10_000,
    # Seconds consumer.request() waits for the peer's reply by default.
    "PEER_REQUEST_TIMEOUT": 10,
    # Requests to the peer (consumer.request(), subscribe_peer()) one session may
    # have waiting for a reply or open at once; beyond: TooManyRequests.
    "MAX_PEER_REQUESTS": 1000,
    # Messages a peer subscription (consumer.subscribe_peer()) holds unread; one
    # more ends it: its iterator raises PeerSubscriptionOverflow after the rest.
    "PEER_SUBSCRIPTION_QUEUE": 1000,
    # Seconds a connection may take to log in before it is closed (4408).
    "LOGIN_TIMEOUT": 30,
    # Messages a connection may send before logging in; one more closes it (4008).
    "MAX_MESSAGES_BEFORE_LOGIN": 20,
    # Browser origins accepted besides the ALLOWED_HOSTS ("https://myapps.example.com",
    # or "*"); connections without an Origin header (PBXs, scripts) are accepted.
    "ALLOWED_ORIGINS": [],
    # Answer each KeepAlive with a KeepAlive (for clients that need traffic to
    # consider the connection alive, such as the public Go client).
    "KEEPALIVE_ECHO": False,
    # Prefix of the channel-layer group names of subscription topics.
    "GROUP_PREFIX": "appws",
    # Seconds between re-adding a session to its subscription groups; keep it
    # well below channels_redis's group_expiry (86400 by default). 0: never.
    "GROUP_REFRESH_SECONDS": 3600,
    # Seconds an App read from the database stays in Django's cache (changes
    # through the admin, the ORM or appws_app invalidate it at once).
    "APP_CACHE_SECONDS": 30,
    # Seconds appws.pbx.request keeps the PBX session it chose for an App (and API,
    # pbx=) before reading the PbxConnection rows again; 0: read them on every call.
    # A PBX connecting or disconnecting in this process, and a session found gone,
    # drop it at once (docs/pbx.md).
    "PBX_CACHE_SECONDS": 2,
    # Record every logged-in connection as a LiveSession row (admin list,
    # disconnect, refresh on App changes). Needs "appws" in INSTALLED_APPS.
    "TRACK_SESSIONS": True,
    # Seconds between a server process's heartbeats; rows of a process silent
    # for three heartbeats are stale and removed.
    "HEARTBEAT_SECONDS": 10,
    # Seconds a stopping process (SIGTERM, SIGINT) gives its sessions to close
    # (code 4012: reconnect) and leave their groups; their rows go after that.
    "SHUTDOWN_TIMEOUT": 5,
    # Map each login to a Django user (consumer.get_user(); default: username = sip).
    "MAP_USERS": True,
    # Refuse logins whose mapped user lacks the App's access permission.
    "REQUIRE_USER_ACCESS": False,
    # A handler's permission must also be held by the mapped user.
    "REQUIRE_USER_PERMISSIONS": False,
    # Failed logins (AppLogin, wrong AppCheckLogin) from one address (IPv6: one
    # /64) within LOGIN_FAILURE_WINDOW seconds before further attempts are refused
    # at once, counted in Django's cache (shared by the processes: an atomic incr).
    # Also the logins from one address checked at the same time: the others wait
    # for a slot, up to LOGIN_TIMEOUT. The window starts at the first login from
    # an address that has none open.
    "LOGIN_FAILURE_LIMIT": 10,
    "LOGIN_FAILURE_WINDOW": 300,
    # Share of a PBX's replicated users (0 to 1) a sweep after an initial copy may
    # delete; a sweep that would delete more is held (logged, shown in the admin)
    # until confirmed there or with manage.py appws_pbx confirm-sweep.
    "PBX_USERS_SWEEP_LIMIT": 0.5,
    # Link each replicated PBX user to the Django user whose username is its h323
    # name, or whose email is one of its emails (docs/pbx.md, "Mapping to Django users").
    "PBX_USERS_MAP": False,
    # With PBX_USERS_MAP: create a Django user (username = h323) for a PBX user that
    # matches none, inactive unless PBX_USERS_MAP_ACTIVE.
    "PBX_USERS_MAP_CREATE": False,
    "PBX_USERS_MAP_ACTIVE": False,
    # With PBX_USERS_MAP: also link to Django users the mapping did not create
    # (never to staff or superusers unless PBX_USERS_MAP_STAFF as well).
    "PBX_USERS_MAP_EXISTING": False,
    "PBX_USERS_MAP_STAFF": False,
}
