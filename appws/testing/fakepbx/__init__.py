"""A PBX for tests: ``FakePbx`` connects to an App Service as a PBX's App object does.

It logs in with the real digest, sends ``PbxInfo`` and serves ``PbxTableUsers``,
``PbxSignal``, ``Services``, ``PbxApi`` and ``PbxAdminApi`` from memory, recording
every frame and injecting faults on request (docs/testing.md). No Django here.
"""

from appws.testing.fakepbx.faults import (
    NO_MT,
    NOT_AN_OBJECT,
    NOT_JSON,
    oversized_row,
    row_of_wrong_types,
    row_without_guid,
)
from appws.testing.fakepbx.frames import Frame
from appws.testing.fakepbx.identity import ALL_APIS, Identity
from appws.testing.fakepbx.pbx import FakePbx, LoginRefused
from appws.testing.fakepbx.signal import PresenceCall
from appws.testing.fakepbx.users import new_user

__all__ = [
    "ALL_APIS",
    "NOT_AN_OBJECT",
    "NOT_JSON",
    "NO_MT",
    "FakePbx",
    "Frame",
    "Identity",
    "LoginRefused",
    "PresenceCall",
    "new_user",
    "oversized_row",
    "row_of_wrong_types",
    "row_without_guid",
]
