"""Session key, RC4 value protection and keyed hash (docs/protocol.md)."""

from __future__ import annotations

import hashlib

import pytest

from appws.protocol import decrypt, encrypt, keyed_hash, rc4, session_key

KEY = "d58c77eae0c1c1f37a9f545e207643c926ad9ea4932016a83a4a01029de37760"


def test_session_key_vector() -> None:
    assert session_key("0123456789abcdef", "pwd") == KEY


def test_session_key_depends_on_both_inputs() -> None:
    assert session_key("0123456789abcdef", "pwd2") != KEY
    assert session_key("0123456789abcdee", "pwd") != KEY


def test_encrypt_vector() -> None:
    assert encrypt(KEY, "seed1", "hello") == "970a852834"


def test_decrypt_vector() -> None:
    assert decrypt(KEY, "seed1", "970a852834") == "hello"
    assert decrypt(KEY, "seed1", "970A852834") == "hello"


@pytest.mark.parametrize("text", ["", "hello", "grüße, 東京 😀", "a:b\n\x00"])
def test_round_trip(text: str) -> None:
    data = encrypt(KEY, "s", text)
    assert data == data.lower()
    assert len(data) == 2 * len(text.encode("utf-8"))
    assert decrypt(KEY, "s", data) == text


def test_seed_changes_ciphertext() -> None:
    assert encrypt(KEY, "seed1", "hello") != encrypt(KEY, "seed2", "hello")


@pytest.mark.parametrize("data", ["abc", "zz", "97 0a", "0x97", "é0", "970a85283g"])
def test_decrypt_rejects_non_hex(data: str) -> None:
    with pytest.raises(ValueError, match="hex"):
        decrypt(KEY, "seed1", data)


def test_decrypt_rejects_non_utf8() -> None:
    data = rc4(b"seed1:" + KEY.encode(), b"\xff\xfe").hex()
    with pytest.raises(ValueError, match="UTF-8"):
        decrypt(KEY, "seed1", data)


def test_encrypt_rejects_lone_surrogate() -> None:
    with pytest.raises(ValueError):
        encrypt(KEY, "s", "\ud800")


def test_keyed_hash() -> None:
    digest = keyed_hash(KEY, "seed1", "hello")
    assert digest == keyed_hash(KEY, "seed1", "hello")
    assert len(digest) == 64 and digest == digest.lower()
    int(digest, 16)
    assert digest == hashlib.sha256(f"seed1:{KEY}:hello".encode()).hexdigest()
    assert digest != keyed_hash(KEY, "seed2", "hello")
    assert digest != keyed_hash(KEY, "seed1", "hello!")


def test_rc4_known_vectors() -> None:
    assert rc4(b"Key", b"Plaintext").hex() == "bbf316e8d940af0ad3"
    assert rc4(b"Wiki", b"pedia").hex() == "1021bf0420"
    assert rc4(b"Secret", b"Attack at dawn").hex() == "45a01f645fc35b383552544b9bf5"


def test_rc4_is_its_own_inverse() -> None:
    data = bytes(range(256)) * 3
    assert rc4(b"k", rc4(b"k", data)) == data
    assert rc4(b"k", b"") == b""


def test_rc4_empty_key() -> None:
    with pytest.raises(ValueError):
        rc4(b"", b"x")
