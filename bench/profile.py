"""Profiles of bench servers under load, with py-spy (``python -m bench --profile``).

py-spy samples a running server process from outside (no code change, little
overhead); each profile is summarised into ``profile-<name>.txt``: where the
server's time goes by package, and the functions with the most time, self and
inclusive.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bench import client
from bench.client import Target
from bench.database import bench_database
from bench.run import _appws, _bare, _log, _started
from bench.servers import Daphne, Server, Uvicorn, bench_env, prepare_database

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]*)(?::\d+)?\)$")
TOP = 25


def _frame_name(frame: str) -> tuple[str, str]:
    """``("func (file)", "package")`` of one py-spy frame ``"func (path:line)"``."""
    match = _FRAME.match(frame)
    if match is None:
        return frame, "other"
    path = match["file"]
    package = path.split("/", 1)[0] if "/" in path else path.removesuffix(".py")
    if path.startswith("<"):
        package = "python"
    return f"{match['func']} ({path})", package


def summarise(raw: str, title: str) -> str:
    """A text summary of py-spy's raw (collapsed stack) output."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame_name(frame) for frame in stack.split(";")]
        leaf, package = frames[-1]
        self_time[leaf] += count
        packages[package] += count
        for name in {name for name, _ in frames}:
            inclusive[name] += count
    if not total:
        return f"{title}: no samples\n"

    def share(count: int) -> str:
        return f"{count / total * 100:5.1f} %"

    lines = [title, f"{total} samples", "", "self time by package (where the CPU was):"]
    lines += [f"  {share(c)}  {name}" for name, c in packages.most_common(12)]
    lines += ["", f"top {TOP} functions by self time:"]
    lines += [f"  {share(c)}  {name}" for name, c in self_time.most_common(TOP)]
    lines += ["", f"top {TOP} functions by inclusive time (below the event loop):"]
    skip = ("run_forever", "_run_once", "Handle._run", "<module>", "_run_module_as_main")
    shown = [(n, c) for n, c in inclusive.most_common(TOP * 3) if not n.startswith(skip)]
    shown = [(n, c) for n, c in shown if not n.startswith(("_run_code", "CommandLine"))]
    lines += [f"  {share(c)}  {name}" for name, c in shown[:TOP]]
    for package in ("appws", "channels"):
        mine = [(n, c) for n, c in inclusive.most_common() if f"({package}/" in n]
        lines += ["", f"{package} functions, inclusive time:"]
        lines += [f"  {share(c)}  {name}" for name, c in mine[:TOP]]
    return "\n".join(lines) + "\n"


def record(pid: int, seconds: float, load: Callable[[], None]) -> str:
    """Sample ``pid`` for ``seconds`` while ``load()`` runs over and over; raw stacks."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "raw.txt"
        load()  # warm the server up before sampling
        process = subprocess.Popen(
            [
                py_spy,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(round(seconds)),
                "--rate",
                "200",
                "--format",
                "raw",
                "--nonblocking",
                "--output",
                str(output),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        while process.poll() is None:
            load()
        if not output.exists():
            raise RuntimeError(f"py-spy failed: {process.communicate()[0]}")
        return output.read_text()


def profile_all(out_dir: Path, seconds: float, database: str = "sqlite") -> None:
    """Profile appws and the bare Channels consumer under echo load, and appws logins.

    ``database``: as ``--db`` (bench/database.py); profiles on PostgreSQL are named
    ``postgres-profile-*.txt``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = "" if database == "sqlite" else f"{database}-"
    with (
        tempfile.TemporaryDirectory(prefix="appws-bench-") as tmp,
        bench_database(database, Path(tmp)) as db,
    ):
        prepare_database(db)
        daphne = Daphne(bench_env(db))
        tracked = Daphne(bench_env(db, track=True))
        uvicorn = Uvicorn(bench_env(db))
        with _started(daphne, tracked, uvicorn):
            echo = lambda t: lambda: client.run(client.echo_connections, t, 3000, 50)  # noqa: E731
            churn = lambda t: lambda: client.run(client.cycles_of, t, 200, 20)  # noqa: E731
            fanout = lambda t: lambda: client.run(client.fanout, [t], t, 300, 20)  # noqa: E731
            scenarios: list[tuple[str, Server, Target, Callable[[Target], Callable[[], None]]]] = [
                ("appws-daphne-echo", daphne, _appws("appws@daphne", daphne), echo),
                ("channels-daphne-echo", daphne, _bare("channels@daphne", daphne), echo),
                ("appws-uvicorn-echo", uvicorn, _appws("appws@uvicorn", uvicorn), echo),
                ("appws-daphne-fanout", daphne, _appws("appws@daphne", daphne), fanout),
                ("appws-daphne-churn", daphne, _appws("appws@daphne", daphne), churn),
                (
                    "appws-tracking-daphne-churn",
                    tracked,
                    _appws("appws+tracking@daphne", tracked),
                    churn,
                ),
            ]
            for name, server, target, make_load in scenarios:
                _log(f"profile {name}: {seconds} s")
                raw = record(server.pid, seconds, make_load(target))
                (out_dir / "raw").mkdir(exist_ok=True)
                (out_dir / "raw" / f"{prefix}{name}.txt").write_text(raw)  # for flame graphs
                path = out_dir / f"{prefix}profile-{name}.txt"
                path.write_text(summarise(raw, f"py-spy profile of {target.name}: {name}"))
                print(f"wrote {path}")


__all__ = ["profile_all", "record", "summarise"]
