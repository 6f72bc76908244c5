"""Which AppLogin field values are refused as ambiguous, and the kind of a login."""

from __future__ import annotations

from typing import Any

import pytest

from appws.protocol import (
    LoginKind,
    ambiguous_field,
    is_issuable_challenge,
    login_digest,
    login_kind,
    verify_login,
)

# Logins as real peers send them: the vendor client with a password, an
# issued myApps login (the vendor's digest vector), a PBX's App object.
VENDOR_PASSWORD = {"app": "notes", "domain": "", "sip": "notes", "guid": "0" * 32, "dn": "Admin"}
ISSUED = {
    "app": "innovaphone-users",
    "domain": "example.com",
    "sip": "administrator",
    "guid": "0123456789abcdef0123456789abcdef",
    "dn": "Administrator User",
    "info": {
        "appobj": "users",
        "apps": [{"name": "users"}, {"name": "profile"}],
        "appurl": "https://1.2.3.4/example.com/usersapp/innovaphone-users",
        "unlicensed": True,
    },
}
PBX = {
    "app": "notes",
    "domain": "example.com",
    "sip": "notes-app",
    "guid": "5e0c4b4ac5a46401a1e200904f0a38ed",
    "dn": "Notes",
    "info": {"appobj": "notes-app", "appdn": "Notes", "appurl": "https://svc/notes.htm", "lics": 5},
}


@pytest.mark.parametrize("login", [VENDOR_PASSWORD, ISSUED, PBX, {"app": "pbxadminapi"}, {}])
def test_real_logins_are_not_ambiguous(login: dict[str, Any]) -> None:
    assert ambiguous_field(login) is None


@pytest.mark.parametrize("name", ["app", "domain", "sip", "guid"])
def test_a_colon_in_app_domain_sip_or_guid_is_refused(name: str) -> None:
    assert ambiguous_field({**ISSUED, name: "a:b"}) == name
    assert ambiguous_field({**VENDOR_PASSWORD, name: ":"}) == name


def test_dn_without_info_may_not_hold_a_colon() -> None:
    assert ambiguous_field({**VENDOR_PASSWORD, "dn": "Room 1: desk"}) == "dn"


def test_dn_with_info_may_hold_a_colon_but_not_colon_brace() -> None:
    assert ambiguous_field({**ISSUED, "dn": "Room 1: desk"}) is None
    assert ambiguous_field({**ISSUED, "dn": 'Bob:{"appobj"'}) == "dn"
    assert ambiguous_field({**ISSUED, "dn": "Bob:{"}) == "dn"


def test_an_issued_login_with_info_folded_into_dn_verifies_but_is_refused() -> None:
    # Same digest, info gone: the login would read as a password login.
    challenge, password = "4711", "pwd"
    issued = {**ISSUED, "digest": login_digest(ISSUED, challenge, password)}
    folded = {key: value for key, value in issued.items() if key != "info"}
    folded["dn"] = f'{ISSUED["dn"]}:{{"appobj":"users",' + '"apps":[{"name":"users"},'
    folded["dn"] += '{"name":"profile"}],"appurl":"https://1.2.3.4/example.com/usersapp/'
    folded["dn"] += 'innovaphone-users","unlicensed":true}'
    assert verify_login(folded, challenge, password)
    assert ambiguous_field(folded) == "dn"


def test_a_victim_smuggled_through_the_challenge_verifies_but_is_refused() -> None:
    # The attack an issuer that signed any challenge allowed: the signed text is
    # re-split so that domain swallows the real fields and sip is the victim's.
    challenge, password = "1234567890123456", "pwd"
    mine = {"app": "notes", "domain": "site", "sip": "mallory", "guid": "g", "dn": "Mallory"}
    chosen = f"victim:{'0' * 32}:Victim:{challenge}"
    signed = login_digest({**mine, "info": None}, chosen, password)
    forged = {
        "app": "notes",
        "domain": "site:mallory:g:Mallory",
        "sip": "victim",
        "guid": "0" * 32,
        "dn": "Victim",
        "digest": signed,
    }
    assert verify_login(forged, challenge, password)
    assert ambiguous_field(forged) == "domain"
    assert not is_issuable_challenge(chosen)


@pytest.mark.parametrize("challenge", ["1", "0123456789abcdef", "AZaz09", "9" * 16])
def test_issuable_challenges(challenge: str) -> None:
    assert is_issuable_challenge(challenge)


@pytest.mark.parametrize(
    "challenge", ["", "1" * 17, "a:b", "12 34", "caf\u00e9", "x-y", "\uff11", None, 12]
)
def test_unissuable_challenges(challenge: object) -> None:
    assert not is_issuable_challenge(challenge)


def test_kinds_of_real_logins() -> None:
    assert login_kind(VENDOR_PASSWORD) is LoginKind.PASSWORD
    assert login_kind(ISSUED) is LoginKind.USER
    assert login_kind(PBX) is LoginKind.PBX


@pytest.mark.parametrize(
    ("login", "kind"),
    [
        ({"sip": "x"}, LoginKind.PASSWORD),
        ({"sip": "x", "info": None}, LoginKind.PASSWORD),
        ({"sip": "x", "info": {}}, LoginKind.PASSWORD),
        ({"sip": "x", "info": {"cn": "X"}}, LoginKind.PASSWORD),
        ({"sip": "x", "info": {"appobj": "x"}}, LoginKind.PBX),
        ({"sip": "x", "info": {"appobj": "y"}}, LoginKind.USER),
        ({"sip": "", "info": {"appobj": ""}}, LoginKind.USER),
        ({"info": {"appobj": ""}}, LoginKind.USER),
        ({"sip": "1", "info": {"appobj": 1}}, LoginKind.USER),
        # pbxObj is not covered by the digest: it never makes a PBX login.
        ({"sip": "x", "pbxObj": "x", "info": {"appobj": "y"}}, LoginKind.USER),
        ({"sip": "x", "pbxObj": "x"}, LoginKind.PASSWORD),
    ],
)
def test_kind_is_decided_from_digest_covered_fields(login: dict[str, Any], kind: LoginKind) -> None:
    assert login_kind(login) is kind


def test_kind_reads_as_its_value() -> None:
    assert str(LoginKind.PBX) == "pbx" and LoginKind.USER == "user"
