"""The session key and the value helpers derived from it (docs/protocol.md)."""

from __future__ import annotations

import binascii
import hashlib

__all__ = ["decrypt", "encrypt", "keyed_hash", "rc4", "session_key"]

_SESSION_KEY_PREFIX = "innovaphoneAppSessionKey:"


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def session_key(challenge: str, password: str) -> str:
    """Return the session key both sides derive after login; it never crosses the wire."""
    return _sha256_hex(_SESSION_KEY_PREFIX + challenge + ":" + password)


def rc4(key: bytes, data: bytes) -> bytes:
    """Apply plain RC4 (no dropped keystream bytes); the same call encrypts and decrypts."""
    if not key:
        raise ValueError("RC4 key must not be empty")
    state = list(range(256))
    j = 0
    for i in range(256):
        j = (j + state[i] + key[i % len(key)]) & 0xFF
        state[i], state[j] = state[j], state[i]
    out = bytearray(len(data))
    i = j = 0
    for position, byte in enumerate(data):
        i = (i + 1) & 0xFF
        j = (j + state[i]) & 0xFF
        state[i], state[j] = state[j], state[i]
        out[position] = byte ^ state[(state[i] + state[j]) & 0xFF]
    return bytes(out)


def _cipher_key(key: str, seed: str) -> bytes:
    return (seed + ":" + key).encode("utf-8", "surrogatepass")


def encrypt(key: str, seed: str, text: str) -> str:
    """Encrypt ``text`` with the session ``key`` and ``seed``; returns lowercase hex.

    Raises ``ValueError`` if ``text`` cannot be encoded as UTF-8 (a lone surrogate), since
    ``decrypt`` could not give it back.
    """
    try:
        plain = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("text to encrypt is not valid Unicode (lone surrogate)") from exc
    return rc4(_cipher_key(key, seed), plain).hex()


def decrypt(key: str, seed: str, data: str) -> str:
    """Invert ``encrypt``; raises ``ValueError`` on non-hex data or a non-UTF-8 result."""
    try:
        cipher = binascii.unhexlify(data)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("encrypted value must be an even-length string of hex digits") from exc
    try:
        return rc4(_cipher_key(key, seed), cipher).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            "decrypted bytes are not UTF-8: wrong session key or seed, or corrupted data"
        ) from exc


def keyed_hash(key: str, seed: str, text: str) -> str:
    """Return lowercase hex SHA-256 of ``seed:key:text`` (the vendor libraries' ``hash``)."""
    return _sha256_hex(seed + ":" + key + ":" + text)
