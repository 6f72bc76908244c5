"""A channel layer for tests that call a management command in the server's own process."""

from __future__ import annotations

from appws.layer.memory import InMemoryChannelLayer

SAME_PROCESS_LAYER = "tests.layers.SameProcessLayer"


class SameProcessLayer(InMemoryChannelLayer):
    """appws's in-memory layer under a backend name the commands accept.

    ``appws_notify`` and ``appws_sessions --disconnect`` refuse an in-memory layer,
    because a command is a process of its own. These tests call the commands with
    ``call_command`` in the very process that holds the sessions, where it does reach
    them; across real processes the same commands are tested against Redis
    (``tests/e2e/test_redis_scale.py``).
    """
