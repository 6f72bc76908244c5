"""Badge counts on App icons over the PBX's ``PbxSignal`` (docs/pbx.md, "Badge counts").

:mod:`~appws.pbx.badges.calls` holds a PBX session's badge calls,
:mod:`~appws.pbx.badges.frames` reads and writes their ``Signaling`` messages,
:mod:`~appws.pbx.badges.feature` answers them on every PBX session, and
:mod:`~appws.pbx.badges.api` (public as :mod:`appws.badges`) sets counts from anywhere.
"""
