"""The handler registry: collection at class creation, inheritance and overrides."""

from __future__ import annotations

import pytest

from appws import AppWebsocketConsumer, mt
from appws.server.reserved import RESERVED_MTS


class Base(AppWebsocketConsumer):
    apps = ("x",)

    @mt("A")
    async def a(self, msg):
        """Handles A."""
        return {"who": "base"}

    @mt("B", permission="app.perm")
    def b(self, msg):
        return {}

    @mt("C", api="Api1")
    @mt("C")
    async def c(self, msg):
        return {}


class Child(Base):
    async def a(self, msg):  # overrides the code, keeps serving A
        return {"who": "child"}

    @mt("B", reply="BDone")  # re-marks B on another method
    async def b2(self, msg):
        return {}

    c = None  # withdraws C


def test_registry_keys_and_details():
    registry = Base.handlers
    assert set(registry) == {(None, "A"), (None, "B"), (None, "C"), ("Api1", "C")}
    assert registry[(None, "A")].is_async and registry[(None, "A")].doc == "Handles A."
    assert not registry[(None, "B")].is_async
    assert registry[(None, "B")].permission == "app.perm"
    assert registry[(None, "B")].reply == "BResult"


def test_inheritance_and_overrides():
    registry = Child.handlers
    assert registry[(None, "A")].attr == "a"
    assert registry[(None, "B")].attr == "b2" and registry[(None, "B")].reply == "BDone"
    assert registry[(None, "B")].is_async
    assert (None, "C") not in registry and ("Api1", "C") not in registry
    assert set(Base.handlers) == {(None, "A"), (None, "B"), (None, "C"), ("Api1", "C")}


def test_two_methods_of_one_class_for_one_mt_is_an_error():
    with pytest.raises(TypeError, match="both"):

        class Clash(AppWebsocketConsumer):
            @mt("A")
            async def one(self, msg):
                return {}

            @mt("A")
            async def two(self, msg):
                return {}


@pytest.mark.parametrize("reserved", sorted(RESERVED_MTS))
def test_reserved_message_types_cannot_be_handled(reserved):
    with pytest.raises(TypeError, match="handled by appws"):
        mt(reserved)


def test_reserved_names_are_free_inside_an_api():
    mt("AppLogin", api="Other")


def test_apps_must_not_be_a_string():
    with pytest.raises(TypeError, match="tuple of App names"):

        class Wrong(AppWebsocketConsumer):
            apps = "notes"
