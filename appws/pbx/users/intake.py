"""Rows as the PBX sends them, checked one by one: a bad row is logged once and skipped.

The log line names the PBX, the row's ``guid`` when it has a readable one, and the
reason (:class:`~appws.pbx.users.rows.BadRow`), never the row's content: a row holds
the user's ``pwd``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from appws.pbx.users.rows import BadRow, UserRow, clean_row, guid_of

__all__ = ["RowIntake"]

logger = logging.getLogger("appws.pbx.users")

#: A guid shown in a log line: a short token (a real one is 32 hex digits); others are not shown.
_PRINTABLE_GUID = re.compile(r"[0-9A-Za-z-]{1,64}")


class RowIntake:
    """Cleans the rows of one PBX's replication, counting and logging the bad ones."""

    def __init__(self, pbx: str, max_row_bytes: int) -> None:
        self._pbx = pbx
        self._max_row_bytes = max_row_bytes
        #: Rows skipped since the last :meth:`take_skipped`.
        self.skipped = 0

    def row(self, columns: Any) -> UserRow | None:
        """``columns`` as a :class:`UserRow`; None (logged, counted) when it is bad."""
        if not isinstance(columns, Mapping):
            self._skip(None, "the row is not a JSON object")
            return None
        try:
            return clean_row(columns, max_bytes=self._max_row_bytes)
        except BadRow as bad:
            self._skip(columns, bad.reason)
            return None

    def guid(self, columns: Any) -> str | None:
        """The ``guid`` of a ReplicateDel; None (logged, counted) when it has none."""
        if not isinstance(columns, Mapping):
            self._skip(None, "the row is not a JSON object")
            return None
        try:
            return guid_of(columns)
        except BadRow as bad:
            self._skip(columns, bad.reason)
            return None

    def take_skipped(self) -> int:
        """The rows skipped since the last call, to count in the replication state."""
        count, self.skipped = self.skipped, 0
        return count

    def _skip(self, columns: Mapping[str, Any] | None, reason: str) -> None:
        self.skipped += 1
        guid = columns.get("guid") if columns is not None else None
        if isinstance(guid, str) and _PRINTABLE_GUID.fullmatch(guid):
            logger.warning("PBX %r: skipped the user row with guid %r: %r", self._pbx, guid, reason)
        else:
            logger.warning(
                "PBX %r: skipped a user row without a usable guid: %r", self._pbx, reason
            )
