"""Helpers for testing App Services in your own project's tests."""

from __future__ import annotations

from appws.testing.communicator import AppwsCommunicator

__all__ = ["AppwsCommunicator"]
