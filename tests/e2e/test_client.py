"""``appws.client`` against the demo site under a real daphne."""

from __future__ import annotations

import asyncio
import math
import re
import socket
from collections.abc import Iterator

import pytest

from appws.client import (
    AppwsClientError,
    Client,
    ConnectFailed,
    ConnectionLost,
    Credentials,
    LoginRefused,
    NoSessionKey,
    RemoteError,
    RequestTimeout,
    Resubscribed,
    SiteLogin,
    connect_sync,
)
from tests.e2e.conftest import ECHO_PASSWORD
from tests.e2e.daphne import DaphneProcess, migrate, provisioned_demo
from tests.e2e.databases import e2e_database

pytestmark = pytest.mark.e2e

WAIT = 30  # s: generous bound for anything that has to cross a process; nothing measures speed


def echo_client(server: DaphneProcess, **options) -> Client:
    options.setdefault("password", ECHO_PASSWORD)
    return Client(f"{server.url}/apps/echo", "echo", **options)


@pytest.fixture
def own_server(tmp_path) -> Iterator[DaphneProcess]:
    """A demo site of this test's own, free to be stopped and restarted."""
    env = {
        "DJANGO_SETTINGS_MODULE": "demo_site.settings",
        "APPWS_ECHO_PASSWORD": ECHO_PASSWORD,
        "APPWS_DEMO_DB": e2e_database(tmp_path),
    }
    migrate(env)
    server = DaphneProcess(env=env).start()
    yield server
    server.stop()


@pytest.fixture
def notes_site(tmp_path) -> Iterator[DaphneProcess]:
    """The demo with its users and notes Apps provisioned (manage.py demo_setup)."""
    with provisioned_demo(e2e_database(tmp_path)) as server:
        yield server


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens here any more


async def test_request_gets_its_reply_with_a_generated_src(demo_server):
    async with echo_client(demo_server) as client:
        assert client.connected and client.app_domain == "127.0.0.1"
        reply = await client.request({"mt": "Echo", "text": "héllo", "src": "mine"})
        assert reply["mt"] == "EchoResult" and reply["text"] == "héllo"
        assert reply["src"] != "mine"  # the client sets src itself
        assert await client.request({"mt": "Echo", "n": 1}, api=None) == {
            "mt": "EchoResult",
            "n": 1,
            "src": reply["src"][:2] + str(int(reply["src"][2:]) + 1),
        }
    assert client.closed and not client.connected


async def test_concurrent_requests_on_one_connection(demo_server):
    async with echo_client(demo_server) as client:
        replies = await asyncio.gather(
            *(client.request({"mt": "Echo", "n": n, "pad": "x" * n}) for n in range(40))
        )
    assert [reply["n"] for reply in replies] == list(range(40))
    assert all(reply["pad"] == "x" * reply["n"] for reply in replies)
    assert len({reply["src"] for reply in replies}) == 40


async def test_subscription_delivers_indications_and_unsubscribes(demo_server):
    async with echo_client(demo_server) as listener, echo_client(demo_server) as speaker:
        subscription = listener.subscribe(
            {"mt": "SubscribeEcho"}, unsubscribe={"mt": "UnsubscribeEcho"}
        )
        async with subscription as sub:
            assert sub.ack == {"mt": "SubscribeEchoResult", "src": sub.src}
            await speaker.request({"mt": "Broadcast", "text": "one"})
            await speaker.request({"mt": "Broadcast", "text": "two"})
            first = await asyncio.wait_for(anext(sub), WAIT)
            second = await asyncio.wait_for(anext(sub), WAIT)
            assert [first["text"], second["text"]] == ["one", "two"]
            assert first["src"] == second["src"] == sub.src
            assert sub.active
            reply = await sub.close()
        assert reply == {"mt": "UnsubscribeEchoResult", "ended": True, "src": sub.src}
        assert not sub.active
        with pytest.raises(StopAsyncIteration):
            await anext(sub)


async def test_a_full_subscription_buffer_stalls_reading_instead_of_dropping(demo_server):
    async with echo_client(demo_server) as listener, echo_client(demo_server) as speaker:
        sub = await listener.subscribe({"mt": "SubscribeEcho"}, queue_size=2)
        for n in range(20):
            await speaker.request({"mt": "Broadcast", "text": str(n)})
        texts = [(await asyncio.wait_for(anext(sub), WAIT))["text"] for _ in range(20)]
        assert texts == [str(n) for n in range(20)]
        # Drained: the connection reads again, and requests are answered.
        assert (await listener.request({"mt": "Echo", "after": True}))["after"] is True


async def test_login_refused_carries_the_servers_text(demo_server):
    client = echo_client(demo_server, password="not-the-password")
    with pytest.raises(LoginRefused) as refused:
        await client.connect()
    assert "wrong digest" in refused.value.error_text
    assert refused.value.reply is not None and refused.value.reply["ok"] is False
    assert isinstance(refused.value, AppwsClientError)


async def test_error_reply_raises_remote_error(demo_server):
    async with echo_client(demo_server) as client:
        with pytest.raises(RemoteError) as failed:
            await client.request({"mt": "NoSuchThing"})
        assert failed.value.error == "unknown-mt"
        assert "NoSuchThing" in (failed.value.error_text or "")
        assert failed.value.reply["mt"] == "NoSuchThingResult"
        assert isinstance(failed.value, AppwsClientError)
        # The connection stays usable.
        assert (await client.request({"mt": "Echo", "ok": 1}))["ok"] == 1


async def test_unanswered_request_times_out(demo_server):
    async with echo_client(demo_server) as client:
        # appws accepts KeepAlive without a reply: a request that is never answered.
        with pytest.raises(RequestTimeout) as timed_out:
            await client.request({"mt": "KeepAlive"}, timeout=0.2)
        assert isinstance(timed_out.value, AppwsClientError)
        assert isinstance(timed_out.value, TimeoutError)
        assert (await client.request({"mt": "Echo", "still": "up"}))["still"] == "up"


async def test_connecting_to_nothing_fails_with_connect_failed():
    client = Client(f"ws://127.0.0.1:{closed_port()}/apps/echo", "echo", password="x")
    with pytest.raises(ConnectFailed) as failed:
        await client.connect()
    assert isinstance(failed.value, ConnectionLost)
    assert isinstance(failed.value, AppwsClientError)
    assert "cannot connect" in str(failed.value)


async def test_unknown_path_fails_with_connect_failed(demo_server):
    client = Client(f"{demo_server.url}/apps/nothing-here", "echo", password="x")
    with pytest.raises(ConnectFailed):
        await client.connect()


async def test_credentials_login_sends_the_given_fields(demo_server):
    credentials = Credentials(sip="alice", dn="Alice", info={"cn": "Alice", "n": 1.0})
    async with (
        echo_client(demo_server, domain="example.com", credentials=credentials) as alice,
    ):
        sub = await alice.subscribe({"mt": "SubscribeEcho"})
        await alice.request({"mt": "Broadcast", "text": "from me"})
        indication = await asyncio.wait_for(anext(sub), WAIT)
        assert indication["from"] == "alice"


async def test_session_key_helpers_after_a_password_login(demo_server):
    async with echo_client(demo_server) as client:
        assert client.session_key is not None and len(client.session_key) == 64
        secret = client.encrypt("seed", "hé")
        assert client.decrypt("seed", secret) == "hé"
        assert len(client.hash("seed", "text")) == 64


async def test_check_build_reports_the_current_build_url(demo_server):
    page = f"{demo_server.http_url}/apps/echo.htm"
    async with echo_client(demo_server, check_build=page) as client:
        assert client.build_url is not None
        assert re.fullmatch(
            re.escape(demo_server.http_url) + r"/apps/[0-9a-f]+/echo\.htm", client.build_url
        )
        assert (await client.request({"mt": "Echo"}))["mt"] == "EchoResult"


async def test_request_in_flight_fails_with_connection_lost_then_the_client_ends(own_server):
    client = await echo_client(own_server, reconnect=False).connect()
    pending = asyncio.ensure_future(client.request({"mt": "KeepAlive"}, timeout=math.inf))
    await client.request({"mt": "Echo"})  # in order: the KeepAlive went out before this
    sub = await client.subscribe({"mt": "SubscribeEcho"})
    await asyncio.to_thread(own_server.stop)
    with pytest.raises(ConnectionLost):
        await asyncio.wait_for(pending, WAIT)
    with pytest.raises(ConnectionLost):  # no reconnect: the subscription ends with the error
        await asyncio.wait_for(anext(sub), WAIT)
    assert client.closed
    with pytest.raises(ConnectionLost, match="closed"):
        await client.request({"mt": "Echo"})
    await client.close()


async def test_reconnect_after_a_restart_restores_the_subscription(own_server):
    async with echo_client(own_server, backoff=(0.05, 0.5)) as client:
        sub = await client.subscribe({"mt": "SubscribeEcho"})
        old_src, old_key = sub.src, client.session_key
        pending = asyncio.ensure_future(client.request({"mt": "KeepAlive"}, timeout=math.inf))
        await client.request({"mt": "Echo"})

        await asyncio.to_thread(own_server.stop)
        with pytest.raises(ConnectionLost):
            await asyncio.wait_for(pending, WAIT)
        # Asked while the server is down: waits for the reconnect (within its timeout).
        waiting = asyncio.ensure_future(client.request({"mt": "Echo", "late": 1}, timeout=WAIT))
        await asyncio.to_thread(own_server.start)

        marker = await asyncio.wait_for(anext(sub), WAIT)
        assert isinstance(marker, Resubscribed)
        assert marker.reconnects == client.reconnects == 1
        assert marker.ack == {"mt": "SubscribeEchoResult", "src": sub.src}
        assert sub.src != old_src and sub.resubscribed == 1
        assert client.session_key != old_key  # a new challenge, a new key
        assert (await asyncio.wait_for(waiting, WAIT))["late"] == 1

        async with echo_client(own_server) as speaker:
            await speaker.request({"mt": "Broadcast", "text": "after"})
        indication = await asyncio.wait_for(anext(sub), WAIT)
        assert indication == {
            "mt": "EchoBroadcast",
            "text": "after",
            "from": "echo",
            "src": sub.src,
        }


def test_sync_client_for_scripts(demo_server):
    with connect_sync(f"{demo_server.url}/apps/echo", "echo", password=ECHO_PASSWORD) as client:
        assert client.request({"mt": "Echo", "text": "sync"})["text"] == "sync"
        with pytest.raises(RemoteError):
            client.request({"mt": "Nope"})
        with client.subscribe(
            {"mt": "SubscribeEcho"}, unsubscribe={"mt": "UnsubscribeEcho"}
        ) as sub:
            assert sub.ack is not None and sub.ack["mt"] == "SubscribeEchoResult"
            client.request({"mt": "Broadcast", "text": "to myself"})
            assert next(iter(sub))["text"] == "to myself"
        assert client.decrypt("s", client.encrypt("s", "x")) == "x"
    with pytest.raises(LoginRefused):
        connect_sync(f"{demo_server.url}/apps/echo", "echo", password="wrong")


async def test_login_callback_from_the_sites_login_endpoint(notes_site):
    issuer = SiteLogin(
        f"{notes_site.http_url}/appws/login", username="alice", password="alice-demo"
    )
    url = f"{notes_site.url}/apps/notes"
    async with Client(url, "notes", login=issuer) as client:
        added = await client.request({"mt": "AddNote", "text": "from Python"})
        assert added["note"]["author"] == "Alice Example"
        listed = await client.request({"mt": "ListNotes"})
        assert [note["text"] for note in listed["notes"]] == ["from Python"]
        assert listed["canDelete"] is False
        assert client.session_key is None
        with pytest.raises(NoSessionKey):
            client.encrypt("seed", "text")

    # Alice may not open notes-admin: the endpoint refuses, and that is a refused login.
    admin = Client(f"{notes_site.url}/apps/notes-admin", "notes-admin", login=issuer)
    with pytest.raises(LoginRefused) as refused:
        await admin.connect()
    assert refused.value.error == "forbidden"

    wrong = SiteLogin(f"{notes_site.http_url}/appws/login", username="alice", password="nope")
    with pytest.raises(LoginRefused) as refused:
        await Client(url, "notes", login=wrong).connect()
    assert refused.value.error == "site-login"
