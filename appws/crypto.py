"""Encryption at rest of App passwords, keyed from the site's SECRET_KEY.

The password must be readable to check digests, so it cannot be hashed. It is
encrypted with Fernet under a key derived from ``SECRET_KEY``; tokens made
under any of ``SECRET_KEY_FALLBACKS`` still decrypt, so a key rotation keeps
working until ``manage.py appws_app rotate`` re-encrypts everything.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

_CONTEXT = b"appws.app-password.v1:"


class UndecryptablePassword(Exception):
    """The stored password was encrypted under a key this site no longer has."""


def _fernet(secret: str | bytes) -> Fernet:
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    key = hashlib.sha256(_CONTEXT + raw).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def _keys() -> MultiFernet:
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ())]
    return MultiFernet([_fernet(secret) for secret in secrets])


def encrypt_password(password: str) -> str:
    """Return a token holding ``password``, encrypted under the current SECRET_KEY."""
    return _keys().encrypt(password.encode("utf-8")).decode("ascii")


def decrypt_password(token: str) -> str:
    """Return the password in ``token``; tries SECRET_KEY, then the fallbacks."""
    try:
        return _keys().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError) as error:
        raise UndecryptablePassword(
            "an App password cannot be decrypted: was SECRET_KEY changed without "
            "keeping the old key in SECRET_KEY_FALLBACKS?"
        ) from error


def reencrypt_password(token: str) -> str:
    """Return ``token`` re-encrypted under the current SECRET_KEY."""
    try:
        return _keys().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken as error:
        raise UndecryptablePassword("an App password cannot be decrypted") from error
