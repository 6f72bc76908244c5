"""The shape of an answer: its ``mt``, and the ``src`` and ``api`` of the request echoed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from appws.server.outgoing import FrameTooLarge

#: Request fields every answer carries back, so the client can pair them.
ECHOED = ("api", "src")


def answer(
    request: Mapping[str, Any], payload: Mapping[str, Any], mt: str | None = None
) -> dict[str, Any]:
    """The message answering ``request`` with ``payload``.

    Its ``mt`` is ``mt``, else ``payload["mt"]``, else the request's ``mt`` + ``"Result"``.
    """
    message: dict[str, Any] = {"mt": mt or f"{request['mt']}Result", **payload}
    if mt:
        message["mt"] = mt
    for key in ECHOED:
        if key in request:
            message[key] = request[key]
    return message


def too_large(request: Mapping[str, Any], mt: str, error: FrameTooLarge) -> dict[str, Any]:
    """The answer sent instead of one over ``MAX_OUTGOING_BYTES``."""
    return answer(request, {"mt": mt, "error": error.code, "errorText": error.text})
