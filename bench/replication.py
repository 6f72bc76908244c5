"""Workload 10: the initial copy of a PBX's users into SQLite, through appws and without.

    python -m bench.replication --url ws://127.0.0.1:PORT/apps/benchusers --users 10000

Run by the harness (``bench/run.py``) as a process of its own with the bench's
Django settings, beside a daphne serving ``bench.asgi`` on the same SQLite file:

- ``appws@daphne``: a ``FakePbx`` holding ``--users`` users logs in to the bench's
  ``benchusers`` service (``replicate_users = True``); timed from its login until the
  database holds every row (the copy's ReplicateStart, one ReplicateNext per row, the
  replicator's batch writes);
- ``plain script``: the same rows as the PBX's frames (JSON text), decoded and
  bulk-inserted into the same models here, in batches of the same size, one
  transaction each, without appws's replicator: what the copy's database work alone
  costs.

Each PBX of a run has a name of its own, so every run inserts (no run updates the
rows of another). Prints one JSON object: rows/s per kind (medians) and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from typing import Any

from bench.constants import BENCH_PASSWORD

APPWS = "appws@daphne"
PLAIN = "plain script"
#: Polls of the row count once the FakePbx has sent the last row.
POLL_SECONDS = 0.01


def users(count: int) -> list[dict[str, Any]]:
    """``count`` users as a PBX replicates them, each with an email, a group and a pwd."""
    from appws.testing.fakepbx import new_user

    return [
        new_user(
            f"user{n}",
            guid=f"{n:032x}",
            e164=str(10000 + n),
            emails=[{"email": f"user{n}@example.com"}],
            grps=[{"name": f"group{n % 10}", "mode": "active", "dyn": ""}],
            apps="notes,directory",
        )
        for n in range(count)
    ]


async def _rows_of(pbx: str) -> int:
    from asgiref.sync import sync_to_async

    from bench.replication_models import count_rows

    return await sync_to_async(count_rows)(pbx)


async def _running(pbx: str) -> bool:
    from asgiref.sync import sync_to_async

    from bench.replication_models import still_running

    return await sync_to_async(still_running)(pbx)


async def through_appws(url: str, rows: list[dict[str, Any]], pbx: str) -> float:
    """Rows per second of the copy through appws, until the last row is committed."""
    from appws.testing import FakePbx

    fake = FakePbx(
        url,
        password=BENCH_PASSWORD,
        apis=["PbxTableUsers"],
        pbx=pbx,
        users=rows,
        timeout=600,
    )
    start = time.perf_counter()
    async with fake:
        await fake.wait_for(
            lambda frame: frame.message is not None and "columns" not in frame.message,
            direction="sent",
            mt="ReplicateNextResult",
        )
        while await _rows_of(pbx) < len(rows):  # noqa: ASYNC110 (another process's database)
            await asyncio.sleep(POLL_SECONDS)
        elapsed = time.perf_counter() - start
    # The server's last writes (the session's end) are done before the plain script
    # writes to the same SQLite file.
    while await _running(pbx):  # noqa: ASYNC110 (another process's database)
        await asyncio.sleep(POLL_SECONDS)
    return len(rows) / elapsed


def frames(rows: list[dict[str, Any]]) -> list[str]:
    """The rows as the PBX sends them: one ReplicateNextResult frame each."""
    return [
        json.dumps(
            {"api": "PbxTableUsers", "mt": "ReplicateNextResult", "columns": row, "src": str(n)},
            separators=(",", ":"),
        )
        for n, row in enumerate(rows)
    ]


def plain_script(texts: list[str], pbx: str, batch: int) -> float:
    """Rows per second of decoding ``texts`` and bulk-inserting them, without appws."""
    from bench.replication_models import insert_plain

    start = time.perf_counter()
    for first in range(0, len(texts), batch):
        decoded = [json.loads(text)["columns"] for text in texts[first : first + batch]]
        insert_plain(pbx, decoded)
    return len(texts) / (time.perf_counter() - start)


def measure(url: str, count: int, repeats: int) -> dict[str, Any]:
    """Both kinds, interleaved ``repeats`` times; medians, runs and the ratio."""
    from appws.pbx.users.replicator import BATCH_ROWS

    rows = users(count)
    texts = frames(rows)
    runs: dict[str, list[dict[str, float]]] = {APPWS: [], PLAIN: []}
    for run in range(repeats):
        rate = asyncio.run(through_appws(url, rows, f"bench-appws-{run}"))
        runs[APPWS].append({"rate": rate})
        runs[PLAIN].append({"rate": plain_script(texts, f"bench-plain-{run}", BATCH_ROWS)})
    out: dict[str, Any] = {"users": count}
    for name, values in runs.items():
        out[name] = {"rate": statistics.median(v["rate"] for v in values), "runs": values}
    out["ratio"] = out[APPWS]["rate"] / out[PLAIN]["rate"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replication", description=__doc__)
    parser.add_argument("--url", required=True, help="the benchusers service's ws:// URL")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    print(json.dumps(measure(args.url, args.users, args.repeats)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
