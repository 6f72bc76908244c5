"""Finding replicated PBX users: by PBX, email and group, the same on every database."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from appws.models import PbxReplica, PbxUser

__all__ = ["find_replicas", "find_users"]


def find_replicas(name: str | None = None) -> QuerySet[PbxReplica]:
    """The replicas of PBX ``name`` (its name, or ``pbx.domain`` as listed); all for None."""
    replicas = PbxReplica.objects.all()
    if name is None:
        return replicas
    pbx, _, domain = name.partition(".")
    by_dotted = Q(pbx=pbx, domain=domain) if domain else Q(pk__in=[])
    return replicas.filter(Q(pbx=name) | by_dotted)


def find_users(
    *, pbx: str | None = None, email: str | None = None, group: str | None = None
) -> QuerySet[PbxUser]:
    """Replicated users, of PBX ``pbx``, with email ``email`` (any case), in group ``group``."""
    users = PbxUser.objects.select_related("replica")
    if pbx is not None:
        users = users.filter(replica__in=find_replicas(pbx))
    if email is not None:
        # Stored lower case: an exact, indexed lookup rather than a case-folding one.
        users = users.filter(emails__email=email.strip().lower())
    if group is not None:
        users = users.filter(groups__name=group)
    return users.distinct()
