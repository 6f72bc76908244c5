"""The other App Services a PBX offers its App object (PROTOCOL ``Services``, docs/pbx.md).

:mod:`~appws.pbx.appservices.feature` keeps each PBX session's list current in its
:class:`~appws.models.PbxConnection` row; :mod:`~appws.pbx.appservices.lookup` reads
it back (``appws.pbx.services``); :mod:`~appws.pbx.appservices.connect` logs in to one
of them through the PBX (``appws.pbx.connect_service``).
"""
