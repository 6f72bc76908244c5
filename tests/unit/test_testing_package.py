"""``appws.testing`` for users' own tests: what it exports and what importing it costs."""

from __future__ import annotations

import subprocess
import sys

import pytest

import appws.testing
from appws.testing import RedisServer, find_redis_server
from appws.testing.daphne import DaphneProcess


def test_every_exported_name_resolves() -> None:
    for name in appws.testing.__all__:
        assert getattr(appws.testing, name) is not None, name


def test_process_helpers_import_neither_django_nor_channels() -> None:
    # Scripts that only start servers (a benchmark, a screenshot run) import these
    # before any settings exist, and so may a FakePbx run against a site elsewhere;
    # the communicator brings Channels' test machinery.
    code = (
        "import sys\n"
        "from appws.testing import DaphneProcess, FakePbx, RedisServer, free_port, wait_for_port\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'channels'))\n"
        "print(loaded)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_communicator_is_still_exported() -> None:
    from appws.testing import AppwsCommunicator
    from appws.testing.communicator import AppwsCommunicator as defined

    assert AppwsCommunicator is defined


def test_a_missing_redis_server_names_the_package_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(FileNotFoundError, match="install the redis-server package"):
        find_redis_server()
    with pytest.raises(FileNotFoundError, match="install the redis-server package"):
        RedisServer()


def test_settings_become_the_process_settings_module() -> None:
    server = DaphneProcess("myproject.asgi:application", settings="myproject.settings")
    assert server.env["DJANGO_SETTINGS_MODULE"] == "myproject.settings"
    assert not server.running
    with pytest.raises(RuntimeError, match="call start"):
        server.pid  # noqa: B018
