"""What a valid ``APPWS`` setting is: every rule, once, as problem records.

:func:`problems` reads the raw setting and returns a :class:`Problem` for each
thing appws would refuse or misread; the system checks (``appws.checks``) turn
them into ``manage.py check`` errors and warnings. The same records decide what
the running server refuses (see :mod:`appws.conf`): :func:`fatal_problem` for the
setting as a whole, :func:`app_password_problem` for one ``APPS`` entry.

Long because it is the one home of those rules: split, a rule's message, hint and
check id would drift apart from its neighbours'.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from appws.conf.defaults import DEFAULTS

#: daphne's default --websocket-max-message-size: it fails a connection sent more.
DAPHNE_MAX_MESSAGE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the ``APPWS`` setting, as a system check reports it."""

    id: str  # "appws.E004"
    message: str
    hint: str | None = None
    level: Literal["error", "warning"] = "error"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# -- the setting as a whole ----------------------------------------------------------


def fatal_problem(configured: object) -> Problem | None:
    """The problem that leaves nothing to read (not a dict, unknown keys), or None."""
    if not isinstance(configured, Mapping):
        return Problem(
            "appws.E002",
            f"The APPWS setting must be a dict, not {type(configured).__name__}.",
            hint="APPWS = {...}; the keys are listed in docs/consumer.md, 'Settings'.",
        )
    unknown = set(configured) - set(DEFAULTS)
    if unknown:
        return Problem(
            "appws.E002",
            f"Unknown APPWS setting(s): {', '.join(sorted(map(str, unknown)))}. "
            f"Known: {', '.join(sorted(DEFAULTS))}.",
            hint="Correct or remove the misspelt key(s).",
        )
    return None


def problems(configured: object) -> list[Problem]:
    """Every problem of the raw ``APPWS`` setting (None: unset, which is fine)."""
    if configured is None:
        return []
    fatal = fatal_problem(configured)
    if fatal is not None:
        return [fatal]
    assert isinstance(configured, Mapping)  # fatal_problem said so
    options = {**DEFAULTS, **configured}
    return [
        *_apps(options["APPS"]),
        *_numbers(options),
        *_pbx_rate_limit(options["PBX_RATE_LIMIT"]),
        *_sweep_limit(options["PBX_USERS_SWEEP_LIMIT"]),
        *_login_frame_limit(options, configured),
        *_app_dirs(options["APP_DIRS"]),
        *_allowed_origins(options["ALLOWED_ORIGINS"]),
        *_switches(options),
    ]


# -- APPS --------------------------------------------------------------------------


def app_password_problem(name: str, entry: object) -> Problem | None:
    """The problem of an ``APPS`` entry no login can use (no string password), or None."""
    if isinstance(entry, Mapping) and isinstance(entry.get("password"), str):
        return None
    return Problem(
        "appws.E003",
        f'APPWS["APPS"][{name!r}] must be a dict with a string "password".',
        hint=(
            "Read the password from the environment, e.g. "
            f'{{"password": os.environ["{name.upper().replace("-", "_")}'
            '_PASSWORD"]}, or keep the App in the database (admin or '
            "manage.py appws_app) instead."
        ),
    )


def _is_name_list(value: object) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(n, str) and n for n in value)


def _apps(apps_setting: object) -> list[Problem]:
    if not isinstance(apps_setting, Mapping):
        return [
            Problem(
                "appws.E003",
                f'APPWS["APPS"] must be a dict of App name to options, not '
                f"{type(apps_setting).__name__}.",
                hint='APPWS = {"APPS": {"notes": {"password": "…"}}}',
            )
        ]
    found: list[Problem] = []
    for name, entry in apps_setting.items():
        if not isinstance(name, str) or not name:
            found.append(
                Problem(
                    "appws.E003",
                    f'APPWS["APPS"] has the key {name!r}: App names must be non-empty strings.',
                )
            )
        elif (problem := app_password_problem(name, entry)) is not None:
            found.append(problem)
        elif "check_logins" in entry and not _is_name_list(entry["check_logins"]):
            found.append(
                Problem(
                    "appws.E003",
                    f'APPWS["APPS"][{name!r}]["check_logins"] must be a list of App names, '
                    f"not {entry['check_logins']!r}.",
                    hint=(
                        "Name the Apps whose passwords sessions of this App may verify with "
                        f'AppCheckLogin, e.g. "check_logins": ["{name}"]; leave it out for none.'
                    ),
                )
            )
        elif "pbx_rate_limit" in entry and not _is_rate(entry["pbx_rate_limit"]):
            found.append(
                Problem(
                    "appws.E003",
                    f'APPWS["APPS"][{name!r}]["pbx_rate_limit"] must be a number of messages '
                    f"per second, 0 or more, or None, not {entry['pbx_rate_limit']!r}.",
                    hint=(
                        "Messages per second the PBX connections of this App may send "
                        "(0: no limit); None or left out: the setting for PBX connections."
                    ),
                )
            )
    return found


def _is_rate(value: object) -> bool:
    if value is None:
        return True
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


# -- numbers -------------------------------------------------------------------------

#: Number settings: (key, integer only, smallest allowed value, what it counts).
#: A bound of None means "more than 0" (any positive number).
_NUMBERS: tuple[tuple[str, bool, int | None, str], ...] = (
    ("HEARTBEAT_SECONDS", False, None, "seconds between heartbeats"),
    ("SHUTDOWN_TIMEOUT", False, None, "seconds a stopping process waits for its sessions"),
    ("LOGIN_FAILURE_LIMIT", True, 1, "failed logins before an address is refused"),
    ("LOGIN_FAILURE_WINDOW", False, None, "seconds"),
    ("APP_CACHE_SECONDS", False, 0, "seconds; 0 caches nothing"),
    ("PBX_CACHE_SECONDS", False, 0, "seconds; 0 caches nothing"),
    ("MAX_DEPTH", True, 1, "the frame itself is depth 1"),
    ("MAX_SRC_LENGTH", True, 1, "characters"),
    ("MAX_SUBSCRIPTIONS", True, 0, "subscriptions per session"),
    ("MAX_BADGE_CALLS", True, 1, "badge calls per PBX session"),
    ("RATE_LIMIT", False, None, "messages per second"),
    ("RATE_BURST", True, 1, "messages"),
    ("MAX_QUEUED_MESSAGES", True, 1, "messages waiting for their handler"),
    ("PEER_REQUEST_TIMEOUT", False, None, "seconds"),
    ("MAX_PEER_REQUESTS", True, 1, "requests to the peer in flight per session"),
    ("PEER_SUBSCRIPTION_QUEUE", True, 1, "messages a peer subscription holds unread"),
    ("LOGIN_TIMEOUT", False, 0, "seconds; 0 is no limit"),
    ("MAX_MESSAGES_BEFORE_LOGIN", True, 2, "a login takes AppChallenge and AppLogin"),
    ("MAX_LOGIN_MESSAGE_BYTES", True, 1, "bytes per frame before login"),
    ("MAX_LOGIN_CONTAINERS", True, 1, "objects and arrays per frame before login"),
    ("LOGIN_BYTES_PER_SECOND", False, 0, "bytes per second before login; 0 is no budget"),
    ("MAX_OUTGOING_BYTES", True, 4096, "bytes; an error reply must fit"),
    ("MAX_INDICATION_BYTES", True, 1, "bytes"),
    ("SEND_WINDOW_SECONDS", False, None, "seconds"),
    ("SEND_WINDOW_BYTES", True, 1, "bytes"),
    ("PBX_SEND_WINDOW_BYTES", True, 1, "bytes"),
)

#: Budgets that must hold at least one frame of MAX_OUTGOING_BYTES.
_BUDGETS = ("MAX_INDICATION_BYTES", "SEND_WINDOW_BYTES", "PBX_SEND_WINDOW_BYTES")


def _numbers(options: Mapping[str, Any]) -> list[Problem]:
    found: list[Problem] = []
    size = options["MAX_MESSAGE_BYTES"]
    if not _is_int(size) or size <= 0:
        found.append(
            Problem(
                "appws.E004",
                f'APPWS["MAX_MESSAGE_BYTES"] must be a positive integer (bytes), not {size!r}.',
                hint=(
                    f"The default is {DEFAULTS['MAX_MESSAGE_BYTES']} (1 MiB); keep daphne's "
                    "--websocket-max-message-size and --websocket-max-frame-size at or "
                    "above it."
                ),
            )
        )
    for key, integer, low, meaning in _NUMBERS:
        value = options[key]
        kind_ok = _is_int(value) if integer else _is_number(value)
        if kind_ok and (value > 0 if low is None else value >= low):
            continue
        if low is None:
            wanted = "a positive integer" if integer else "a positive number"
        else:
            wanted = f"an integer >= {low}" if integer else f"a number >= {low}"
        found.append(
            Problem(
                "appws.E006",
                f'APPWS["{key}"] must be {wanted} ({meaning}), not {value!r}.',
                hint=f"The default is {DEFAULTS[key]!r}.",
            )
        )
    return found or _outgoing(options)


def _pbx_rate_limit(value: object) -> list[Problem]:
    if value is None or (
        isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    ):
        return []
    return [
        Problem(
            "appws.E006",
            f'APPWS["PBX_RATE_LIMIT"] must be None (no limit) or a positive number '
            f"(messages per second), not {value!r}.",
            hint="The default is None: a PBX's own connection is not rate-limited.",
        )
    ]


def _sweep_limit(value: object) -> list[Problem]:
    if _is_number(value) and 0 <= value <= 1:  # type: ignore[operator]
        return []
    return [
        Problem(
            "appws.E006",
            f'APPWS["PBX_USERS_SWEEP_LIMIT"] must be a number from 0 to 1 (the share of a '
            f"PBX's users a sweep may delete), not {value!r}.",
            hint=(
                f"The default is {DEFAULTS['PBX_USERS_SWEEP_LIMIT']}: a sweep deleting more "
                "than half of a PBX's users waits for confirmation; 1 never holds one."
            ),
        )
    ]


def _outgoing(options: Mapping[str, Any]) -> list[Problem]:
    """The outgoing limit against daphne's, and the budgets against the limit."""
    limit = options["MAX_OUTGOING_BYTES"]
    found = [
        Problem(
            "appws.E008",
            f'APPWS["{key}"] ({options[key]}) is below APPWS["MAX_OUTGOING_BYTES"] ({limit}): '
            "a session sent one large message would be closed as a slow reader.",
            hint=f"Raise {key}, or lower MAX_OUTGOING_BYTES.",
        )
        for key in _BUDGETS
        if options[key] < limit
    ]
    if limit > DAPHNE_MAX_MESSAGE_BYTES:
        found.append(
            Problem(
                "appws.W007",
                f'APPWS["MAX_OUTGOING_BYTES"] ({limit}) is above daphne\'s default '
                f"--websocket-max-message-size ({DAPHNE_MAX_MESSAGE_BYTES}): daphne fails "
                "the whole connection when it is handed a larger message.",
                hint=(
                    "Start daphne with --websocket-max-message-size at or above it, or "
                    "silence appws.W007 if you did (or serve with another ASGI server)."
                ),
                level="warning",
            )
        )
    return found


def _login_frame_limit(options: Mapping[str, Any], configured: Mapping[str, Any]) -> list[Problem]:
    # Only a warning: the smaller of the two limits applies, nothing breaks. And only
    # when set: lowering MAX_MESSAGE_BYTES alone rightly lowers both.
    if "MAX_LOGIN_MESSAGE_BYTES" not in configured:
        return []
    login, size = options["MAX_LOGIN_MESSAGE_BYTES"], options["MAX_MESSAGE_BYTES"]
    if not (_is_int(login) and _is_int(size)) or size <= 0 or login <= size:
        return []
    return [
        Problem(
            "appws.W008",
            f'APPWS["MAX_LOGIN_MESSAGE_BYTES"] ({login}) is above APPWS["MAX_MESSAGE_BYTES"] '
            f"({size}): frames before login are held to {size} bytes, as all others.",
            hint=(
                "Keep it small (the default is "
                f"{DEFAULTS['MAX_LOGIN_MESSAGE_BYTES']}): it bounds what a client that "
                "knows no password can make the server parse."
            ),
            level="warning",
        )
    ]


# -- directories and origins -----------------------------------------------------------


def _app_dirs(app_dirs: object) -> list[Problem]:
    if isinstance(app_dirs, (str, Path)) or not isinstance(app_dirs, (list, tuple)):
        return [
            Problem(
                "appws.E005",
                'APPWS["APP_DIRS"] must be a list of directories.',
                hint='APPWS = {"APP_DIRS": [BASE_DIR / "myapp" / "app"]}',
            )
        ]
    return [
        Problem(
            "appws.E005",
            f'APPWS["APP_DIRS"] lists {str(entry)!r}, which is not an existing directory.',
            hint=(
                "Give the absolute path of a directory holding the Apps' .htm pages "
                "and assets (build it from BASE_DIR), or remove the entry."
            ),
        )
        for entry in app_dirs
        if not isinstance(entry, (str, Path)) or not Path(entry).is_dir()
    ]


def _is_origin(origin: object) -> bool:
    if origin == "*":
        return True
    parts = urlsplit(origin) if isinstance(origin, str) else None
    return not (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.netloc
        or (parts.path or parts.query or parts.fragment)
    )


def _allowed_origins(origins: object) -> list[Problem]:
    if isinstance(origins, str) or not isinstance(origins, (list, tuple)):
        return [
            Problem(
                "appws.E007",
                'APPWS["ALLOWED_ORIGINS"] must be a list of origins.',
                hint='APPWS = {"ALLOWED_ORIGINS": ["https://myapps.example.com"]}',
            )
        ]
    return [
        Problem(
            "appws.E007",
            f'APPWS["ALLOWED_ORIGINS"] lists {origin!r}, which no browser sends as an Origin.',
            hint=(
                'Write origins as scheme://host[:port] with no path or trailing "/", '
                'e.g. "https://myapps.example.com", or "*" for any.'
            ),
        )
        for origin in origins
        if not _is_origin(origin)
    ]


# -- switches ------------------------------------------------------------------------

#: What PBX_USERS_MAP's refinements do without it: nothing.
_MAPPING_REFINEMENTS = (
    "PBX_USERS_MAP_CREATE",
    "PBX_USERS_MAP_ACTIVE",
    "PBX_USERS_MAP_EXISTING",
    "PBX_USERS_MAP_STAFF",
)


def _switches(options: Mapping[str, Any]) -> list[Problem]:
    """Every on/off setting is a bool; a refinement of the mapping needs the mapping."""
    found = [
        Problem(
            "appws.E010",
            f'APPWS["{key}"] must be True or False, not {options[key]!r}.',
            hint=f'The default is {default!r}. A string such as "False" would count as on.',
        )
        for key, default in DEFAULTS.items()
        if isinstance(default, bool) and not isinstance(options[key], bool)
    ]
    if found or options["PBX_USERS_MAP"]:
        return found
    idle = [key for key in _MAPPING_REFINEMENTS if options[key]]
    if idle:
        found.append(
            Problem(
                "appws.W009",
                f"{', '.join(idle)} set, but PBX_USERS_MAP is off: the PBX's users are "
                "not mapped to Django users, so they have no effect.",
                hint='Set APPWS["PBX_USERS_MAP"] = True as well, or remove them.',
                level="warning",
            )
        )
    return found
