"""``pbx_user_changed``: replicated PBX users were added, updated or deleted.

Sent once per write of the store (a batch of the initial copy, a live change, a
sweep), after the transaction commits, with only the users it changed::

    from django.dispatch import receiver
    from appws.pbx.users.signals import pbx_user_changed

    @receiver(pbx_user_changed)
    def users_changed(sender, replica, added, updated, deleted, **kwargs):
        ...

``sender`` is :class:`appws.models.PbxReplica`; ``replica`` the PBX's row;
``added`` and ``updated`` lists of :class:`appws.models.PbxUser`; ``deleted`` a
list of the deleted users' guids. A row the copy found unchanged is in none of them.
"""

from __future__ import annotations

from django.dispatch import Signal

__all__ = ["pbx_user_changed"]

pbx_user_changed = Signal()
