"""Set badge counts from anywhere in the site: ``appws.badges`` (docs/pbx.md, "Badge counts").

A count goes, over the channel layer, to every session of the App's PBXs with
``PbxSignal``, whichever process holds it: one event per PBX connection carries all
the counts of the call. The session sends each count on its calls of that user,
unless that call was sent the same count last.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer

from appws.exceptions import LayerUnavailable
from appws.layer import events
from appws.layer.memory import default_layer_backend, default_layer_is_in_memory
from appws.layer.outage import is_layer_outage
from appws.pbx.badges.feature import FEATURE
from appws.pbx.badges.frames import API
from appws.pbx.connected import ConnectedPbx, connected_pbxs
from appws.pbx.errors import PbxBusy, PbxUnreachable

__all__ = ["aset", "aset_many", "set", "set_many"]

#: A PBX user: the PBX user's sip (h323) as a string, or a Django user the mapping links.
User = Any


async def aset(app: str, user: User, count: int) -> int:
    """Show ``count`` on App ``app``'s icon for ``user``; the PBX sessions it went to.

    ``user`` is the PBX user's sip (h323), or a Django user: then every PBX user the
    mapping links to it (``appws.pbx.users.mapping.sip_of_user``). No PBX connected:
    nothing is sent and 0 is returned. Raises ``TypeError``/``ValueError`` for a bad
    argument, :class:`~appws.pbx.PbxBusy` when a PBX session's channel is full,
    :class:`~appws.pbx.PbxUnreachable` and :class:`appws.LayerUnavailable`.
    """
    return await aset_many(app, {user: count})


async def aset_many(app: str, counts: Mapping[User, int]) -> int:
    """:func:`aset` for many users at once: one channel-layer event per PBX connection.

    ``counts`` maps users (sips or Django users) to counts. The PBX sessions not full
    get their event even when another one is (that one is named in ``PbxBusy``).
    """
    _check_app(app)
    checked = _check_counts(counts)
    by_sip = await _by_sip(checked)
    if not by_sip:
        return 0
    targets = [row for row in await database_sync_to_async(connected_pbxs)(app) if API in row.apis]
    if not targets:
        return 0  # nobody can see a badge now; the first count comes from get_badge
    layer = get_channel_layer()
    if layer is None:
        raise PbxUnreachable(
            'CHANNEL_LAYERS has no "default" layer: appws.badges reaches PBX sessions through it.'
        )
    _check_reachable(targets)
    event = events.feature_event(FEATURE, app=app, counts=by_sip)
    busy: list[str] = []
    for target in targets:
        try:
            await layer.send(target.channel_name, event)
        except ChannelFull:
            busy.append(str(target.identity))
        except Exception as error:
            if is_layer_outage(error):
                raise LayerUnavailable(
                    "The channel layer is unreachable: badge counts were not sent to PBX "
                    f"{target.identity}."
                ) from error
            raise
    if busy:
        raise PbxBusy(
            f"The session of PBX {', '.join(busy)} has too many messages waiting: the badge "
            "counts did not reach it; set them again later."
        )
    return len(targets)


def set(app: str, user: User, count: int) -> int:
    """:func:`aset` for synchronous code (views, tasks, management commands)."""
    sent: int = async_to_sync(aset)(app, user, count)
    return sent


def set_many(app: str, counts: Mapping[User, int]) -> int:
    """:func:`aset_many` for synchronous code."""
    sent: int = async_to_sync(aset_many)(app, counts)
    return sent


# -- checking the arguments --------------------------------------------------------


def _check_app(app: object) -> None:
    if not isinstance(app, str) or not app:
        raise TypeError(f"app must be an App's name (a non-empty str), not {app!r}")


def _check_counts(counts: object) -> list[tuple[Any, int]]:
    if not isinstance(counts, Mapping):
        raise TypeError(f"counts must be a dict of user -> count, not {type(counts).__name__}")
    checked = []
    for user, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, int):
            raise TypeError(f"a badge count is an int >= 0, not {count!r} (for {user!r})")
        if count < 0:
            raise ValueError(f"a badge count is an int >= 0, not {count!r} (for {user!r})")
        if isinstance(user, str):
            if not user:
                raise ValueError("a user is a PBX user's sip: not the empty string")
        elif not _is_django_user(user):
            raise TypeError(
                f"a user is a PBX user's sip (str) or a Django user, not {type(user).__name__}"
            )
        checked.append((user, count))
    return checked


def _is_django_user(user: object) -> bool:
    from django.contrib.auth.base_user import AbstractBaseUser

    return isinstance(user, AbstractBaseUser) and user.pk is not None


async def _by_sip(checked: list[tuple[Any, int]]) -> dict[str, int]:
    """The counts by PBX user's sip, Django users mapped; a sip given two counts is an error."""
    found: dict[str, int] = {}
    for user, count in checked:
        sips = [user] if isinstance(user, str) else await database_sync_to_async(_sips_of)(user)
        for sip in sips:
            if found.get(sip, count) != count:
                raise ValueError(
                    f"PBX user {sip!r} is given two badge counts ({found[sip]} and {count})"
                )
            found[sip] = count
    return found


def _sips_of(user: Any) -> list[str]:
    # Looked up at each call, so that the site's (or a test's) mapping is the one used.
    from appws.pbx.users import mapping

    return [sip for sip in mapping.sip_of_user(user) if isinstance(sip, str) and sip]


def _check_reachable(targets: list[ConnectedPbx]) -> None:
    if not default_layer_is_in_memory():
        return
    elsewhere = [target for target in targets if not target.in_this_process]
    if elsewhere:
        raise PbxUnreachable(
            f"PBX {elsewhere[0].identity} is connected to another process "
            f"({elsewhere[0].process}), and the channel layer is {default_layer_backend()}, "
            "which cannot reach it: an in-memory layer lives inside one process. Configure "
            "channels_redis.core.RedisChannelLayer (docs/scaling.md)."
        )
