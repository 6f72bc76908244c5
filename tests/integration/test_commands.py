"""The management commands: appws_app (Apps, passwords, permissions) and appws_services."""

from __future__ import annotations

import io
import json
import sys
from datetime import timedelta
from typing import Any

import pytest
from channels.auth import AuthMiddlewareStack
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import path, re_path
from django.utils import timezone

from appws.crypto import UndecryptablePassword
from appws.models import App, LiveSession, ServerProcess
from appws.server.routing import service_urls
from demo_site.services import EchoService
from tests.services import NotesService

pytestmark = pytest.mark.django_db

PASSWORD = "C0mmand-L1ne-S3cret"


class Terminal(io.StringIO):
    """Standard input that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def stdin(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Replace standard input with text (not a terminal)."""

    def feed(text: str, stream: type[io.StringIO] = io.StringIO) -> None:
        monkeypatch.setattr(sys, "stdin", stream(text))

    feed("")
    return feed


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def make_app(name: str = "notesapp", password: str = PASSWORD, **fields: Any) -> App:
    app = App(name=name, **fields)
    app.set_password(password)
    app.save()
    return app


# -- add ---------------------------------------------------------------------


def test_add_from_stdin(stdin: Any) -> None:
    stdin(PASSWORD + "\n")
    out, _ = run(
        "appws_app", "add", "notesapp", "--title", "Notes", "--domain", "n.example.com",
        "--password-stdin",
    )  # fmt: skip
    app = App.objects.get(name="notesapp")
    assert app.get_password() == PASSWORD  # one trailing newline dropped
    assert PASSWORD not in app.password_encrypted
    assert (app.title, app.domain, app.enabled, app.hidden) == (
        "Notes",
        "n.example.com",
        True,
        False,
    )
    assert PASSWORD not in out
    assert "appws.open_notesapp" in out
    assert Permission.objects.filter(codename="open_notesapp").exists()


def test_add_keeps_all_but_one_trailing_newline(stdin: Any) -> None:
    stdin("two lines\n\n")
    run("appws_app", "add", "a1", "--password-stdin")
    assert App.objects.get(name="a1").get_password() == "two lines\n"
    stdin("windows\r\n")
    run("appws_app", "add", "a2", "--password-stdin")
    assert App.objects.get(name="a2").get_password() == "windows"


def test_add_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTES_PASSWORD", PASSWORD)
    out, err = run(
        "appws_app", "add", "notesapp", "--disabled", "--hidden",
        "--password-env", "NOTES_PASSWORD",
    )  # fmt: skip
    app = App.objects.get(name="notesapp")
    assert app.get_password() == PASSWORD
    assert (app.enabled, app.hidden) == (False, True)
    assert PASSWORD not in out + err


def test_add_asks_without_echo_on_a_terminal(stdin: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    stdin("", Terminal)
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return PASSWORD

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    run("appws_app", "add", "notesapp", "--password-stdin")
    assert prompts == ["Password: "]
    assert App.objects.get(name="notesapp").get_password() == PASSWORD


def test_add_needs_a_password_source() -> None:
    with pytest.raises(CommandError, match="--password-env"):
        run("appws_app", "add", "notesapp")


def test_password_is_never_an_argument() -> None:
    with pytest.raises(CommandError):
        run("appws_app", "add", "notesapp", "--password", PASSWORD)


def test_add_refuses_an_empty_password(stdin: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    stdin("\n")
    with pytest.raises(CommandError, match="password is empty"):
        run("appws_app", "add", "notesapp", "--password-stdin")
    monkeypatch.setenv("EMPTY", "")
    with pytest.raises(CommandError, match="password is empty"):
        run("appws_app", "add", "notesapp", "--password-env", "EMPTY")
    assert not App.objects.exists()


def test_add_names_a_missing_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APPWS_NOPE", raising=False)
    with pytest.raises(CommandError, match="Environment variable APPWS_NOPE is not set"):
        run("appws_app", "add", "notesapp", "--password-env", "APPWS_NOPE")


def test_add_refuses_duplicates_and_bad_names(stdin: Any) -> None:
    make_app()
    stdin("x")
    with pytest.raises(CommandError, match="exists already: use set-password"):
        run("appws_app", "add", "notesapp", "--password-stdin")
    stdin("x")
    with pytest.raises(CommandError, match="cannot be added: name:"):
        run("appws_app", "add", "bad name", "--password-stdin")
    assert list(App.objects.values_list("name", flat=True)) == ["notesapp"]


def test_add_warns_when_settings_define_the_app(stdin: Any) -> None:
    stdin("x")
    _, err = run("appws_app", "add", "echo", "--password-stdin")
    assert "APPWS['APPS']" in err


# -- list --------------------------------------------------------------------


def test_list_as_text_and_json() -> None:
    app = make_app(title="Notes")
    app.permissions.add(Permission.objects.get(codename="delete_user"))
    make_app("other", enabled=False)
    now = timezone.now()
    alive = ServerProcess.objects.create(
        ident="h:1:a", hostname="h", pid=1, started=now, last_seen=now
    )
    gone = ServerProcess.objects.create(
        ident="h:2:b", hostname="h", pid=2, started=now, last_seen=now - timedelta(days=1)
    )
    for number, server in enumerate([alive, alive, gone]):
        LiveSession.objects.create(
            channel_name=f"c{number}", server=server, app=app, app_name="notesapp",
            connected_at=now, last_activity=now,
        )  # fmt: skip

    out, _ = run("appws_app", "list")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "TITLE", "ENABLED", "LIVE", "PERMISSIONS"]
    assert lines[1].split() == ["notesapp", "Notes", "yes", "2", "auth.delete_user"]
    assert lines[2].split() == ["other", "no", "0", "-"]

    out, _ = run("appws_app", "list", "--json")
    rows = json.loads(out)
    assert rows[0] == {
        "name": "notesapp",
        "title": "Notes",
        "enabled": True,
        "hidden": False,
        "domain": "",
        "permissions": ["auth.delete_user"],
        "access_permission": "appws.open_notesapp",
        "live_sessions": 2,
    }
    assert rows[1]["name"] == "other"
    for secret in (PASSWORD, app.password_encrypted):
        assert secret not in out


def test_list_without_apps() -> None:
    assert "No Apps" in run("appws_app", "list")[0]
    assert json.loads(run("appws_app", "list", "--json")[0]) == []


# -- set-password ------------------------------------------------------------------


def test_set_password(stdin: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    make_app()
    stdin("from-stdin\n")
    out, _ = run("appws_app", "set-password", "notesapp", "--password-stdin")
    assert App.objects.get(name="notesapp").get_password() == "from-stdin"
    assert "from-stdin" not in out
    monkeypatch.setenv("NEW_PW", "from-env")
    run("appws_app", "set-password", "notesapp", "--password-env", "NEW_PW")
    assert App.objects.get(name="notesapp").get_password() == "from-env"


def test_set_password_of_an_unknown_app(stdin: Any) -> None:
    stdin("x")
    with pytest.raises(CommandError, match=r"no App named 'ghost'.*appws_app list"):
        run("appws_app", "set-password", "ghost", "--password-stdin")


# -- remove ------------------------------------------------------------------------


def test_remove_with_yes() -> None:
    make_app()
    out, _ = run("appws_app", "remove", "notesapp", "--yes")
    assert "Removed" in out
    assert not App.objects.exists()
    assert not Permission.objects.filter(codename="open_notesapp").exists()


def test_remove_refuses_without_yes_when_not_interactive(stdin: Any) -> None:
    make_app()
    with pytest.raises(CommandError, match="pass --yes"):
        run("appws_app", "remove", "notesapp")
    assert App.objects.exists()


def test_remove_asks_on_a_terminal(stdin: Any) -> None:
    make_app()
    stdin("no\n", Terminal)
    with pytest.raises(CommandError, match="Not removed"):
        run("appws_app", "remove", "notesapp")
    assert App.objects.exists()
    stdin("yes\n", Terminal)
    run("appws_app", "remove", "notesapp")
    assert not App.objects.exists()


def test_remove_unknown_app() -> None:
    with pytest.raises(CommandError, match="no App named 'ghost'"):
        run("appws_app", "remove", "ghost", "--yes")


# -- grant / revoke ------------------------------------------------------------------


def test_grant_and_revoke() -> None:
    app = make_app()
    out, _ = run("appws_app", "grant", "notesapp", "auth.delete_user", "auth.view_user")
    assert app.operation_permissions() == {"auth.delete_user", "auth.view_user"}
    assert "auth.delete_user, auth.view_user" in out
    out, _ = run("appws_app", "revoke", "notesapp", "auth.delete_user")
    assert app.operation_permissions() == {"auth.view_user"}
    out, _ = run("appws_app", "revoke", "notesapp", "auth.view_user")
    assert "no permissions" in out


def test_check_logins_names_the_apps_a_session_may_verify() -> None:
    app = make_app()
    out, _ = run("appws_app", "check-logins", "notesapp", "notes-admin", "notes", "notes")
    app.refresh_from_db()
    assert app.check_logins == ["notes", "notes-admin"]
    assert "may check the passwords of 'notes', 'notes-admin'" in out
    out, _ = run("appws_app", "check-logins", "notesapp")
    app.refresh_from_db()
    assert app.check_logins == []
    assert "may check no App's password" in out


def test_check_logins_refuses_what_is_no_app_name() -> None:
    app = make_app(check_logins=["notes"])
    with pytest.raises(CommandError, match="'no good' is not an App name"):
        run("appws_app", "check-logins", "notesapp", "no good")
    app.refresh_from_db()
    assert app.check_logins == ["notes"]


def test_a_change_says_when_the_running_server_cannot_hear_of_it(settings: Any) -> None:
    make_app()
    _, err = run("appws_app", "disable", "notesapp")
    assert "the running server is not told" in err and "InMemoryChannelLayer" in err
    assert not App.objects.get(name="notesapp").enabled  # stored all the same
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer"}}
    _, err = run("appws_app", "enable", "notesapp")
    assert err == ""


def test_grant_unknown_permission_changes_nothing() -> None:
    app = make_app()
    with pytest.raises(CommandError, match=r"no permission 'auth\.fly'"):
        run("appws_app", "grant", "notesapp", "auth.view_user", "auth.fly")
    assert app.operation_permissions() == frozenset()
    with pytest.raises(CommandError, match=r"'app_label\.codename'"):
        run("appws_app", "revoke", "notesapp", "view_user")


def test_grant_to_unknown_app() -> None:
    with pytest.raises(CommandError, match="no App named 'ghost'"):
        run("appws_app", "grant", "ghost", "auth.view_user")


# -- enable / disable ----------------------------------------------------------------


def test_enable_and_disable() -> None:
    make_app()
    out, _ = run("appws_app", "disable", "notesapp")
    assert "disabled" in out
    assert App.objects.get(name="notesapp").enabled is False
    assert "already" in run("appws_app", "disable", "notesapp")[0]
    run("appws_app", "enable", "notesapp")
    assert App.objects.get(name="notesapp").enabled is True
    with pytest.raises(CommandError, match="no App named"):
        run("appws_app", "enable", "ghost")


# -- rotate --------------------------------------------------------------------------


def test_rotate_after_a_secret_key_change(settings: Any) -> None:
    old = settings.SECRET_KEY
    make_app("one", "first-secret")
    make_app("two", "second-secret")
    settings.SECRET_KEY = "a-brand-new-secret-key-for-the-rotation-test"
    settings.SECRET_KEY_FALLBACKS = [old]
    before = dict(App.objects.values_list("name", "password_encrypted"))
    out, _ = run("appws_app", "rotate")
    assert "Re-encrypted 2 App passwords" in out
    after = dict(App.objects.values_list("name", "password_encrypted"))
    assert all(before[name] != after[name] for name in before)
    settings.SECRET_KEY_FALLBACKS = []
    assert App.objects.get(name="one").get_password() == "first-secret"
    assert App.objects.get(name="two").get_password() == "second-secret"


def test_rotate_without_the_old_key_says_what_to_do(settings: Any) -> None:
    make_app("one", "first-secret")
    settings.SECRET_KEY = "another-new-secret-key-without-fallback"
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(CommandError, match=r"one\. Put the old key back in SECRET_KEY_FALLBACKS"):
        run("appws_app", "rotate")
    with pytest.raises(UndecryptablePassword):
        App.objects.get(name="one").get_password()


def test_rotate_without_apps() -> None:
    assert "Re-encrypted 0 App passwords" in run("appws_app", "rotate")[0]


def test_an_action_is_required() -> None:
    with pytest.raises(CommandError):
        run("appws_app")


# -- appws_services ------------------------------------------------------------------


def test_services_as_text() -> None:
    out, _ = run("appws_services")
    assert "demo_site.services.EchoService" in out
    assert "Apps:  echo" in out
    assert "Paths: /apps/echo" in out
    assert "Echo -> EchoResult  [async; any session]" in out


def test_services_as_json() -> None:
    services = json.loads(run("appws_services", "--json")[0])
    echo = next(s for s in services if s["path"] == "demo_site.services.EchoService")
    assert echo["apps"] == ["echo"]
    assert echo["paths"] == ["apps/echo"]
    handler = next(h for h in echo["handlers"] if h["mt"] == "Echo")
    assert handler == {
        "mt": "Echo",
        "api": None,
        "permission": None,
        "reply": "EchoResult",
        "mode": "async",
        "doc": "Reply with every field of the request but the envelope.",
    }
    assert [h["mt"] for h in echo["handlers"]] == sorted(h["mt"] for h in echo["handlers"])


def test_services_without_asgi_application(settings: Any) -> None:
    settings.ASGI_APPLICATION = "no_such_module.application"
    with pytest.raises(CommandError, match="cannot be imported"):
        run("appws_services")
    del settings.ASGI_APPLICATION
    with pytest.raises(CommandError, match="ASGI_APPLICATION setting is not set"):
        run("appws_services")


class PlainConsumer(AsyncWebsocketConsumer):
    """Not an App Service: the catalogue leaves it out."""


#: A routing tree like a real site's: middleware, nested routers, a service twice.
wrapped_application = ProtocolTypeRouter(
    {
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(
                URLRouter(
                    [
                        path("ws/", URLRouter(service_urls(NotesService))),
                        path("plain", PlainConsumer.as_asgi()),
                        re_path(r"^v2/", URLRouter(service_urls(NotesService, EchoService))),
                    ]
                )
            )
        ),
    }
)


def test_services_walks_middleware_and_nested_routers(settings: Any) -> None:
    settings.ASGI_APPLICATION = f"{__name__}.wrapped_application"
    services = json.loads(run("appws_services", "--json")[0])
    assert [s["path"] for s in services] == [
        "tests.services.NotesService",
        "demo_site.services.EchoService",
    ]
    notes = services[0]
    assert notes["apps"] == ["notes", "notes-admin", "pbxapp"]
    assert notes["paths"][:3] == ["ws/apps/notes", "ws/apps/notes-admin", "ws/apps/pbxapp"]
    assert notes["paths"][3:] == ["^v2/apps/notes", "^v2/apps/notes-admin", "^v2/apps/pbxapp"]
    # sorted by api, then mt: handlers without an api come first
    keys = [(h["api"] or "", h["mt"]) for h in notes["handlers"]]
    assert keys == sorted(keys)
    assert keys[-1] == ("PbxSignal", "MonitorStart")
    delete = next(h for h in notes["handlers"] if h["mt"] == "DeleteNote")
    assert (delete["permission"], delete["mode"]) == ("auth.delete_user", "sync")
