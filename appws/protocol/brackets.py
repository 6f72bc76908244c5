"""What the brackets of a JSON text tell before it is parsed: nesting depth and how many
objects and arrays it holds.

Both are read from the text in a few passes at C speed, so a frame over a limit is refused
without being turned into objects, and no walk over a parsed frame is needed.
"""

from __future__ import annotations

from itertools import accumulate

from appws.protocol.jsjson import JSON_STRING

__all__ = ["Brackets"]

# Opening brackets become +1, closing ones -1 (as signed bytes); everything else goes.
_STEPS = bytes.maketrans(b"{[}]", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"{[}]")


class Brackets:
    """The brackets of one JSON text outside its strings, found once and only if needed."""

    def __init__(self, text: str) -> None:
        self._text = text
        # An upper bound of both the depth and the count: most frames stop at it.
        self._openers = text.count("{") + text.count("[")
        self._steps: bytes | None = None

    def _found(self) -> bytes:
        if self._steps is None:
            # Brackets in strings are text, not structure. Outside strings JSON is
            # ASCII: any other character is no bracket either, so it can go.
            rest = JSON_STRING.sub("", self._text).encode("ascii", "ignore")
            self._steps = rest.translate(_STEPS, _NOT_BRACKETS)
        return self._steps

    def deeper_than(self, limit: int) -> bool:
        """Whether objects and arrays nest deeper than ``limit`` (the outermost is 1)."""
        if self._openers <= limit:
            return False
        # The running sum is the nesting at each bracket, as the parser would reach it.
        return max(accumulate(memoryview(self._found()).cast("b")), default=0) > limit

    def more_than(self, limit: int) -> bool:
        """Whether the text holds more than ``limit`` objects and arrays."""
        if self._openers <= limit:
            return False
        return self._found().count(1) > limit
