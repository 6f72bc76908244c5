"""The floor for Python: a bare ``websockets`` server doing the same JSON work as appws.

``python -m bench.raw_server PORT`` serves the messages of :mod:`bench.services` on
127.0.0.1:PORT, without Django, Channels or a login.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from bench.stats import process_stats

ENVELOPE = ("mt", "api", "src")
# topic -> connection -> src of its subscription
subscribers: dict[str, dict[ServerConnection, str | None]] = {}


async def _notify(topic: str, message: dict[str, Any]) -> None:
    for connection, src in list(subscribers.get(topic, {}).items()):
        out = message if src is None else {**message, "src": src}
        try:
            await connection.send(json.dumps(out))
        except Exception:  # a subscriber that went away
            subscribers[topic].pop(connection, None)


async def handle(connection: ServerConnection) -> None:
    topics: list[str] = []
    try:
        async for frame in connection:
            content = json.loads(frame)
            mt = content.get("mt")
            reply: dict[str, Any]
            if mt == "Echo":
                reply = {key: value for key, value in content.items() if key not in ENVELOPE}
            elif mt == "Subscribe":
                subscribers.setdefault(content["topic"], {})[connection] = content.get("src")
                topics.append(content["topic"])
                reply = {}
            elif mt == "Notify":
                await _notify(content["topic"], content["message"])
                reply = {}
            elif mt == "Stats":
                reply = process_stats()
            else:
                reply = {"error": "unknown-mt"}
            message = {"mt": f"{mt}Result", **reply}
            if "src" in content:
                message["src"] = content["src"]
            await connection.send(json.dumps(message))
    finally:
        for topic in topics:
            subscribers.get(topic, {}).pop(connection, None)


async def main(port: int) -> None:
    async with serve(
        handle, "127.0.0.1", port, compression=None, ping_interval=None, max_size=None
    ) as server:
        print(f"Listening on 127.0.0.1:{port}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
