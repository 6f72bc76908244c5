"""A blocking wrapper for scripts: the asyncio client on an event loop in a thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar

from appws.client.connection import Client
from appws.client.subscription import Item, Subscription

__all__ = ["SyncClient", "SyncSubscription", "connect_sync"]

T = TypeVar("T")


class SyncClient:
    """``Client`` for code without asyncio; connects on creation, use it as ``with``.

    Takes the same arguments as ``Client``. Each call blocks until its result is there; the
    client's own work (reading, reconnecting, KeepAlive) runs in a background thread.
    """

    def __init__(self, url: str, app: str, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="appws-client", daemon=True
        )
        self._thread.start()
        try:
            self.client: Client = self._call(self._connect(url, app, options))
        except BaseException:
            self._stop_loop()
            raise

    @staticmethod
    async def _connect(url: str, app: str, options: dict[str, Any]) -> Client:
        # Created inside the loop, so its events and futures belong to it.
        return await Client(url, app, **options).connect()

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def request(
        self, message: Mapping[str, Any], api: str | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        """Blocking ``Client.request``."""
        return self._call(self.client.request(message, api, timeout))

    def send(self, message: Mapping[str, Any], api: str | None = None) -> None:
        """Blocking ``Client.send``."""
        self._call(self.client.send(message, api))

    def subscribe(
        self,
        message: Mapping[str, Any],
        api: str | None = None,
        *,
        unsubscribe: Mapping[str, Any] | None = None,
        queue_size: int | None = None,
    ) -> SyncSubscription:
        """Subscribe and wait for the acknowledgement; iterate the result for indications."""
        subscription = self.client.subscribe(
            message, api, unsubscribe=unsubscribe, queue_size=queue_size
        )
        self._call(subscription.start())
        return SyncSubscription(self, subscription)

    @property
    def session_key(self) -> str | None:
        """See ``Client.session_key``."""
        return self.client.session_key

    def encrypt(self, seed: str, text: str) -> str:
        """See ``Client.encrypt``."""
        return self.client.encrypt(seed, text)

    def decrypt(self, seed: str, data: str) -> str:
        """See ``Client.decrypt``."""
        return self.client.decrypt(seed, data)

    def hash(self, seed: str, text: str) -> str:
        """See ``Client.hash``."""
        return self.client.hash(seed, text)

    def close(self) -> None:
        """Close the client and end the background thread."""
        if not self._loop.is_closed():
            try:
                self._call(self.client.close())
            finally:
                self._stop_loop()

    def _stop_loop(self) -> None:
        self._call(_wind_down())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SyncSubscription:
    """A ``Subscription`` seen from blocking code: iterate it, ``close()`` it or use ``with``."""

    def __init__(self, owner: SyncClient, subscription: Subscription) -> None:
        self._owner = owner
        self.subscription = subscription

    @property
    def ack(self) -> dict[str, Any] | None:
        """The reply to the subscribing request (the latest one, after a reconnect)."""
        return self.subscription.ack

    def __iter__(self) -> Iterator[Item]:
        return self

    def __next__(self) -> Item:
        try:
            return self._owner._call(self.subscription.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None

    def close(self) -> dict[str, Any] | None:
        """Blocking ``Subscription.close``."""
        return self._owner._call(self.subscription.close())

    def __enter__(self) -> SyncSubscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def _wind_down() -> None:
    """Cancel what still runs on the loop (library tasks) and release its executor."""
    rest = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_default_executor()


def connect_sync(url: str, app: str, **options: Any) -> SyncClient:
    """Connect and log in; returns a ``SyncClient`` (use it in a ``with`` block)."""
    return SyncClient(url, app, **options)
