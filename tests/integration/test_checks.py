"""System checks: what ``manage.py check`` (and ``check --deploy``) says about a site."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from channels.auth import AuthMiddlewareStack
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator, OriginValidator
from channels.testing import WebsocketCommunicator
from django.core.checks import run_checks
from django.db import models
from django.test.utils import isolate_apps
from django.urls import path

from appws import AppWebsocketConsumer, checks, mt
from appws.server.routing import service_urls
from demo_site.services import EchoService
from tests.services import NotesService

ALL_APPWS_IDS = {f"appws.E{n:03}" for n in range(1, 11)} | {f"appws.W{n:03}" for n in range(1, 11)}
HERE = "tests.integration.test_checks"


def ids(messages: list[Any]) -> list[str]:
    return [message.id for message in messages]


def appws_ids(*, deploy: bool = False) -> list[str]:
    return [
        message.id
        for message in run_checks(include_deployment_checks=deploy)
        if message.id.startswith("appws.")
    ]


# -- the project's own settings are quiet ------------------------------------------


def test_the_test_settings_pass_every_appws_check() -> None:
    assert appws_ids() == []


def test_the_demo_settings_pass_even_the_deploy_checks(settings: Any) -> None:
    # The demo runs with DEBUG on unless told otherwise (pytest-django turns it off).
    settings.DEBUG = True
    assert appws_ids(deploy=True) == []


def test_checks_are_tagged_appws(settings: Any) -> None:
    settings.DEBUG = False
    settings.APPWS = {"APPS": {"notes": {}}}
    found = ids(run_checks(tags=["appws"], include_deployment_checks=True))
    assert sorted(found) == ["appws.E003", "appws.W002", "appws.W003"]
    assert set(found) <= ALL_APPWS_IDS


# -- channel layer and cache --------------------------------------------------------


def test_no_channel_layer_is_an_error(settings: Any) -> None:
    del settings.CHANNEL_LAYERS
    messages = checks.check_channel_layer(None)
    assert ids(messages) == ["appws.E001"]
    assert messages[0].is_serious()
    assert "RedisChannelLayer" in messages[0].hint


def test_a_layer_without_default_alias_is_an_error(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {"other": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    assert ids(checks.check_channel_layer(None)) == ["appws.E001"]


def test_in_memory_layer_warns_only_in_production(settings: Any) -> None:
    settings.DEBUG = False
    messages = checks.check_in_memory_layer(None)
    assert ids(messages) == ["appws.W002"]
    assert "docs/deploy.md" in messages[0].hint
    settings.DEBUG = True
    assert checks.check_in_memory_layer(None) == []


def test_in_memory_layer_is_a_deploy_check(settings: Any) -> None:
    settings.DEBUG = False
    assert "appws.W002" not in appws_ids()
    assert "appws.W002" in appws_ids(deploy=True)


def test_redis_layer_passes(settings: Any) -> None:
    settings.DEBUG = False
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:6379/0"]},
        }
    }
    assert checks.check_channel_layer(None) == []
    assert checks.check_in_memory_layer(None) == []


def redis_layer(*hosts: Any) -> dict[str, Any]:
    return {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": list(hosts)},
        }
    }


def test_redis_hosts_reading_no_longer_than_the_blocking_receive_warn(settings: Any) -> None:
    from appws.layer.redis_timeouts import default_read_timeout

    default = default_read_timeout()
    settings.CHANNEL_LAYERS = redis_layer({"address": "redis://127.0.0.1:6379/0"})
    expected = [] if default is None else ["appws.W010"]  # redis-py 8: 5 s
    assert ids(checks.check_redis_read_timeout(None)) == expected
    for short in (
        "redis://127.0.0.1:6379/0?socket_timeout=5",
        {"address": "redis://127.0.0.1:6379/0", "socket_timeout": 3},
    ):
        settings.CHANNEL_LAYERS = redis_layer(short)
        messages = checks.check_redis_read_timeout(None)
        assert ids(messages) == ["appws.W010"]
        assert '"socket_timeout": 15' in messages[0].hint


@pytest.mark.parametrize(
    "host",
    [
        {"address": "redis://127.0.0.1:6379/0", "socket_timeout": 15},
        {"address": "redis://127.0.0.1:6379/0", "socket_timeout": None},
        {"address": "redis://127.0.0.1:6379/0?socket_timeout=30"},
        "redis://127.0.0.1:6379/0?socket_timeout=10",
        # Not a number: redis-py refuses it at the first connection; the check must not crash.
        {"address": "redis://127.0.0.1:6379/0", "socket_timeout": "soon"},
    ],
)
def test_redis_hosts_reading_longer_than_the_blocking_receive_pass(settings: Any, host) -> None:
    settings.CHANNEL_LAYERS = redis_layer(host)
    assert checks.check_redis_read_timeout(None) == []


def test_the_read_timeout_check_ignores_other_layers(settings: Any) -> None:
    assert checks.check_redis_read_timeout(None) == []  # the in-memory layer
    del settings.CHANNEL_LAYERS
    assert checks.check_redis_read_timeout(None) == []


def test_per_process_cache_warns_only_in_production(settings: Any) -> None:
    settings.DEBUG = False
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    messages = checks.check_shared_cache(None)
    assert ids(messages) == ["appws.W003"]
    assert "LOGIN_FAILURE_LIMIT" in messages[0].msg
    settings.DEBUG = True
    assert checks.check_shared_cache(None) == []


def test_shared_cache_passes(settings: Any) -> None:
    settings.DEBUG = False
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/1",
        }
    }
    assert checks.check_shared_cache(None) == []


@pytest.mark.parametrize(
    ("backend", "says"),
    [
        ("django.core.cache.backends.dummy.DummyCache", "stores nothing"),
        ("django.core.cache.backends.db.DatabaseCache", "not atomic across processes"),
        ("django.core.cache.backends.filebased.FileBasedCache", "not atomic across processes"),
    ],
)
def test_caches_that_cannot_count_failed_logins_warn(settings: Any, backend: str, says: str):
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": "somewhere"}}
    messages = checks.check_throttle_cache(None)
    assert ids(messages) == ["appws.W006"]
    assert says in messages[0].msg and "LOGIN_FAILURE_LIMIT" in messages[0].msg
    assert "RedisCache" in (messages[0].hint or "")


@pytest.mark.parametrize(
    "backend",
    [
        "django.core.cache.backends.redis.RedisCache",
        "django.core.cache.backends.memcached.PyMemcacheCache",
        # Per process: appws.W003's concern (several processes), atomic within one.
        "django.core.cache.backends.locmem.LocMemCache",
    ],
)
def test_caches_with_an_atomic_increment_pass_the_throttle_check(settings: Any, backend: str):
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": "somewhere"}}
    assert checks.check_throttle_cache(None) == []


def test_locmem_cache_warns_about_the_limit_per_process(settings: Any) -> None:
    settings.DEBUG = False
    del settings.CACHES  # Django's default is a LocMemCache too
    messages = checks.check_shared_cache(None)
    assert ids(messages) == ["appws.W003"]
    assert "counted per process" in messages[0].msg


# -- the APPWS setting -----------------------------------------------------------


@pytest.mark.parametrize("value", ["notes", [5], [""], {"notes": True}])
def test_check_logins_of_a_settings_app_must_be_a_list_of_names(settings: Any, value: Any):
    settings.APPWS = {"APPS": {"admin": {"password": "x", "check_logins": value}}}
    messages = checks.check_appws_setting(None)
    assert ids(messages) == ["appws.E003"]
    assert "check_logins" in messages[0].msg


def test_check_logins_of_a_settings_app(settings: Any) -> None:
    settings.APPWS = {"APPS": {"admin": {"password": "x", "check_logins": ["notes"]}}}
    assert checks.check_appws_setting(None) == []


def test_unknown_appws_key_is_an_error(settings: Any) -> None:
    settings.APPWS = {**settings.APPWS, "MAX_MESAGE_BYTES": 10}
    messages = checks.check_appws_setting(None)
    assert ids(messages) == ["appws.E002"]
    assert "MAX_MESAGE_BYTES" in messages[0].msg


def test_appws_not_a_dict_is_an_error(settings: Any) -> None:
    settings.APPWS = [("APPS", {})]
    assert ids(checks.check_appws_setting(None)) == ["appws.E002"]


def test_no_appws_setting_is_fine(settings: Any) -> None:
    del settings.APPWS
    assert checks.check_appws_setting(None) == []


@pytest.mark.parametrize(
    "apps",
    [
        {"notes": {}},
        {"notes": {"password": None}},
        {"notes": {"password": 1234}},
        {"notes": "the-password"},
        {"": {"password": "x"}},
    ],
)
def test_app_without_string_password_is_an_error(settings: Any, apps: Any) -> None:
    settings.APPWS = {"APPS": apps}
    messages = checks.check_appws_setting(None)
    assert ids(messages) == ["appws.E003"]


def test_every_bad_app_is_reported(settings: Any) -> None:
    settings.APPWS = {"APPS": {"a": {}, "b": {"password": "ok"}, "c": {"password": 1}}}
    messages = checks.check_appws_setting(None)
    assert ids(messages) == ["appws.E003", "appws.E003"]
    assert "'a'" in messages[0].msg
    assert "'c'" in messages[1].msg


def test_apps_not_a_dict_is_an_error(settings: Any) -> None:
    settings.APPWS = {"APPS": ["notes"]}
    assert ids(checks.check_appws_setting(None)) == ["appws.E003"]


@pytest.mark.parametrize("size", [0, -1, 1.5, "1048576", True, None])
def test_max_message_bytes_must_be_a_positive_int(settings: Any, size: Any) -> None:
    settings.APPWS = {"MAX_MESSAGE_BYTES": size}
    messages = checks.check_appws_setting(None)
    assert ids(messages) == ["appws.E004"]
    assert "--websocket-max-message-size" in messages[0].hint


def test_a_positive_max_message_bytes_passes(settings: Any) -> None:
    settings.APPWS = {"MAX_MESSAGE_BYTES": 4096}
    assert checks.check_appws_setting(None) == []


def test_app_dirs_must_exist(settings: Any, tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    a_file = tmp_path / "notes.htm"
    a_file.write_text("<html></html>")
    settings.APPWS = {"APP_DIRS": [tmp_path, str(tmp_path), missing, a_file]}
    messages = checks.check_appws_setting(None)
    assert ids(messages) == ["appws.E005", "appws.E005"]
    assert str(missing) in messages[0].msg
    assert str(a_file) in messages[1].msg


@pytest.mark.parametrize("app_dirs", ["/srv/apps", 5])
def test_app_dirs_must_be_a_list(settings: Any, app_dirs: Any) -> None:
    settings.APPWS = {"APP_DIRS": app_dirs}
    assert ids(checks.check_appws_setting(None)) == ["appws.E005"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("HEARTBEAT_SECONDS", 0),
        ("HEARTBEAT_SECONDS", "10"),
        ("SHUTDOWN_TIMEOUT", 0),
        ("SHUTDOWN_TIMEOUT", "5"),
        ("LOGIN_FAILURE_LIMIT", 0),
        ("LOGIN_FAILURE_LIMIT", 2.5),
        ("LOGIN_FAILURE_WINDOW", -1),
        ("APP_CACHE_SECONDS", -1),
        ("APP_CACHE_SECONDS", None),
        ("PBX_CACHE_SECONDS", -1),
        ("PBX_CACHE_SECONDS", "2"),
        ("MAX_DEPTH", 0),
        ("MAX_SRC_LENGTH", 0),
        ("MAX_SUBSCRIPTIONS", -1),
        ("RATE_LIMIT", 0),
        ("RATE_BURST", 0.5),
        ("LOGIN_TIMEOUT", -5),
        ("MAX_MESSAGES_BEFORE_LOGIN", 1),
        ("MAX_LOGIN_MESSAGE_BYTES", 0),
        ("MAX_LOGIN_MESSAGE_BYTES", 1.5),
        ("MAX_LOGIN_CONTAINERS", 0),
        ("LOGIN_BYTES_PER_SECOND", -1),
        ("LOGIN_BYTES_PER_SECOND", "1M"),
        ("MAX_OUTGOING_BYTES", 4095),
        ("MAX_INDICATION_BYTES", 0),
        ("SEND_WINDOW_SECONDS", 0),
        ("SEND_WINDOW_BYTES", 1.5),
        ("PBX_SEND_WINDOW_BYTES", None),
        ("PBX_RATE_LIMIT", 0),
        ("PBX_RATE_LIMIT", "100"),
        ("PBX_RATE_LIMIT", True),
        ("MAX_QUEUED_MESSAGES", 0),
        ("MAX_QUEUED_MESSAGES", 1.5),
        ("PEER_REQUEST_TIMEOUT", 0),
        ("PEER_REQUEST_TIMEOUT", None),
        ("MAX_PEER_REQUESTS", 0),
        ("PEER_SUBSCRIPTION_QUEUE", 0),
    ],
)
def test_number_settings_out_of_range(settings: Any, key: str, value: Any) -> None:
    settings.APPWS = {key: value}
    messages = checks.check_appws_setting(None)
    assert ids(messages) == ["appws.E006"]
    assert key in messages[0].msg


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("HEARTBEAT_SECONDS", 0.5),
        ("SHUTDOWN_TIMEOUT", 0.5),
        ("LOGIN_FAILURE_LIMIT", 1),
        ("APP_CACHE_SECONDS", 0),
        ("PBX_CACHE_SECONDS", 0),
        ("MAX_SUBSCRIPTIONS", 0),
        ("RATE_LIMIT", 0.5),
        ("LOGIN_TIMEOUT", 0),
        ("MAX_MESSAGES_BEFORE_LOGIN", 2),
        ("MAX_LOGIN_MESSAGE_BYTES", 1),
        ("LOGIN_BYTES_PER_SECOND", 0),
        ("LOGIN_BYTES_PER_SECOND", 262144.5),
        ("PBX_RATE_LIMIT", None),
        ("PBX_RATE_LIMIT", 2000),
        ("MAX_QUEUED_MESSAGES", 1),
        ("PEER_REQUEST_TIMEOUT", 0.5),
        ("MAX_PEER_REQUESTS", 1),
        ("PEER_SUBSCRIPTION_QUEUE", 1),
    ],
)
def test_number_settings_in_range(settings: Any, key: str, value: Any) -> None:
    settings.APPWS = {key: value}
    assert checks.check_appws_setting(None) == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("TRACK_SESSIONS", "False"),
        ("MAP_USERS", 0),
        ("KEEPALIVE_ECHO", None),
        ("REQUIRE_USER_ACCESS", "yes"),
        ("PBX_USERS_MAP", 1),
        ("PBX_USERS_MAP_STAFF", "0"),
    ],
)
def test_an_on_off_setting_must_be_a_bool(settings: Any, key: str, value: Any) -> None:
    settings.APPWS = {key: value}
    messages = checks.check_appws_setting(None)
    assert ids(messages) == ["appws.E010"]
    assert key in messages[0].msg and repr(value) in messages[0].msg
    settings.APPWS = {key: False}
    assert checks.check_appws_setting(None) == []


def test_a_refinement_of_the_user_mapping_without_the_mapping_warns(settings: Any) -> None:
    settings.APPWS = {"PBX_USERS_MAP_CREATE": True, "PBX_USERS_MAP_ACTIVE": True}
    messages = checks.check_appws_setting(None)
    assert ids(messages) == ["appws.W009"]
    assert "PBX_USERS_MAP_CREATE, PBX_USERS_MAP_ACTIVE" in messages[0].msg
    settings.APPWS = {"PBX_USERS_MAP": True, "PBX_USERS_MAP_CREATE": True}
    assert checks.check_appws_setting(None) == []


def test_login_frame_limit_above_the_frame_limit_warns(settings: Any) -> None:
    settings.APPWS = {"MAX_MESSAGE_BYTES": 4096, "MAX_LOGIN_MESSAGE_BYTES": 8192}
    messages = checks.check_appws_setting(None)
    assert ids(messages) == ["appws.W008"]
    assert "4096 bytes" in messages[0].msg
    settings.APPWS = {"MAX_MESSAGE_BYTES": 4096, "MAX_LOGIN_MESSAGE_BYTES": 4096}
    assert checks.check_appws_setting(None) == []


def test_number_error_names_the_bound(settings: Any) -> None:
    settings.APPWS = {"MAX_MESSAGES_BEFORE_LOGIN": 1, "RATE_LIMIT": 0}
    texts = [message.msg for message in checks.check_appws_setting(None)]
    assert texts == [
        'APPWS["RATE_LIMIT"] must be a positive number (messages per second), not 0.',
        'APPWS["MAX_MESSAGES_BEFORE_LOGIN"] must be an integer >= 2 (a login takes '
        "AppChallenge and AppLogin), not 1.",
    ]


@pytest.mark.parametrize(
    "origins",
    [["*"], ["https://myapps.example.com", "http://127.0.0.1:8000"], ("https://[::1]:8443",)],
)
def test_allowed_origins_pass(settings: Any, origins: Any) -> None:
    settings.APPWS = {"ALLOWED_ORIGINS": origins}
    assert checks.check_appws_setting(None) == []


@pytest.mark.parametrize(
    "origin", ["myapps.example.com", "https://myapps.example.com/", "wss://x.example", 5]
)
def test_allowed_origins_must_be_origins(settings: Any, origin: Any) -> None:
    settings.APPWS = {"ALLOWED_ORIGINS": ["https://ok.example", origin]}
    messages = checks.check_appws_setting(None)
    assert ids(messages) == ["appws.E007"]
    assert repr(origin) in messages[0].msg


def test_allowed_origins_must_be_a_list(settings: Any) -> None:
    settings.APPWS = {"ALLOWED_ORIGINS": "https://myapps.example.com"}
    assert ids(checks.check_appws_setting(None)) == ["appws.E007"]


def test_setting_errors_stop_management_commands(settings: Any) -> None:
    settings.APPWS = {"APPS": {"notes": {}}}
    assert "appws.E003" in appws_ids()


# -- daphne -------------------------------------------------------------------------


def test_daphne_missing_warns(settings: Any) -> None:
    settings.INSTALLED_APPS = [app for app in settings.INSTALLED_APPS if app != "daphne"]
    messages = checks.check_daphne_installed(None)
    assert ids(messages) == ["appws.W001"]
    assert "404" in messages[0].msg
    assert "before django.contrib.staticfiles" in messages[0].hint


def test_daphne_after_staticfiles_is_daphnes_own_error(settings: Any) -> None:
    installed = [app for app in settings.INSTALLED_APPS if app != "daphne"]
    settings.INSTALLED_APPS = [*installed, "daphne"]
    assert checks.check_daphne_installed(None) == []
    assert "daphne.E001" in ids(run_checks())


# -- origin validators ------------------------------------------------------------


class ChatConsumer(AsyncWebsocketConsumer):
    """A cookie-authenticated consumer that should keep its origin check."""


class OriginValidatorAllowingNoOrigin(OriginValidator):
    """A site's own validator: no Origin (a PBX) passes, browser origins are checked."""

    def valid_origin(self, parsed_origin: Any) -> bool:
        return parsed_origin is None or super().valid_origin(parsed_origin)


service_urls_for_checks = service_urls(EchoService, NotesService)


def _services() -> URLRouter:
    return URLRouter(service_urls_for_checks)


guarded = ProtocolTypeRouter({"websocket": AllowedHostsOriginValidator(_services())})
guarded_deep = ProtocolTypeRouter(
    {"websocket": AuthMiddlewareStack(AllowedHostsOriginValidator(_services()))}
)
only_chat_guarded = ProtocolTypeRouter(
    {
        "websocket": URLRouter(
            [
                path("chat/", AllowedHostsOriginValidator(ChatConsumer.as_asgi())),
                *service_urls_for_checks,
            ]
        )
    }
)
wildcard = ProtocolTypeRouter({"websocket": OriginValidator(_services(), ["*"])})
no_origin_allowed = ProtocolTypeRouter(
    {"websocket": OriginValidatorAllowingNoOrigin(_services(), ["127.0.0.1", "localhost"])}
)


@pytest.mark.parametrize("application", ["guarded", "guarded_deep"])
def test_app_services_behind_origin_validator_warn(settings: Any, application: str) -> None:
    settings.ASGI_APPLICATION = f"{HERE}.{application}"
    messages = checks.check_origin_validator(None)
    assert ids(messages) == ["appws.W004"]
    assert "demo_site.services.EchoService" in messages[0].msg
    assert "tests.services.NotesService" in messages[0].msg
    assert "docs/deploy.md" in messages[0].hint


@pytest.mark.parametrize("application", ["only_chat_guarded", "wildcard", "no_origin_allowed"])
def test_app_services_reachable_without_origin_pass(settings: Any, application: str) -> None:
    settings.ASGI_APPLICATION = f"{HERE}.{application}"
    assert checks.check_origin_validator(None) == []


def test_the_demo_application_passes(settings: Any) -> None:
    settings.ASGI_APPLICATION = "demo_site.asgi.application"
    assert checks.check_origin_validator(None) == []


def test_no_asgi_application_is_not_checked(settings: Any) -> None:
    del settings.ASGI_APPLICATION
    assert checks.check_origin_validator(None) == []


def test_an_unloadable_asgi_application_warns(settings: Any) -> None:
    settings.ASGI_APPLICATION = "no_such_module_here.application"
    messages = checks.check_origin_validator(None)
    assert ids(messages) == ["appws.W005"]
    assert "no_such_module_here" in messages[0].msg


async def _handshake(application: Any, origin: bytes | None) -> bool:
    headers = [(b"host", b"127.0.0.1")]
    if origin is not None:
        headers.append((b"origin", origin))
    comm = WebsocketCommunicator(application, "/apps/echo", headers=headers)
    connected, _ = await comm.connect()
    await comm.disconnect()
    return connected


async def test_what_the_warning_is_about() -> None:
    # AllowedHostsOriginValidator: the site's own pages pass, a PBX (no Origin) does not.
    assert await _handshake(guarded, b"http://127.0.0.1") is True
    assert await _handshake(guarded, None) is False


async def test_a_validator_letting_no_origin_through_lets_a_pbx_in() -> None:
    assert await _handshake(no_origin_allowed, None) is True
    assert await _handshake(no_origin_allowed, b"http://127.0.0.1") is True
    assert await _handshake(no_origin_allowed, b"https://evil.example") is False


# -- outgoing limits ------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["MAX_INDICATION_BYTES", "SEND_WINDOW_BYTES", "PBX_SEND_WINDOW_BYTES"]
)
def test_a_budget_below_the_outgoing_limit_is_an_error(settings: Any, key: str) -> None:
    settings.APPWS = {"MAX_OUTGOING_BYTES": 100_000, key: 99_999}
    messages = checks.check_appws_setting(None)
    assert ids(messages) == ["appws.E008"]
    assert key in messages[0].msg


def test_an_outgoing_limit_above_daphnes_default_warns(settings: Any) -> None:
    settings.APPWS = {"MAX_OUTGOING_BYTES": 1024 * 1024 + 1}
    messages = checks.check_appws_setting(None)
    assert ids(messages) == ["appws.W007"]
    assert "--websocket-max-message-size" in messages[0].hint


def test_an_outgoing_limit_at_daphnes_default_passes(settings: Any) -> None:
    settings.APPWS = {"MAX_OUTGOING_BYTES": 1024 * 1024}
    assert checks.check_appws_setting(None) == []


# -- the route walker the catalogue and the origin check share ----------------------


def test_routes_name_each_service_its_path_and_whether_a_validator_refuses_no_origin() -> None:
    from appws.catalogue import routes, walk

    found = {
        (route.consumer, route.path, route.refuses_missing_origin) for route in routes(guarded)
    }
    plain = {(route.consumer, route.path) for route in routes(_services())}
    assert found == {(consumer, path, True) for consumer, path in plain}
    assert {consumer for consumer, _ in plain} == {EchoService, NotesService}
    chat = list(routes(only_chat_guarded))
    assert chat and not any(route.refuses_missing_origin for route in chat)
    assert [entry.paths for entry in walk(guarded)] == [entry.paths for entry in walk(_services())]


# -- handler permissions --------------------------------------------------------------


class TypoPermissionService(AppWebsocketConsumer):
    """Handlers whose permissions no model declares, and ones that are fine."""

    apps = ("typos",)

    @mt("Typo", permission="auth.delete_usr")
    async def typo(self, msg: dict[str, Any]) -> dict[str, Any]:
        return {}

    @mt("NoLabel", permission="delete_user")
    async def no_label(self, msg: dict[str, Any]) -> dict[str, Any]:
        return {}

    @mt("Fine", permission="auth.view_group")
    async def fine(self, msg: dict[str, Any]) -> dict[str, Any]:
        return {}

    @mt("Access", permission="appws.open_notes")
    async def access(self, msg: dict[str, Any]) -> dict[str, Any]:
        return {}

    @mt("Open")
    async def open(self, msg: dict[str, Any]) -> dict[str, Any]:
        return {}


typo_permissions = ProtocolTypeRouter(
    {"websocket": URLRouter([*service_urls(TypoPermissionService), *service_urls_for_checks])}
)


def test_a_handler_permission_no_model_declares_is_an_error(settings: Any) -> None:
    # No django_db mark: any query here would fail the test (check runs before migrate).
    settings.ASGI_APPLICATION = f"{HERE}.typo_permissions"
    messages = checks.check_handler_permissions(None)
    assert ids(messages) == ["appws.E009", "appws.E009"]
    typo, no_label = (message.msg for message in messages)
    assert f"{HERE}.TypoPermissionService" in typo
    assert "'Typo'" in typo and "'auth.delete_usr'" in typo
    assert "'NoLabel'" in no_label and "'delete_user'" in no_label
    assert "app_label.codename" in messages[0].hint


def test_handler_permission_errors_stop_manage_py_check(settings: Any) -> None:
    settings.ASGI_APPLICATION = f"{HERE}.typo_permissions"
    assert "appws.E009" in appws_ids()


@pytest.mark.parametrize(
    "application", ["demo_site.asgi.application", "tests.services.application"]
)
def test_the_projects_own_handler_permissions_pass(settings: Any, application: str) -> None:
    settings.ASGI_APPLICATION = application
    assert checks.check_handler_permissions(None) == []


def test_an_unloadable_asgi_application_is_only_w005(settings: Any) -> None:
    settings.ASGI_APPLICATION = "no_such_module_here.application"
    assert checks.check_handler_permissions(None) == []


def test_declared_permissions_are_the_defaults_and_meta_permissions() -> None:
    with isolate_apps("appws") as registry:

        class Report(models.Model):
            class Meta:
                app_label = "appws"
                default_permissions = ("view",)
                permissions = [("publish_report", "Can publish reports")]

        assert checks.declared_permissions(registry) == {
            "appws.view_report",
            "appws.publish_report",
        }
    assert "auth.delete_user" in checks.declared_permissions()
