"""The browser client's JavaScript unit tests (tests/js/), run under Node's own test runner."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parents[2]


def test_browser_client_unit_tests_pass_under_node() -> None:
    node = require_tool("node", "nodejs")
    result = subprocess.run(
        [node, "--test", "tests/js/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, (
        f"node --test tests/js/ exited with {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )
