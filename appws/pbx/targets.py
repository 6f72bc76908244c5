"""Which PBX session a call of ``appws.pbx.request`` goes to, remembered per process.

Reading the :class:`~appws.models.PbxConnection` rows costs a query in the database
thread, and a PBX's session changes only when it connects again. So the choice for an
``(app, api, pbx=)`` is kept for ``PBX_CACHE_SECONDS``, and dropped sooner when it can
be wrong: this process's registry drops an App's choices when one of its PBXs connects
here, and a session's when it disconnects here; a call drops its choice when the
session answered that it ended or lacks the API, or did not answer at all. A choice
made outdated in another process (the PBX connected again there) is caught by the call
itself, which reads the rows again when no answer came soon (``appws.pbx.call``).
Only choices that found a PBX are kept: a PBX that connects is never hidden by one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable, Mapping
from typing import Any

from channels.db import database_sync_to_async
from django.core.signals import setting_changed

from appws.conf import get_settings
from appws.exceptions import ApiNotEnabled
from appws.layer.memory import default_layer_backend, default_layer_is_in_memory
from appws.pbx.connected import ConnectedPbx, connected_pbxs
from appws.pbx.errors import AmbiguousPbx, NoPbxConnected, PbxUnreachable
from appws.protocol import PbxIdentity

__all__ = ["PbxSelector", "choose", "forget", "kept", "lookup", "recheck"]

PbxSelector = PbxIdentity | Mapping[str, str] | str
_Key = tuple[str, str, Hashable]

_lock = threading.Lock()  # sync callers come from many threads
_chosen: dict[_Key, tuple[ConnectedPbx, float]] = {}


def _key(app: str, api: str, pbx: PbxSelector | None) -> _Key | None:
    """The cache key of a call; None when ``pbx`` is a dict that cannot be one."""
    if pbx is None or isinstance(pbx, (str, PbxIdentity)):
        return (app, api, pbx)
    try:
        return (app, api, frozenset(pbx.items()))
    except TypeError:  # a value that is no hashable: matches nothing; not kept
        return None


async def lookup(
    app: str, api: str, pbx: PbxSelector | None, *, fresh: bool = False
) -> ConnectedPbx:
    """The PBX to call ``api`` of: the kept choice, or (none, or ``fresh``) read from
    the rows. Raises what :func:`choose` raises."""
    key = _key(app, api, pbx)
    if key is not None and not fresh:
        held = _chosen.get(key)
        if held is not None and held[1] > time.monotonic():
            return held[0]
    found = await database_sync_to_async(connected_pbxs)(app)
    return _choose_and_keep(key, found, app, api, pbx)


async def recheck(
    app: str, api: str, pbx: PbxSelector | None, target: ConnectedPbx
) -> ConnectedPbx | None:
    """After ``target`` left a call unanswered: None while its session is still among the
    rows (the PBX is slow, or the process died and is not judged so yet), else what the
    rows choose now (dropping ``target``). Raises what :func:`choose` raises."""
    found = await database_sync_to_async(connected_pbxs)(app)
    if any(row.channel_name == target.channel_name for row in found):
        return None
    forget(channel=target.channel_name)
    return _choose_and_keep(_key(app, api, pbx), found, app, api, pbx)


def _choose_and_keep(
    key: _Key | None, found: list[ConnectedPbx], app: str, api: str, pbx: PbxSelector | None
) -> ConnectedPbx:
    try:
        target = choose(found, app, api, pbx)
    except Exception:
        if key is not None:
            with _lock:
                _chosen.pop(key, None)  # what was kept is no longer what the rows say
        raise
    # How long a second PBX connecting elsewhere (the call becomes ambiguous) or a
    # changed list of APIs may go unseen by this process.
    seconds = get_settings().pbx_cache_seconds
    if key is not None and seconds > 0:
        with _lock:
            _chosen[key] = (target, time.monotonic() + seconds)
    return target


def kept(app: str, api: str, pbx: PbxSelector | None = None) -> ConnectedPbx | None:
    """The choice kept for the call, if any and not expired."""
    key = _key(app, api, pbx)
    held = _chosen.get(key) if key is not None else None
    return held[0] if held is not None and held[1] > time.monotonic() else None


def choose(
    found: list[ConnectedPbx], app: str, api: str, pbx: PbxSelector | None = None
) -> ConnectedPbx:
    """The one of ``found`` (connected PBXs of App ``app``) to call ``api`` of."""
    if pbx is not None:
        found = [row for row in found if row.identity.matches(pbx)]
    enabled = [row for row in found if api in row.apis]
    if not enabled:
        without = [row.identity for row in found]
        if pbx is not None and len(without) == 1:
            raise ApiNotEnabled(
                f"PBX {without[0]} is connected to App {app!r} without the API {api!r}: tick "
                "it among the App object's APIs on the PBX."
            )
        raise NoPbxConnected(app, api, without_api=without, narrowed=pbx is not None)
    if len(enabled) > 1:
        raise AmbiguousPbx(app, api, [row.identity for row in enabled])
    target = enabled[0]
    if default_layer_is_in_memory() and not target.in_this_process:
        raise PbxUnreachable(
            f"PBX {target.identity} is connected to another process ({target.process}), and "
            f"the channel layer is {default_layer_backend()}, which cannot reach it: an "
            "in-memory layer lives inside one process. Call from the process serving the "
            "PBX, or configure channels_redis.core.RedisChannelLayer (docs/scaling.md)."
        )
    return target


def forget(app: str | None = None, *, channel: str | None = None) -> None:
    """Drop the kept choices of App ``app`` (all when None), or those of ``channel``."""
    with _lock:
        for key, (target, _expires) in list(_chosen.items()):
            if (app is None or key[0] == app) and channel in (None, target.channel_name):
                del _chosen[key]


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    # Another layer (tests' override_settings) has other channels.
    if setting in ("APPWS", "CHANNEL_LAYERS", "DATABASES"):
        forget()


setting_changed.connect(_settings_changed, dispatch_uid="appws.pbx.targets")
