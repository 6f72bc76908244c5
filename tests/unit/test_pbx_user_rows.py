"""Checking and cleaning the PBX's user rows before anything keeps them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from appws.pbx.users.rows import BadRow, UserRow, clean_row, guid_of, strip_secrets
from appws.testing.fakepbx.users import new_user

GUID = "0123456789abcdef0123456789ABCDEF"


def row(**columns: Any) -> dict[str, Any]:
    return {"guid": GUID, "h323": "alice", **columns}


def test_strip_secrets_removes_pwd_at_every_level() -> None:
    value = {
        "pwd": "top",
        "devices": [{"hw": "x", "pwd": "dev", "more": [{"PWD": "deep", "ok": 1}]}],
        "nested": {"pwd": "n", "keep": "k"},
    }
    stripped = strip_secrets(value)
    assert stripped == {"devices": [{"hw": "x", "more": [{"ok": 1}]}], "nested": {"keep": "k"}}
    assert "pwd" in value  # the argument is left alone
    assert "top" not in json.dumps(stripped) and "deep" not in json.dumps(stripped)


def test_guid_of_is_lower_case_hex() -> None:
    assert guid_of({"guid": GUID}) == GUID.lower()


@pytest.mark.parametrize("guid", [None, "", "abc", GUID + "0", "g" * 32, 12345])
def test_guid_of_refuses_anything_else(guid: object) -> None:
    with pytest.raises(BadRow, match="guid"):
        guid_of({} if guid is None else {"guid": guid})


def test_clean_row_converts_a_pbx_row() -> None:
    columns = new_user(
        "alice",
        guid=GUID,
        e164="201",
        hide=True,
        apps="notes, phone,,notes",
        emails=[{"email": "Alice@Example.com"}, {"email": "alice@example.com"}],
        grps=[{"name": "sales", "mode": "active", "dyn": "in"}, {"name": "all"}],
        devices=[{"hw": "phone-1", "text": "desk", "pwd": "device-secret"}],
        color="blue",
    )
    secret = columns["pwd"]
    cleaned = clean_row(columns, max_bytes=10_000)
    assert isinstance(cleaned, UserRow)
    assert cleaned.guid == GUID.lower()
    assert (cleaned.h323, cleaned.cn, cleaned.e164, cleaned.node) == (
        "alice",
        "Alice",
        "201",
        "root",
    )
    assert cleaned.hide is True
    assert cleaned.apps == ("notes", "phone")
    assert cleaned.emails == ("alice@example.com",)
    assert cleaned.groups == (("sales", "active", "in"), ("all", "", ""))
    assert cleaned.lists == {"devices": [{"hw": "phone-1", "text": "desk"}]}
    assert cleaned.raw["color"] == "blue"  # a column nobody asked for is kept in raw
    assert "pwd" not in cleaned.raw
    assert secret not in repr(cleaned) and "device-secret" not in repr(cleaned)


def test_missing_columns_are_unset() -> None:
    cleaned = clean_row({"guid": GUID}, max_bytes=1000)
    assert (cleaned.h323, cleaned.hide, cleaned.apps, cleaned.emails, cleaned.groups) == (
        "",
        False,
        (),
        (),
        (),
    )


@pytest.mark.parametrize(
    ("columns", "reason"),
    [
        ({"h323": "x"}, "guid"),
        (row(h323=5), "'h323' is not a string"),
        (row(cn=["x"]), "'cn' is not a string"),
        (row(apps=["notes"]), "'apps' is not a string"),
        (row(hide="yes"), "'hide' is not true or false"),
        (row(hide=1), "'hide' is not true or false"),
        (row(emails="a@example.com"), "'emails' is not a list of objects"),
        (row(emails=["a@example.com"]), "'emails' is not a list of objects"),
        (row(emails=[{"email": 5}]), "no string 'email'"),
        (row(grps=[{"mode": "active"}]), "no string 'name'"),
        (row(grps=[{"name": "a", "dyn": True}]), "not a string"),
        (row(devices={"hw": "x"}), "'devices' is not a list of objects"),
        (row(h323="a" * 256), "longer than 255"),
        (row(e164="1" * 65), "longer than 64"),
        (row(emails=[{"email": "a" * 250 + "@x.com"}]), "longer than 254"),
        (row(cn="a\x00b"), "NUL"),
        (row(devices=[{"hw\x00": "x"}]), "NUL"),
    ],
)
def test_bad_rows_say_why_without_their_content(columns: dict[str, Any], reason: str) -> None:
    with pytest.raises(BadRow) as caught:
        clean_row({**columns, "pwd": "the-secret"}, max_bytes=10_000)
    assert reason in caught.value.reason
    assert "the-secret" not in caught.value.reason and "alice" not in caught.value.reason


def test_an_oversized_row_is_bad() -> None:
    columns = row(cn="x" * 200)
    size = len(json.dumps(columns, separators=(",", ":")).encode())
    assert clean_row(columns, max_bytes=size).cn == "x" * 200
    with pytest.raises(BadRow, match=f"{size} bytes, more than the limit of {size - 1}"):
        clean_row(columns, max_bytes=size - 1)


def test_a_row_that_is_no_object_is_bad() -> None:
    with pytest.raises(BadRow, match="not an object"):
        clean_row(["guid", GUID], max_bytes=1000)  # type: ignore[arg-type]
