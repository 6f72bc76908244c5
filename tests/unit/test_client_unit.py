"""``appws.client`` against a small AppWebsocket service in this process.

The service is scripted per test, so edge cases (a reply overtaken by an indication, a
server that never answers, a refused re-subscription, TLS) are deterministic.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.server import Server, ServerConnection, serve

import appws
from appws.client import (
    Client,
    ConnectFailed,
    ConnectionLost,
    Credentials,
    LoginRefused,
    RemoteError,
    Resubscribed,
    password_login,
)
from appws.client.login import issued_fields
from appws.protocol import FINAL_CLOSE_CODES, RESTART_CLOSE_CODES, new_challenge, verify_login

PASSWORD = "unit-secret"
Handler = Callable[[ServerConnection, dict[str, Any], int], Awaitable[None]]


async def reply_result(ws: ServerConnection, msg: dict[str, Any], number: int) -> None:
    await ws.send(json.dumps({"mt": msg["mt"] + "Result", "src": msg.get("src")}))


class FakeService:
    """Logs clients in with ``PASSWORD``, then hands each message to ``handle``."""

    def __init__(self, handle: Handler = reply_result, *, tls: ssl.SSLContext | None = None):
        self.handle = handle
        self.tls = tls
        self.received: list[dict[str, Any]] = []
        self.connections: list[ServerConnection] = []
        self.user_agents: list[str | None] = []
        self.answer_challenge = True
        self._changed = asyncio.Condition()
        self._server: Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{port}/apps/test"

    async def __aenter__(self) -> FakeService:
        self._server = await serve(self._serve, "127.0.0.1", 0, ssl=self.tls)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first received message matching ``predicate``, once it has arrived."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: any(map(predicate, self.received))), 10
            )
        return next(msg for msg in self.received if predicate(msg))

    async def _serve(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        assert ws.request is not None
        self.user_agents.append(ws.request.headers.get("User-Agent"))
        number = len(self.connections)
        challenge = ""
        async for raw in ws:
            msg = json.loads(raw)
            async with self._changed:
                self.received.append(msg)
                self._changed.notify_all()
            if msg["mt"] == "AppChallenge":
                if self.answer_challenge:
                    challenge = new_challenge()
                    await ws.send(json.dumps({"mt": "AppChallengeResult", "challenge": challenge}))
            elif msg["mt"] == "AppLogin":
                if verify_login(msg, challenge, PASSWORD):
                    await ws.send(json.dumps({"mt": "AppLoginResult", "ok": True, "domain": "d"}))
                else:
                    await ws.send(
                        json.dumps({"mt": "AppLoginResult", "ok": False, "errorText": "nope"})
                    )
                    await ws.close(4401)
            elif msg["mt"] != "KeepAlive":
                await self.handle(ws, msg, number)


@pytest.fixture
async def service() -> AsyncIterator[FakeService]:
    async with FakeService() as running:
        yield running


def client_for(service: FakeService, **options: Any) -> Client:
    options.setdefault("password", PASSWORD)
    return Client(service.url, "test", **options)


# Login fields.


@pytest.mark.parametrize(
    ("info", "digest"),
    [
        (None, "a205299ed2ef2786c311e0be1b14db343f2cadd906a6ae7b564eee34bda5e9a1"),
        ({}, "57b23fe824b9222a7ac879597cb509bcdc865a1bfeb057d9d12118cef0c3ba34"),
        ({"cn": "Test User"}, "96db3c3f657230c2b68194becc6d2a77f05de9f79f01fc81e9ca0fb196b10d9d"),
    ],
)
def test_password_login_matches_the_vendor_vectors(info, digest):
    credentials = Credentials(sip="", guid="", dn="", info=info)
    fields = password_login("pbxadminapi", "0123456789abcdef", "pwd", credentials=credentials)
    assert fields["digest"] == digest


def test_password_login_defaults_are_the_vendor_clients():
    fields = password_login("notes", "c", "pwd")
    assert {key: value for key, value in fields.items() if key != "digest"} == {
        "app": "notes",
        "domain": "",
        "sip": "notes",
        "guid": "0" * 32,
        "dn": "Admin",
        "pbxObj": "notes",
    }


def test_issued_fields_keep_only_applogin_members_in_order():
    issued = {"salt": "s", "app": "a", "sip": "u", "info": {"z": 1, "a": 2}, "digest": "d"}
    assert list(issued_fields("a", {**issued, "key": "k"})) == ["app", "sip", "digest", "info"]
    with pytest.raises(LoginRefused, match="not allowed") as refused:
        issued_fields("a", {"error": "forbidden", "errorText": "not allowed"})
    assert refused.value.error == "forbidden"
    with pytest.raises(LoginRefused, match="digest"):
        issued_fields("a", {"app": "a"})


def test_constructor_refuses_unclear_or_insecure_options():
    with pytest.raises(ValueError, match="exactly one"):
        Client("ws://h/apps/a", "a")
    with pytest.raises(ValueError, match="exactly one"):
        Client("ws://h/apps/a", "a", password="p", login=lambda app, challenge: {})
    with pytest.raises(ValueError, match="wss://"):
        Client("ws://h/apps/a", "a", password="p", cafile="ca.pem")
    with pytest.raises(ValueError, match="ws://"):
        Client("ftp://h/apps/a", "a", password="p")
    assert Client("https://h/apps/a", "a", password="p").url == "wss://h/apps/a"


# Against the fake service.


async def test_login_callback_sync_or_async(service):
    def issue(app: str, challenge: str) -> dict[str, Any]:
        fields = password_login(app, challenge, PASSWORD)
        return {**fields, "salt": "dropped", "key": "dropped"}

    async def issue_async(app: str, challenge: str) -> dict[str, Any]:
        return issue(app, challenge)

    for callback in (issue, issue_async):
        async with Client(service.url, "test", login=callback) as client:
            assert (await client.request({"mt": "Ping"}))["mt"] == "PingResult"
    logins = [msg for msg in service.received if msg["mt"] == "AppLogin"]
    assert len(logins) == 2 and all("salt" not in msg and "key" not in msg for msg in logins)


async def test_login_callback_failures(service):
    def refuse(app: str, challenge: str) -> dict[str, Any]:
        return {"error": "denied", "errorText": "no login for you"}

    def crash(app: str, challenge: str) -> dict[str, Any]:
        raise OSError("issuer unreachable")

    with pytest.raises(LoginRefused, match="no login for you"):
        await Client(service.url, "test", login=refuse).connect()
    with pytest.raises(ConnectFailed, match="issuer unreachable"):
        await Client(service.url, "test", login=crash).connect()


async def test_wrong_password_is_refused_with_the_error_text(service):
    with pytest.raises(LoginRefused) as refused:
        await client_for(service, password="wrong").connect()
    assert refused.value.error_text == "nope"


async def test_no_login_in_time_is_a_connect_failure(service):
    service.answer_challenge = False
    with pytest.raises(ConnectFailed, match="no login"):
        await client_for(service, connect_timeout=0.2).connect()


async def test_messages_need_a_message_type(service):
    async with client_for(service) as client:
        with pytest.raises(ValueError, match='"mt"'):
            await client.request({"text": "no type"})
        with pytest.raises(ValueError, match='"mt"'):
            await client.send({"mt": ""})
        with pytest.raises(ValueError, match='"mt"'):
            client.subscribe({"mt": "SubscribeX"}, unsubscribe={"src": "x"})
    assert not [msg for msg in service.received if msg.get("text") == "no type"]


async def test_the_user_agent_names_the_client_and_its_version(service):
    async with client_for(service):
        pass
    assert service.user_agents == [f"appws-client/{appws.__version__}"]


async def test_keepalive_goes_out_when_idle(service):
    async with client_for(service, keepalive=0.05):
        await service.wait_for(lambda msg: msg["mt"] == "KeepAlive")
    assert {"mt": "KeepAlive"} in service.received


async def test_unrouted_messages_go_to_on_message_and_bad_frames_are_skipped():
    async def push(ws: ServerConnection, msg: dict[str, Any], number: int) -> None:
        await ws.send("not json")
        await ws.send(b"\x00binary")
        await ws.send(json.dumps({"no": "mt"}))
        await ws.send(json.dumps({"mt": "Pushed", "api": "X"}))
        await ws.send(json.dumps({"mt": "Late", "src": "py999"}))  # one of ours, long gone
        await reply_result(ws, msg, number)

    got: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    async with FakeService(push) as running, client_for(running, on_message=got.put) as client:
        assert (await client.request({"mt": "Go"}))["mt"] == "GoResult"
        assert got.get_nowait() == {"mt": "Pushed", "api": "X"}
        assert got.empty()


async def test_unsubscribe_reply_is_found_behind_an_indication():
    async def handle(ws: ServerConnection, msg: dict[str, Any], number: int) -> None:
        if msg["mt"] == "UnsubscribeX":
            await ws.send(json.dumps({"mt": "XInfo", "n": "straggler", "src": msg["src"]}))
        await reply_result(ws, msg, number)

    async with FakeService(handle) as running, client_for(running) as client:
        sub = await client.subscribe(
            {"mt": "SubscribeX"}, api="Things", unsubscribe={"mt": "UnsubscribeX"}
        )
        assert await sub.close() == {"mt": "UnsubscribeXResult", "src": sub.src}
        assert await sub.close() is None  # once only
    sent = await running.wait_for(lambda msg: msg["mt"] == "UnsubscribeX")
    assert sent == {"mt": "UnsubscribeX", "api": "Things", "src": sub.src}


async def test_backpressure_delivers_every_indication_in_order():
    async def flood(ws: ServerConnection, msg: dict[str, Any], number: int) -> None:
        await reply_result(ws, msg, number)
        if msg["mt"] == "SubscribeX":
            for n in range(50):
                await ws.send(json.dumps({"mt": "XInfo", "n": n, "src": msg["src"]}))

    async with FakeService(flood) as running, client_for(running) as client:
        sub = await client.subscribe({"mt": "SubscribeX"}, queue_size=1)
        assert [(await anext(sub))["n"] for _ in range(50)] == list(range(50))


async def test_a_refused_resubscription_ends_the_iterator_with_remote_error():
    async def handle(ws: ServerConnection, msg: dict[str, Any], number: int) -> None:
        if number == 1:
            await reply_result(ws, msg, number)
            await ws.send(json.dumps({"mt": "XInfo", "src": msg["src"]}))
            await ws.close()  # the "server restarts"
        else:
            await ws.send(
                json.dumps({"mt": "SubscribeXResult", "error": "gone", "src": msg["src"]})
            )

    async with FakeService(handle) as running, client_for(running, backoff=(0.01, 0.05)) as c:
        sub = await c.subscribe({"mt": "SubscribeX"})
        assert (await anext(sub))["mt"] == "XInfo"
        with pytest.raises(RemoteError) as failed:
            await anext(sub)
        assert failed.value.error == "gone" and not sub.active


async def test_resubscribed_marker_comes_before_new_indications():
    async def handle(ws: ServerConnection, msg: dict[str, Any], number: int) -> None:
        await reply_result(ws, msg, number)
        await ws.send(json.dumps({"mt": "XInfo", "connection": number, "src": msg["src"]}))
        if number == 1:
            await ws.close()

    async with FakeService(handle) as running, client_for(running, backoff=(0.01, 0.05)) as c:
        sub = await c.subscribe({"mt": "SubscribeX"})
        items = [await anext(sub) for _ in range(3)]
        assert items[0] == {"mt": "XInfo", "connection": 1, "src": "py1"}
        assert isinstance(items[1], Resubscribed) and items[1].ack["src"] == sub.src
        assert items[2] == {"mt": "XInfo", "connection": 2, "src": sub.src}


@pytest.mark.parametrize(("code", "factors"), [(4013, [1, 2, 4]), (1000, [1, 1, 1])])
async def test_slow_reader_closes_back_off_across_logins(monkeypatch, code, factors):
    delays: list[float] = []

    def no_wait(low: float, high: float) -> float:
        delays.append(high)  # the delay before jitter
        return 0.0

    monkeypatch.setattr("appws.client.backoff.random.uniform", no_wait)

    async def handle(ws: ServerConnection, msg: dict[str, Any], number: int) -> None:
        if number <= 3:
            await ws.close(code)  # after each login: as a slow reader, or not
        else:
            await reply_result(ws, msg, number)

    async with FakeService(handle) as running, client_for(running, backoff=(0.01, 1.0)) as c:
        for _ in range(3):
            with pytest.raises(ConnectionLost):
                await c.request({"mt": "X"})
        assert (await c.request({"mt": "X"}))["mt"] == "XResult"
    assert delays == [0.01 * factor for factor in factors]


@pytest.mark.parametrize("code", sorted(RESTART_CLOSE_CODES))
async def test_a_restart_close_code_reconnects_within_the_jitter_not_the_backoff(monkeypatch, code):
    waits: list[tuple[float, float]] = []

    def lowest(low: float, high: float) -> float:
        waits.append((low, high))
        return low

    monkeypatch.setattr("appws.client.backoff.random.uniform", lowest)

    async def handle(ws: ServerConnection, msg: dict[str, Any], number: int) -> None:
        if number == 1:
            await ws.close(code, "server restarting: reconnect")
        else:
            await reply_result(ws, msg, number)

    # A backoff this long would keep the test waiting for its timeout.
    async with FakeService(handle) as running, client_for(running, backoff=(60.0, 60.0)) as c:
        with pytest.raises(ConnectionLost):
            await c.request({"mt": "X"})
        assert (await c.request({"mt": "X"}, timeout=10))["mt"] == "XResult"
        assert c.reconnects == 1
    assert waits == [(0, 0.5)]


@pytest.mark.parametrize("code", sorted(FINAL_CLOSE_CODES))
async def test_a_final_close_code_ends_the_client_without_reconnecting(code):
    async def handle(ws: ServerConnection, msg: dict[str, Any], number: int) -> None:
        if msg["mt"] == "Quit":
            await ws.close(code, "ended here")
        else:
            await reply_result(ws, msg, number)

    async with FakeService(handle) as running, client_for(running, backoff=(0.01, 0.05)) as c:
        sub = await c.subscribe({"mt": "SubscribeX"})
        await c.send({"mt": "Quit"})
        with pytest.raises(ConnectionLost, match=f"code {code}: ended here.*for good"):
            await anext(sub)
        with pytest.raises(ConnectionLost, match="closed"):
            await c.wait_connected(timeout=10)
        assert c.closed and not c.connected
    assert len(running.connections) == 1


async def test_without_reconnect_requests_and_sends_fail_once_lost():
    async def hang_up(ws: ServerConnection, msg: dict[str, Any], number: int) -> None:
        await ws.close()

    async with FakeService(hang_up) as running, client_for(running, reconnect=False) as c:
        with pytest.raises(ConnectionLost):
            await c.request({"mt": "Bye"})
        with pytest.raises(ConnectionLost):
            await c.wait_connected(timeout=10)  # raises once the client has ended
        assert c.closed
        with pytest.raises(ConnectionLost, match="closed"):
            await c.send({"mt": "Anything"})


async def test_close_while_the_service_is_gone_ends_everything():
    async with FakeService() as running:
        client = await client_for(running, backoff=(0.01, 0.05)).connect()
        sub = await client.subscribe({"mt": "SubscribeX"})
    # The service closed every connection on its way out; the client keeps trying.
    with pytest.raises(ConnectionLost):  # lost on the way, or not connected in time
        await client.request({"mt": "Anything"}, timeout=0.2)
    await asyncio.wait_for(client.close(), 10)
    assert client.closed and not client.connected
    with pytest.raises(StopAsyncIteration):
        await anext(sub)


# TLS: verification is on by default, cafile= and ssl= add trust, nothing turns it off.


def make_certificates(directory) -> tuple[str, str, str]:
    """A CA and a server certificate for 127.0.0.1 it signed: (ca, cert, key) paths."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "appws test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(paths[0]), str(paths[1]), str(paths[2])


async def test_tls_is_verified_by_default_and_trusts_a_given_ca(tmp_path):
    ca, cert, key = make_certificates(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    async with FakeService(tls=tls) as running:
        assert running.url.startswith("wss://")
        with pytest.raises(ConnectFailed, match="certificate not trusted"):
            await client_for(running).connect()

        async with client_for(running, cafile=ca) as client:
            assert (await client.request({"mt": "Secure"}))["mt"] == "SecureResult"

        context = ssl.create_default_context(cafile=ca)
        async with client_for(running, ssl=context) as client:
            assert (await client.request({"mt": "Secure"}))["mt"] == "SecureResult"
