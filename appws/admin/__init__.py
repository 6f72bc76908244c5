"""Admin screens: Apps and their secrets, live sessions, server processes, the catalogue.

Django's admin autodiscovery imports this package; importing the two modules
registers their screens.
"""

from appws.admin.app import AppAdmin, AppAdminForm
from appws.admin.live import LiveSessionAdmin, ReadOnlyAdmin, ServerProcessAdmin

__all__ = ["AppAdmin", "AppAdminForm", "LiveSessionAdmin", "ReadOnlyAdmin", "ServerProcessAdmin"]
