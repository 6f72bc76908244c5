"""Django system checks for a site serving App Services (``manage.py check``).

Every check is tagged ``appws`` (``manage.py check --tag appws``). The ones that
are about running in production are deployment checks: they
run with ``manage.py check --deploy``, where Django's own production checks
run too. Silence one with ``SILENCED_SYSTEM_CHECKS = ["appws.W001"]``.

| id | level | what |
|---|---|---|
| ``appws.E001`` | Error | no ``default`` channel layer in ``CHANNEL_LAYERS`` |
| ``appws.E002`` | Error | ``APPWS`` is not a dict, or has unknown keys |
| ``appws.E003`` | Error | a bad ``APPWS["APPS"]`` entry (password, ``check_logins``, rate) |
| ``appws.E004`` | Error | ``APPWS["MAX_MESSAGE_BYTES"]`` is not a positive integer |
| ``appws.E005`` | Error | an ``APPWS["APP_DIRS"]`` entry is not an existing directory |
| ``appws.E006`` | Error | a number setting (heartbeats, timeouts, limits) is out of range |
| ``appws.E007`` | Error | an ``APPWS["ALLOWED_ORIGINS"]`` entry that is not an origin |
| ``appws.E008`` | Error | a send budget below ``MAX_OUTGOING_BYTES`` |
| ``appws.E009`` | Error | a handler's ``permission`` that no installed model declares |
| ``appws.E010`` | Error | an on/off setting that is not ``True`` or ``False`` |
| ``appws.W001`` | Warning | ``daphne`` is not in ``INSTALLED_APPS`` |
| ``appws.W002`` | Warning (deploy) | the in-memory channel layer with ``DEBUG = False`` |
| ``appws.W003`` | Warning (deploy) | a per-process ``LocMemCache`` with ``DEBUG = False`` |
| ``appws.W004`` | Warning | App Services behind a validator refusing clients without ``Origin`` |
| ``appws.W005`` | Warning | ``ASGI_APPLICATION`` cannot be imported to look at its routes |
| ``appws.W006`` | Warning (deploy) | a default cache that cannot count failed logins atomically |
| ``appws.W007`` | Warning | ``MAX_OUTGOING_BYTES`` above daphne's default message size |
| ``appws.W008`` | Warning | ``APPWS["MAX_LOGIN_MESSAGE_BYTES"]`` above ``MAX_MESSAGE_BYTES`` |
| ``appws.W009`` | Warning | a ``PBX_USERS_MAP_*`` refinement set while ``PBX_USERS_MAP`` is off |
| ``appws.W010`` | Warning | a Redis layer host whose ``socket_timeout`` ends its receive early |

(``daphne`` listed after ``django.contrib.staticfiles`` is daphne's own
``daphne.E001``.) The rules of the ``APPWS`` setting itself (E002 to E008, E010,
W007 to W009) live beside the setting, in ``appws.conf.validation``; this module only
turns their problem records into check messages.

Long because it is the one place every check id is registered and worded; each
check is a few lines and the rules it needs sit in their own modules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.apps import AppConfig, apps
from django.apps.registry import Apps
from django.conf import settings
from django.core import checks

from appws.conf import Problem, problems
from appws.layer.memory import IN_MEMORY_LAYER, default_layer_backend, default_layer_is_in_memory
from appws.layer.redis_timeouts import SAFE_SOCKET_TIMEOUT, short_read_timeouts

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
    checks.register(check_redis_read_timeout, TAG)
    checks.register(check_appws_setting, TAG)
    checks.register(check_daphne_installed, TAG)
    checks.register(check_origin_validator, TAG)
    checks.register(check_handler_permissions, TAG)
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


def check_redis_read_timeout(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> CheckMessages:
    """Warn when the Redis layer's reads time out before its blocking receive returns."""
    layers = getattr(settings, "CHANNEL_LAYERS", None)
    default = layers.get("default") if isinstance(layers, Mapping) else None
    if not isinstance(default, Mapping):
        return []
    short, block = short_read_timeouts(default)
    if not short:
        return []
    return [
        checks.Warning(
            f"The Redis channel layer reads with a socket_timeout of {min(short):g} s "
            f"(redis-py's default since 8.0), no longer than channels_redis's blocking "
            f"receive ({block:g} s): every idle session's receive fails with TimeoutError "
            "every few seconds, and a message Redis hands out just then is lost.",
            hint=(
                f'Give each host a longer one: {{"address": REDIS_URL, '
                f'"max_connections": 1000, "socket_timeout": {SAFE_SOCKET_TIMEOUT}}} '
                f"(see {DEPLOY_DOC})."
            ),
            id="appws.W010",
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


def _check_message(problem: Problem) -> checks.CheckMessage:
    kind = checks.Error if problem.level == "error" else checks.Warning
    return kind(problem.message, hint=problem.hint, id=problem.id)


def check_appws_setting(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> CheckMessages:
    """Errors for an ``APPWS`` setting that appws would refuse or misread (``appws.conf``)."""
    return [_check_message(problem) for problem in problems(getattr(settings, "APPWS", None))]


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


def guarded_services(application: object) -> list[type]:
    """App Service classes routed behind an origin validator that refuses no ``Origin``."""
    from appws.catalogue import routes

    found: list[type] = []
    for route in routes(application):
        if route.refuses_missing_origin and route.consumer not in found:
            found.append(route.consumer)
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


# -- handler permissions -----------------------------------------------------------


def declared_permissions(registry: Apps = apps) -> set[str]:
    """``"app_label.codename"`` of every permission ``migrate`` creates for the models.

    Read from the models' ``Meta`` (``default_permissions``, ``permissions``),
    never the database: ``check`` runs before ``migrate``.
    """
    found: set[str] = set()
    for model in registry.get_models():
        opts = model._meta
        found.update(
            f"{opts.app_label}.{action}_{opts.model_name}" for action in opts.default_permissions
        )
        found.update(f"{opts.app_label}.{codename}" for codename, _name in opts.permissions)
    return found


def _is_access_permission(permission: str) -> bool:
    # Each App's "Can open App" permission is a row created with the App, not in Meta.
    from appws.models import ACCESS_CODENAME_PREFIX

    return permission.startswith(f"appws.{ACCESS_CODENAME_PREFIX}")


def check_handler_permissions(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> CheckMessages:
    """Error for a handler ``permission`` no installed model declares (it would always refuse)."""
    if not getattr(settings, "ASGI_APPLICATION", None):
        return []
    from appws.catalogue import load_asgi_application, routes

    try:
        application = load_asgi_application()
    except Exception:  # reported by check_origin_validator as appws.W005
        return []
    known = declared_permissions()
    messages: CheckMessages = []
    seen: set[type] = set()
    for route in routes(application):
        if route.consumer in seen:
            continue
        seen.add(route.consumer)
        for handler in route.consumer.handlers.values():
            permission = handler.permission
            if permission is None or permission in known or _is_access_permission(permission):
                continue
            service = f"{route.consumer.__module__}.{route.consumer.__qualname__}"
            messages.append(
                checks.Error(
                    f"{service} handler {handler.mt!r} needs permission {permission!r}, "
                    "which no installed model declares: every session would get "
                    "'forbidden' for it.",
                    hint=(
                        'Name it "app_label.codename" as for user.has_perm(): a model\'s '
                        "add_/change_/delete_/view_<model> or a Meta.permissions codename of "
                        "an app in INSTALLED_APPS (see docs/permissions.md)."
                    ),
                    id="appws.E009",
                )
            )
    return messages
