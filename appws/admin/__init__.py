"""Admin screens: Apps and their secrets, live sessions, PBX connections, server processes,
the catalogue, the replicated PBX users.

Django's admin autodiscovery imports this package; importing the modules
registers their screens.
"""

from appws.admin.app import AppAdmin, AppAdminForm
from appws.admin.live import LiveSessionAdmin, ReadOnlyAdmin, ServerProcessAdmin
from appws.admin.pbx import PbxConnectionAdmin
from appws.admin.pbx_users import PbxReplicaAdmin, PbxUserAdmin

__all__ = [
    "AppAdmin",
    "AppAdminForm",
    "LiveSessionAdmin",
    "PbxConnectionAdmin",
    "PbxReplicaAdmin",
    "PbxUserAdmin",
    "ReadOnlyAdmin",
    "ServerProcessAdmin",
]
