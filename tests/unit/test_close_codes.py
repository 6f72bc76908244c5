"""The close codes have one table, ``appws.protocol.CloseCode``: appws.js and the docs follow it.

appws.js cannot import it, so these tests read the script's constants and fail when a
number there (or in its comments) is not the server's.
"""

from __future__ import annotations

import re
from pathlib import Path

from appws.protocol import FINAL_CLOSE_CODES, RESTART_CLOSE_CODES, CloseCode

ROOT = Path(__file__).resolve().parents[2]
APPWS_JS = (ROOT / "appws" / "static" / "appws" / "appws.js").read_text(encoding="utf-8")
ERRORS_MD = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")


def js_constant(name: str) -> str:
    """The source text of ``const name = ...;`` in appws.js."""
    found = re.search(rf"^\s*const {name} = (.*?);$", APPWS_JS, re.MULTILINE | re.DOTALL)
    assert found is not None, f"appws.js defines no const {name}"
    return found.group(1)


def test_appws_js_slow_reader_code_is_the_servers():
    assert int(js_constant("SLOW_READER_CLOSE_CODE")) == CloseCode.SLOW_READER


def test_appws_js_final_close_codes_are_the_servers():
    table = js_constant("FINAL_CLOSE_CODES")
    codes = {int(code) for code in re.findall(r"^\s*(\d+)\s*:", table, re.MULTILINE)}
    assert codes == set(FINAL_CLOSE_CODES)


def test_appws_js_restart_close_codes_are_the_python_clients():
    codes = {int(code) for code in re.findall(r"\d+", js_constant("RESTART_CLOSE_CODES"))}
    assert codes == set(RESTART_CLOSE_CODES)
    assert CloseCode.SERVICE_RESTART in codes


def test_every_close_code_appws_js_names_is_one_the_server_sends():
    named = {int(code) for code in re.findall(r"\b4\d{3}\b", APPWS_JS)}
    assert named, "appws.js names no close code at all"
    assert named <= {code.value for code in CloseCode}, named - set(CloseCode)


def test_errors_md_lists_every_close_code_and_no_other():
    section = ERRORS_MD.split("## Close codes", 1)[1].split("\n## ", 1)[0]
    listed = [int(code) for code in re.findall(r"^\| (\d{4}) \|", section, re.MULTILINE)]
    assert sorted(listed) == sorted(code.value for code in CloseCode)
