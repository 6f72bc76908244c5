"""PBX users and the site's Django users: the optional mapping (docs/pbx.md).

With ``PBX_USERS_MAP`` on, the store calls :func:`link` in the transaction that wrote
the users, and :func:`release` in the one that deleted them. A PBX user is linked to
the Django user whose username is its h323 name, else to the one Django user with one
of its emails. It never links to a Django user the mapping did not create (unless
``PBX_USERS_MAP_EXISTING``) nor to staff or superusers (unless ``PBX_USERS_MAP_STAFF``
too), never deletes a Django user, and deactivates only users it created.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.functions import Lower

from appws.conf import get_settings
from appws.models import PbxCreatedUser, PbxUser, PbxUserEmail

__all__ = ["link", "release", "sip_of_user"]


def sip_of_user(user: Any) -> list[str]:
    """The h323 names of the PBX users linked to Django user ``user`` (any PBX)."""
    if user is None or getattr(user, "pk", None) is None:
        return []
    names = PbxUser.objects.filter(user_id=user.pk).exclude(h323="").values_list("h323", flat=True)
    return sorted(set(names))


def link(users: Sequence[PbxUser]) -> None:
    """Link (or unlink) each of ``users`` to its Django user as the settings say."""
    options = get_settings()
    if not options.pbx_users_map or not users:
        return
    model: Any = get_user_model()
    name_field = model.USERNAME_FIELD
    email_field = model.get_email_field_name()
    names = {user.h323 for user in users if user.h323}
    by_name = {
        str(getattr(found, name_field)): found
        for found in model._default_manager.filter(**{f"{name_field}__in": names})
    }
    emails = _emails([user.pk for user in users])
    wanted = {email for found in emails.values() for email in found}
    by_email: dict[str, list[Any]] = {}
    matching = model._default_manager.annotate(appws_email=Lower(email_field))
    for candidate in matching.filter(appws_email__in=wanted):
        by_email.setdefault(candidate.appws_email, []).append(candidate)
    created = set(
        PbxCreatedUser.objects.filter(
            user_id__in=[u.pk for u in by_name.values()]
            + [u.pk for found in by_email.values() for u in found]
        ).values_list("user_id", flat=True)
    )
    changed = []
    linked_created: list[int] = []
    for user in users:
        target = by_name.get(user.h323) if user.h323 else None
        if target is None:
            own = emails.get(user.pk, [])
            matches = {u.pk: u for email in own for u in by_email.get(email, ())}
            target = next(iter(matches.values())) if len(matches) == 1 else None
        if target is not None and not _may_link(target, target.pk in created):
            target = None
        elif target is None and user.h323 and user.h323 not in by_name:
            target = _create(model, user, emails.get(user.pk, []))
            if target is not None:
                by_name[user.h323] = target
                created.add(target.pk)
        if target is not None and target.pk in created:
            linked_created.append(target.pk)
        if user.user_id != (target.pk if target is not None else None):
            user.user = target
            changed.append(user)
    PbxUser.objects.bulk_update(changed, ["user"])
    _reactivate(model, linked_created)


def release(user_ids: Iterable[int | None]) -> None:
    """PBX users linked to these Django users went: deactivate those the mapping created
    and no PBX user links any more. Never deletes a Django user."""
    user_ids = list(user_ids)
    if not get_settings().pbx_users_map or not user_ids:
        return
    still = PbxUser.objects.filter(user_id__in=user_ids).values("user_id")
    records = PbxCreatedUser.objects.filter(user_id__in=user_ids).exclude(user_id__in=still)
    model: Any = get_user_model()
    active = model._default_manager.filter(
        pk__in=records.values("user_id"), is_active=True
    ).values_list("pk", flat=True)
    ids = list(active)
    # Remember which it deactivated, to reactivate them only when a PBX user comes back.
    PbxCreatedUser.objects.filter(user_id__in=ids).update(deactivated=True)
    model._default_manager.filter(pk__in=ids).update(is_active=False)


def _emails(ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    rows = PbxUserEmail.objects.filter(user_id__in=ids).order_by("pk")
    for user_id, email in rows.values_list("user_id", "email"):
        found.setdefault(user_id, []).append(email)
    return found


def _may_link(target: Any, created: bool) -> bool:
    options = get_settings()
    if not (created or options.pbx_users_map_existing):
        return False
    privileged = bool(getattr(target, "is_staff", False) or getattr(target, "is_superuser", False))
    return not privileged or options.pbx_users_map_staff


def _create(model: Any, user: PbxUser, emails: list[str]) -> Any:
    options = get_settings()
    name_field = model._meta.get_field(model.USERNAME_FIELD)
    longest = getattr(name_field, "max_length", None)
    if not options.pbx_users_map_create or (longest is not None and len(user.h323) > longest):
        return None  # a longer name would fail the whole batch on PostgreSQL
    fields: dict[str, Any] = {model.USERNAME_FIELD: user.h323}
    if emails:
        fields[model.get_email_field_name()] = emails[0]
    new = model(**fields)
    new.set_unusable_password()
    new.is_active = options.pbx_users_map_active
    new.save()
    PbxCreatedUser.objects.create(user=new)
    return new


def _reactivate(model: Any, ids: list[int]) -> None:
    """Users the mapping deactivated whose PBX user came back: active again."""
    records = PbxCreatedUser.objects.filter(user_id__in=ids, deactivated=True)
    again = list(records.values_list("user_id", flat=True))
    if again:
        records.update(deactivated=False)
        model._default_manager.filter(pk__in=again).update(is_active=True)
