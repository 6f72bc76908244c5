"""Django system checks for a site serving App Services (``manage.py check``).

Every check is tagged ``appws`` (``manage.py check --tag appws``). The ones that
are about running in production are deployment checks: they
run with ``manage.py check --deploy``, where Django's own production checks
run too. Silence one with ``SILENCED_SYSTEM_CHECKS = ["appws.W001"]``.

| id | level | what |
|---|---|---|
| ``appws.E001`` | Error | no ``default`` channel layer in ``CHANNEL_LAYERS`` |
| ``appws.E002`` | Error | ``APPWS`` is not a dict, or has unknown keys |
| ``appws.E003`` | Error | an ``APPWS["APPS"]`` entry: no string password, bad ``check_logins`` |
| ``appws.E004`` | Error | ``APPWS["MAX_MESSAGE_BYTES"]`` is not a positive integer |
| ``appws.E005`` | Error | an ``APPWS["APP_DIRS"]`` entry is not an existing directory |
| ``appws.E006`` | Error | a number setting (heartbeat, limits, App cache) is out of range |
| ``appws.E007`` | Error | an ``APPWS["ALLOWED_ORIGINS"]`` entry that is not an origin |
| ``appws.E008`` | Error | a send budget below ``MAX_OUTGOING_BYTES`` |
| ``appws.W001`` | Warning | ``daphne`` is not in ``INSTALLED_APPS`` |
| ``appws.W002`` | Warning (deploy) | the in-memory channel layer with ``DEBUG = False`` |
| ``appws.W003`` | Warning (deploy) | a per-process ``LocMemCache`` with ``DEBUG = False`` |
| ``appws.W004`` | Warning | App Services behind a validator refusing clients without ``Origin`` |
| ``appws.W005`` | Warning | ``ASGI_APPLICATION`` cannot be imported to look at its routes |
| ``appws.W006`` | Warning (deploy) | a default cache that cannot count failed logins atomically |
| ``appws.W007`` | Warning | ``MAX_OUTGOING_BYTES`` above daphne's default message size |
| ``appws.W008`` | Warning | ``APPWS["MAX_LOGIN_MESSAGE_BYTES"]`` above ``MAX_MESSAGE_BYTES`` |

(``daphne`` listed after ``django.contrib.staticfiles`` is daphne's own
``daphne.E001``.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.apps import AppConfig, apps
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from appws.conf import DEFAULTS
from appws.layer.memory import IN_MEMORY_LAYER, default_layer_backend, default_layer_is_in_memory

DEPLOY_DOC = "docs/deploy.md"
TAG = "appws"

LOCMEM_CACHE = "django.core.cache.backends.locmem.LocMemCache"
DUMMY_CACHE = "django.core.cache.backends.dummy.DummyCache"
#: Django's caches whose incr() is a read and a write: atomic within one process
#: (appws runs cache calls on one thread) but not across processes.
NON_ATOMIC_CACHES = {
    "django.core.cache.backends.db.DatabaseCache": "a DatabaseCache",
    "django.core.cache.backends.filebased.FileBasedCache": "a FileBasedCache",
}

CheckMessages = list[checks.CheckMessage]


def register_checks() -> None:
    """Register every appws check with Django (called from ``AppwsConfig.ready()``)."""
    checks.register(check_channel_layer, TAG)
    checks.register(check_appws_setting, TAG)
    checks.register(check_daphne_installed, TAG)
    checks.register(check_origin_validator, TAG)
    checks.register(check_in_memory_layer, TAG, deploy=True)
    checks.register(check_shared_cache, TAG, deploy=True)
    checks.register(check_throttle_cache, TAG, deploy=True)


# -- channel layer and cache ----------------------------------------------------


def check_channel_layer(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> CheckMessages:
    """Error when there is no default channel layer."""
    if default_layer_backend() is not None:
        return []
    return [
        checks.Error(
            'CHANNEL_LAYERS has no "default" layer: subscriptions, appws.notify(), '
            "disconnecting sessions from the admin and App changes reaching live "
            "sessions all go through it.",
            hint=(
                'One process: CHANNEL_LAYERS = {"default": {"BACKEND": '
                f'"{IN_MEMORY_LAYER}"}}}}; several processes: '
                f"channels_redis.core.RedisChannelLayer (see {DEPLOY_DOC})."
            ),
            id="appws.E001",
        )
    ]


def check_in_memory_layer(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> CheckMessages:
    """Warn (deploy) when production runs on the per-process in-memory layer."""
    if settings.DEBUG or not default_layer_is_in_memory():
        return []
    return [
        checks.Warning(
            "The default channel layer is the in-memory layer, which lives inside one "
            "process: with several server processes, indications (appws.notify), admin "
            "disconnects and App changes only reach the sessions of the process that "
            "sent them.",
            hint=(
                "Run exactly one server process, or use channels_redis.core."
                f"RedisChannelLayer against a shared Redis (see {DEPLOY_DOC}); silence "
                "appws.W002 if one process is the plan."
            ),
            id="appws.W002",
        )
    ]


def _cache_backend() -> str | None:
    caches = getattr(settings, "CACHES", None)
    if caches is None:
        return LOCMEM_CACHE  # Django's default
    default = caches.get("default") if isinstance(caches, Mapping) else None
    backend = default.get("BACKEND") if isinstance(default, Mapping) else None
    return backend if isinstance(backend, str) else None


def check_shared_cache(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> CheckMessages:
    """Warn (deploy) when the default cache is private to each process."""
    backend = _cache_backend()
    if settings.DEBUG or backend != LOCMEM_CACHE:
        return []
    return [
        checks.Warning(
            "The default cache is a LocMemCache, private to each process: with several "
            "server processes the failed-login limit (APPWS LOGIN_FAILURE_LIMIT) is "
            "counted per process, and a changed App can still be read from another "
            "process's cache for APP_CACHE_SECONDS.",
            hint=(
                'Share one cache between the processes, e.g. CACHES = {"default": '
                '{"BACKEND": "django.core.cache.backends.redis.RedisCache", '
                f'"LOCATION": "redis://127.0.0.1:6379/1"}}}} (see {DEPLOY_DOC}); silence '
                "appws.W003 if you run one process."
            ),
            id="appws.W003",
        )
    ]


_REDIS_HINT = (
    'CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", '
    '"LOCATION": "redis://127.0.0.1:6379/1"}}'
)


def check_throttle_cache(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> CheckMessages:
    """Warn (deploy) when the default cache cannot hold the failed-login count."""
    backend = _cache_backend()
    if backend == DUMMY_CACHE:
        return [
            checks.Warning(
                "The default cache is a DummyCache, which stores nothing: failed logins "
                "are never counted, so APPWS LOGIN_FAILURE_LIMIT does not stop anyone "
                "guessing App passwords (it only bounds the logins checked at once), and "
                "database Apps are read from the database on every login.",
                hint=(
                    f"Use a real cache: LocMemCache for one process, else {_REDIS_HINT} "
                    f"or memcached (see {DEPLOY_DOC}, 'Login throttling')."
                ),
                id="appws.W006",
            )
        ]
    kind = NON_ATOMIC_CACHES.get(backend or "")
    if kind is None:
        return []
    return [
        checks.Warning(
            f"The default cache is {kind}, whose incr() is a read and a write, not "
            "atomic across processes: with several server processes, logins arriving "
            "at once can get more than APPWS LOGIN_FAILURE_LIMIT wrong passwords "
            "checked per window.",
            hint=(
                f"Use a cache with an atomic increment shared by the processes: "
                f"{_REDIS_HINT}, or memcached (see {DEPLOY_DOC}, 'Login throttling'); "
                "silence appws.W006 if you run one process."
            ),
            id="appws.W006",
        )
    ]


# -- the APPWS setting -----------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_apps(apps_setting: object) -> CheckMessages:
    if not isinstance(apps_setting, Mapping):
        return [
            checks.Error(
                f'APPWS["APPS"] must be a dict of App name to options, not '
                f"{type(apps_setting).__name__}.",
                hint='APPWS = {"APPS": {"notes": {"password": "…"}}}',
                id="appws.E003",
            )
        ]
    errors: CheckMessages = []
    for name, entry in apps_setting.items():
        if not isinstance(name, str) or not name:
            errors.append(
                checks.Error(
                    f'APPWS["APPS"] has the key {name!r}: App names must be non-empty strings.',
                    id="appws.E003",
                )
            )
        elif not isinstance(entry, Mapping) or not isinstance(entry.get("password"), str):
            errors.append(
                checks.Error(
                    f'APPWS["APPS"][{name!r}] must be a dict with a string "password".',
                    hint=(
                        "Read the password from the environment, e.g. "
                        f'{{"password": os.environ["{name.upper().replace("-", "_")}'
                        '_PASSWORD"]}, or keep the App in the database (admin or '
                        "manage.py appws_app) instead."
                    ),
                    id="appws.E003",
                )
            )
        elif "check_logins" in entry and not _is_name_list(entry["check_logins"]):
            errors.append(
                checks.Error(
                    f'APPWS["APPS"][{name!r}]["check_logins"] must be a list of App names, '
                    f"not {entry['check_logins']!r}.",
                    hint=(
                        "Name the Apps whose passwords sessions of this App may verify with "
                        f'AppCheckLogin, e.g. "check_logins": ["{name}"]; leave it out for none.'
                    ),
                    id="appws.E003",
                )
            )
    return errors


def _is_name_list(value: object) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(n, str) and n for n in value)


def _check_app_dirs(app_dirs: object) -> CheckMessages:
    if isinstance(app_dirs, (str, Path)) or not isinstance(app_dirs, (list, tuple)):
        return [
            checks.Error(
                'APPWS["APP_DIRS"] must be a list of directories.',
                hint='APPWS = {"APP_DIRS": [BASE_DIR / "myapp" / "app"]}',
                id="appws.E005",
            )
        ]
    errors: CheckMessages = []
    for entry in app_dirs:
        if not isinstance(entry, (str, Path)) or not Path(entry).is_dir():
            errors.append(
                checks.Error(
                    f'APPWS["APP_DIRS"] lists {str(entry)!r}, which is not an existing directory.',
                    hint=(
                        "Give the absolute path of a directory holding the Apps' .htm pages "
                        "and assets (build it from BASE_DIR), or remove the entry."
                    ),
                    id="appws.E005",
                )
            )
    return errors


#: Number settings: (key, integer only, smallest allowed value, what it counts).
#: A bound of None means "more than 0" (any positive number).
_NUMBERS: tuple[tuple[str, bool, int | None, str], ...] = (
    ("HEARTBEAT_SECONDS", False, None, "seconds between heartbeats"),
    ("LOGIN_FAILURE_LIMIT", True, 1, "failed logins before an address is refused"),
    ("LOGIN_FAILURE_WINDOW", False, None, "seconds"),
    ("APP_CACHE_SECONDS", False, 0, "seconds; 0 caches nothing"),
    ("MAX_DEPTH", True, 1, "the frame itself is depth 1"),
    ("MAX_SRC_LENGTH", True, 1, "characters"),
    ("MAX_SUBSCRIPTIONS", True, 0, "subscriptions per session"),
    ("RATE_LIMIT", False, None, "messages per second"),
    ("RATE_BURST", True, 1, "messages"),
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

#: daphne's default --websocket-max-message-size: it fails a connection sent more.
DAPHNE_MAX_MESSAGE_BYTES = 1024 * 1024

#: Budgets that must hold at least one frame of MAX_OUTGOING_BYTES.
_BUDGETS = ("MAX_INDICATION_BYTES", "SEND_WINDOW_BYTES", "PBX_SEND_WINDOW_BYTES")


def _check_numbers(options: Mapping[str, Any]) -> CheckMessages:
    errors: CheckMessages = []
    size = options["MAX_MESSAGE_BYTES"]
    if not _is_int(size) or size <= 0:
        errors.append(
            checks.Error(
                f'APPWS["MAX_MESSAGE_BYTES"] must be a positive integer (bytes), not {size!r}.',
                hint=(
                    f"The default is {DEFAULTS['MAX_MESSAGE_BYTES']} (1 MiB); keep daphne's "
                    "--websocket-max-message-size and --websocket-max-frame-size at or "
                    "above it."
                ),
                id="appws.E004",
            )
        )
    for key, integer, low, meaning in _NUMBERS:
        if key not in options:
            continue
        value = options[key]
        kind_ok = _is_int(value) if integer else _is_number(value)
        if kind_ok and (value > 0 if low is None else value >= low):
            continue
        if low is None:
            wanted = "a positive integer" if integer else "a positive number"
        else:
            wanted = f"an integer >= {low}" if integer else f"a number >= {low}"
        errors.append(
            checks.Error(
                f'APPWS["{key}"] must be {wanted} ({meaning}), not {value!r}.',
                hint=f"The default is {DEFAULTS[key]!r}.",
                id="appws.E006",
            )
        )
    return errors or _check_outgoing(options)


def _check_outgoing(options: Mapping[str, Any]) -> CheckMessages:
    """The outgoing limit against daphne's, and the budgets against the limit."""
    limit = options["MAX_OUTGOING_BYTES"]
    messages: CheckMessages = [
        checks.Error(
            f'APPWS["{key}"] ({options[key]}) is below APPWS["MAX_OUTGOING_BYTES"] ({limit}): '
            "a session sent one large message would be closed as a slow reader.",
            hint=f"Raise {key}, or lower MAX_OUTGOING_BYTES.",
            id="appws.E008",
        )
        for key in _BUDGETS
        if options[key] < limit
    ]
    if limit > DAPHNE_MAX_MESSAGE_BYTES:
        messages.append(
            checks.Warning(
                f'APPWS["MAX_OUTGOING_BYTES"] ({limit}) is above daphne\'s default '
                f"--websocket-max-message-size ({DAPHNE_MAX_MESSAGE_BYTES}): daphne fails "
                "the whole connection when it is handed a larger message.",
                hint=(
                    "Start daphne with --websocket-max-message-size at or above it, or "
                    "silence appws.W007 if you did (or serve with another ASGI server)."
                ),
                id="appws.W007",
            )
        )
    return messages


def _check_login_frame_limit(
    options: Mapping[str, Any], configured: Mapping[str, Any]
) -> CheckMessages:
    # Only a warning: the smaller of the two limits applies, nothing breaks. And only
    # when set: lowering MAX_MESSAGE_BYTES alone rightly lowers both.
    if "MAX_LOGIN_MESSAGE_BYTES" not in configured:
        return []
    login, size = options["MAX_LOGIN_MESSAGE_BYTES"], options["MAX_MESSAGE_BYTES"]
    if not (_is_int(login) and _is_int(size)) or size <= 0 or login <= size:
        return []
    return [
        checks.Warning(
            f'APPWS["MAX_LOGIN_MESSAGE_BYTES"] ({login}) is above APPWS["MAX_MESSAGE_BYTES"] '
            f"({size}): frames before login are held to {size} bytes, as all others.",
            hint=(
                "Keep it small (the default is "
                f"{DEFAULTS['MAX_LOGIN_MESSAGE_BYTES']}): it bounds what a client that "
                "knows no password can make the server parse."
            ),
            id="appws.W008",
        )
    ]


def _check_allowed_origins(origins: object) -> CheckMessages:
    if isinstance(origins, str) or not isinstance(origins, (list, tuple)):
        return [
            checks.Error(
                'APPWS["ALLOWED_ORIGINS"] must be a list of origins.',
                hint='APPWS = {"ALLOWED_ORIGINS": ["https://myapps.example.com"]}',
                id="appws.E007",
            )
        ]
    errors: CheckMessages = []
    for origin in origins:
        if origin == "*":
            continue
        parts = urlsplit(origin) if isinstance(origin, str) else None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.netloc
            or (parts.path or parts.query or parts.fragment)
        ):
            errors.append(
                checks.Error(
                    f'APPWS["ALLOWED_ORIGINS"] lists {origin!r}, which no browser sends as '
                    "an Origin.",
                    hint=(
                        'Write origins as scheme://host[:port] with no path or trailing "/", '
                        'e.g. "https://myapps.example.com", or "*" for any.'
                    ),
                    id="appws.E007",
                )
            )
    return errors


def check_appws_setting(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> CheckMessages:
    """Errors for an ``APPWS`` setting that appws would refuse or misread."""
    configured = getattr(settings, "APPWS", None)
    if configured is None:
        return []
    if not isinstance(configured, Mapping):
        return [
            checks.Error(
                f"The APPWS setting must be a dict, not {type(configured).__name__}.",
                hint="APPWS = {...}; the keys are listed in docs/consumer.md, 'Settings'.",
                id="appws.E002",
            )
        ]
    from appws.conf import appws_settings

    try:
        options = appws_settings()
    except ImproperlyConfigured as error:
        return [
            checks.Error(
                str(error),
                hint="Correct or remove the misspelt key(s).",
                id="appws.E002",
            )
        ]
    return [
        *_check_apps(options["APPS"]),
        *_check_numbers(options),
        *_check_login_frame_limit(options, configured),
        *_check_app_dirs(options["APP_DIRS"]),
        *_check_allowed_origins(options.get("ALLOWED_ORIGINS", [])),
    ]


# -- the server ------------------------------------------------------------------


def check_daphne_installed(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> CheckMessages:
    """Warn when ``runserver`` would not serve WebSockets."""
    if apps.is_installed("daphne"):
        return []  # its position is daphne's own check (daphne.E001)
    return [
        checks.Warning(
            '"daphne" is not in INSTALLED_APPS: manage.py runserver then serves plain '
            "HTTP and answers every App Service WebSocket with 404.",
            hint=(
                'Put "daphne" first in INSTALLED_APPS (before django.contrib.staticfiles). '
                "If you never use runserver (e.g. you serve with uvicorn), silence "
                "appws.W001."
            ),
            id="appws.W001",
        )
    ]


#: Attributes through which ASGI middleware reaches the application it wraps.
_WRAPPED = ("inner", "application")


def _refuses_missing_origin(app: object) -> bool:
    from channels.security.websocket import OriginValidator

    if not isinstance(app, OriginValidator):
        return False
    if type(app).valid_origin is not OriginValidator.valid_origin:
        return False  # a subclass deciding for itself, e.g. letting a PBX in
    return "*" not in app.allowed_origins


def guarded_services(application: object) -> list[type]:
    """App Service classes routed behind an origin validator that refuses no ``Origin``.

    Walks the application the way a connection is routed (protocol routers'
    ``"websocket"`` branch, middleware, ``URLRouter`` routes) and remembers
    whether a strict ``OriginValidator`` (what ``AllowedHostsOriginValidator``
    returns) was passed on the way to each ``AppWebsocketConsumer``.
    """
    from appws.server.consumer import AppWebsocketConsumer

    found: list[type] = []
    seen: set[tuple[int, bool]] = set()

    def visit(app: object, guarded: bool) -> None:
        if app is None or (id(app), guarded) in seen:
            return
        seen.add((id(app), guarded))
        guarded = guarded or _refuses_missing_origin(app)
        mapping = getattr(app, "application_mapping", None)
        if isinstance(mapping, Mapping):
            visit(mapping.get("websocket"), guarded)
            return
        routes = getattr(app, "routes", None)
        if isinstance(routes, (list, tuple)):
            for route in routes:
                visit(getattr(route, "callback", None), guarded)
            return
        consumer = getattr(app, "consumer_class", None)
        if isinstance(consumer, type):
            if guarded and issubclass(consumer, AppWebsocketConsumer) and consumer not in found:
                found.append(consumer)
            return
        for attr in _WRAPPED:
            inner = getattr(app, attr, None)
            if inner is not None and inner is not app:
                visit(inner, guarded)
                return

    visit(application, False)
    return found


def check_origin_validator(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> CheckMessages:
    """Warn when App Services sit behind a validator that refuses a PBX."""
    if not getattr(settings, "ASGI_APPLICATION", None):
        return []
    from appws.catalogue import load_asgi_application

    try:
        application = load_asgi_application()
    except Exception as error:  # whatever the module raises: report, never crash check
        return [
            checks.Warning(
                f"ASGI_APPLICATION could not be loaded to check its WebSocket routes: {error}",
                hint="Fix the module or the setting; daphne and runserver will fail the same way.",
                id="appws.W005",
            )
        ]
    services = guarded_services(application)
    if not services:
        return []
    names = ", ".join(f"{cls.__module__}.{cls.__qualname__}" for cls in services)
    return [
        checks.Warning(
            f"App Services ({names}) are routed behind an OriginValidator "
            "(AllowedHostsOriginValidator) that refuses connections without an Origin "
            "header: a PBX or any other non-browser client connecting to them is rejected "
            "during the WebSocket handshake.",
            hint=(
                "Route App Services outside the validator: appws checks browser origins "
                "itself (ALLOWED_HOSTS and APPWS['ALLOWED_ORIGINS']) and lets connections "
                f"without an Origin through; see {DEPLOY_DOC}, 'Origins'."
            ),
            id="appws.W004",
        )
    ]
