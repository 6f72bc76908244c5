"""The ``appws`` command line, run as a user runs it, against the demo under daphne."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from appws.client import Client
from tests.e2e.conftest import ECHO_PASSWORD
from tests.e2e.daphne import ROOT

pytestmark = pytest.mark.e2e

WAIT = 30  # s: bound for a subprocess to answer; nothing here measures speed
ENV = {**os.environ, "ECHO_PW": ECHO_PASSWORD, "WRONG_PW": "not-the-password"}


def appws(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [sys.executable, "-m", "appws", *args],
        cwd=ROOT,
        env=ENV,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    # Whatever happened, the password never shows.
    assert ECHO_PASSWORD not in completed.stdout + completed.stderr
    return completed


def echo_url(server) -> str:
    return f"{server.url}/apps/echo"


def test_call_prints_the_reply(demo_server):
    done = appws(
        "call",
        echo_url(demo_server),
        "--app",
        "echo",
        "--password-env",
        "ECHO_PW",
        '{"mt": "Echo", "text": "héllo"}',
    )
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert reply["mt"] == "EchoResult" and reply["text"] == "héllo"


def test_call_with_password_on_stdin_and_api(demo_server):
    done = appws(
        "call",
        echo_url(demo_server),
        "--app",
        "echo",
        "--password-stdin",
        "--api",
        "NoSuchApi",
        '{"mt": "Echo"}',
        stdin=ECHO_PASSWORD + "\n",
    )
    assert done.returncode == 4  # the api reached the server, which has no such api
    assert json.loads(done.stdout)["error"] == "unknown-api"


def test_error_reply_exits_4_and_prints_the_reply(demo_server):
    done = appws(
        "call",
        echo_url(demo_server),
        "--app",
        "echo",
        "--password-env",
        "ECHO_PW",
        '{"mt": "NoSuchThing"}',
    )
    assert done.returncode == 4
    assert json.loads(done.stdout)["error"] == "unknown-mt"
    assert "unknown-mt" in done.stderr


def test_wrong_password_exits_3(demo_server):
    done = appws(
        "call",
        echo_url(demo_server),
        "--app",
        "echo",
        "--password-env",
        "WRONG_PW",
        '{"mt": "Echo"}',
    )
    assert done.returncode == 3
    assert "wrong digest" in done.stderr and done.stdout == ""


def test_connection_refused_exits_5():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = appws(
        "call",
        f"ws://127.0.0.1:{port}/apps/echo",
        "--app",
        "echo",
        "--password-env",
        "ECHO_PW",
        '{"mt": "Echo"}',
    )
    assert done.returncode == 5
    assert "cannot connect" in done.stderr


def test_no_reply_in_time_exits_5(demo_server):
    # appws answers KeepAlive with nothing at all.
    done = appws(
        "call",
        echo_url(demo_server),
        "--app",
        "echo",
        "--password-env",
        "ECHO_PW",
        "--timeout",
        "0.5",
        '{"mt": "KeepAlive"}',
    )
    assert done.returncode == 5
    assert "no reply" in done.stderr


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["call", "ws://h/apps/echo", "--app", "echo", '{"mt": "Echo"}'], "password"),
        (
            [
                "call",
                "ws://h/apps/echo",
                "--app",
                "echo",
                "--password-env",
                "UNSET_VAR_X",
                '{"mt": "Echo"}',
            ],
            "UNSET_VAR_X",
        ),
        (
            ["call", "ws://h/apps/echo", "--app", "echo", "--password-env", "ECHO_PW", "{oops"],
            "not valid JSON",
        ),
        (
            ["call", "ws://h/apps/echo", "--app", "echo", "--password-env", "ECHO_PW", "[1]"],
            "JSON object",
        ),
        (["call", "ws://h/apps/echo", "--app", "echo", "--password-env", "ECHO_PW", "{}"], '"mt"'),
        (["digest", "--app", "a", "--password-env", "ECHO_PW"], "--challenge"),
        (
            [
                "digest",
                "--app",
                "a",
                "--challenge",
                "c",
                "--password-env",
                "ECHO_PW",
                "--info",
                "[]",
            ],
            "--info",
        ),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_usage_exits_2(args, complaint):
    done = appws(*args)
    assert done.returncode == 2
    assert complaint in done.stderr and done.stdout == ""


def test_digest_matches_the_vendor_vector():
    done = appws(
        "digest",
        "--app",
        "innovaphone-users",
        "--challenge",
        "0123456789abcdef",
        "--password-stdin",
        "--domain",
        "example.com",
        "--sip",
        "administrator",
        "--guid",
        "0123456789abcdef0123456789abcdef",
        "--dn",
        "Administrator User",
        "--info",
        '{"appobj":"users","apps":[{"name":"users"},{"name":"profile"}],'
        '"appurl":"https://1.2.3.4/example.com/usersapp/innovaphone-users",'
        '"unlicensed":true}',
        stdin="pwd\n",
    )
    assert done.returncode == 0, done.stderr
    login = json.loads(done.stdout)
    assert login["digest"] == "ef1b811ffaa8f9255c39c653d8fb26b4687b2d8c4d9ac91b4821bff6bae3ff44"
    assert login["mt"] == "AppLogin" and login["pbxObj"] == "innovaphone-users"
    assert "pwd" not in done.stdout


def test_digest_defaults_to_the_vendor_password_login():
    done = appws("digest", "--app", "echo", "--challenge", "1234", "--password-env", "ECHO_PW")
    login = json.loads(done.stdout)
    assert done.returncode == 0
    assert (login["sip"], login["guid"], login["dn"]) == ("echo", "0" * 32, "Admin")


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("appws")
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.startswith("appws ")


async def start_listen(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "appws",
        "listen",
        *args,
        cwd=ROOT,
        env=ENV,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def read_json_line(process: asyncio.subprocess.Process) -> dict:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), WAIT)
    assert line, "appws listen ended early"
    return json.loads(line)


async def test_listen_prints_indications_until_interrupted(demo_server):
    process = await start_listen(
        echo_url(demo_server),
        "--app",
        "echo",
        "--password-env",
        "ECHO_PW",
        "--unsubscribe",
        '{"mt": "UnsubscribeEcho"}',
        '{"mt": "SubscribeEcho"}',
    )
    try:
        ack = await read_json_line(process)
        assert ack["mt"] == "SubscribeEchoResult"
        async with Client(echo_url(demo_server), "echo", password=ECHO_PASSWORD) as speaker:
            await speaker.request({"mt": "Broadcast", "text": "first"})
            await speaker.request({"mt": "Broadcast", "text": "second"})
        assert (await read_json_line(process))["text"] == "first"
        second = await read_json_line(process)
        assert second == {
            "mt": "EchoBroadcast",
            "text": "second",
            "from": "echo",
            "src": ack["src"],
        }
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), WAIT) == 0
        assert process.stderr is not None
        stderr = (await process.stderr.read()).decode()
        assert "Traceback" not in stderr and ECHO_PASSWORD not in stderr
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_listen_exits_4_when_the_subscription_is_refused(demo_server):
    process = await start_listen(
        echo_url(demo_server),
        "--app",
        "echo",
        "--password-env",
        "ECHO_PW",
        '{"mt": "SubscribeNothing"}',
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode == 4
    assert json.loads(stdout)["error"] == "unknown-mt"
    assert b"error reply" in stderr


async def test_listen_exits_3_on_a_refused_login(demo_server):
    process = await start_listen(
        echo_url(demo_server),
        "--app",
        "echo",
        "--password-env",
        "WRONG_PW",
        '{"mt": "SubscribeEcho"}',
    )
    _, stderr = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode == 3
    assert b"login refused" in stderr
