"""App passwords are encrypted at rest and survive a SECRET_KEY rotation."""

from __future__ import annotations

import pytest

from appws.crypto import (
    UndecryptablePassword,
    decrypt_password,
    encrypt_password,
    reencrypt_password,
)
from appws.models import App


def test_round_trip_and_no_plaintext():
    token = encrypt_password("sëcret-pässword")
    assert "sëcret" not in token and "secret" not in token
    assert decrypt_password(token) == "sëcret-pässword"
    assert encrypt_password("x") != encrypt_password("x")  # fresh IV each time


def test_rotation_with_fallbacks(settings):
    settings.SECRET_KEY = "old-key-" + "x" * 40
    token = encrypt_password("pw")
    settings.SECRET_KEY = "new-key-" + "y" * 40
    with pytest.raises(UndecryptablePassword, match="SECRET_KEY_FALLBACKS"):
        decrypt_password(token)
    settings.SECRET_KEY_FALLBACKS = ["old-key-" + "x" * 40]
    assert decrypt_password(token) == "pw"
    rotated = reencrypt_password(token)
    settings.SECRET_KEY_FALLBACKS = []
    assert decrypt_password(rotated) == "pw"


@pytest.mark.django_db
def test_the_column_holds_no_plaintext():
    app = App(name="crypt")
    app.set_password("plain-text-password")
    app.save()
    stored = App.objects.values_list("password_encrypted", flat=True).get(pk=app.pk)
    assert "plain-text-password" not in stored
    assert App.objects.get(pk=app.pk).get_password() == "plain-text-password"


def test_empty_password_is_refused():
    with pytest.raises(ValueError, match="empty"):
        App(name="x").set_password("")
