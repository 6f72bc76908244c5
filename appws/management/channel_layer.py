"""Commands that talk to the running server through the channel layer refuse what cannot."""

from __future__ import annotations

from django.core.management.base import CommandError, OutputWrapper

from appws.layer.memory import default_layer_backend, default_layer_is_in_memory

SCALING_DOC = "docs/scaling.md"


def require_shared_layer(what: str, instead: str) -> None:
    """Raise CommandError unless the default channel layer reaches other processes.

    ``what`` names the command; ``instead`` says what works with one server process.

    A management command is a process of its own: through an in-memory layer its
    messages stay inside it, and it would report success with nothing delivered.
    """
    backend = default_layer_backend()
    if backend is None:
        raise CommandError(
            f'{what} goes through the channel layer, and CHANNEL_LAYERS has no "default" '
            f"layer. Configure channels_redis.core.RedisChannelLayer, shared with the "
            f"server processes (see {SCALING_DOC})."
        )
    if default_layer_is_in_memory():
        raise CommandError(
            f"{what} cannot reach the running server: the default channel layer is "
            f"{backend}, which lives inside one process, and this command runs in a process "
            "of its own, so nothing it sends would arrive. Configure "
            "channels_redis.core.RedisChannelLayer against the Redis the server processes "
            f"share (see {SCALING_DOC}); with one server process, {instead}."
        )


def warn_if_server_not_told(stderr: OutputWrapper, what: str) -> None:
    """Warn that a change stored by a command cannot reach the running server's sessions.

    The database change itself takes effect, so such a command runs; it only says what
    the server's live sessions will not learn.
    """
    if not default_layer_is_in_memory():
        return
    stderr.write(
        f"{what} is stored, but the running server is not told: the default channel layer "
        f"is {default_layer_backend()}, which lives inside one process. Its live sessions "
        "keep the App as it was (a disabled App's sessions stay open) until they log in "
        "again, and new logins may see the old App for up to APP_CACHE_SECONDS. Make the "
        f"change in the admin, or configure channels_redis (see {SCALING_DOC})."
    )
