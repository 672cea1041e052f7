"""ARI event JSON to session events (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from coachd.core import events as e


@dataclass(frozen=True, slots=True)
class Routed:
    """A session event and the Asterisk object id that tells which session it is for."""

    object_id: str
    event: e.SessionEvent


def translate(event: Mapping[str, Any]) -> Routed | None:
    kind = event.get("type")
    channel = event.get("channel") or {}
    cid = str(channel.get("id", ""))
    if kind == "StasisStart" and cid:
        return Routed(cid, e.ChannelStarted(cid))
    if kind in ("StasisEnd", "ChannelDestroyed") and cid:
        return Routed(cid, e.ChannelGone(cid))
    if kind == "ChannelDtmfReceived" and cid:
        return Routed(cid, e.DtmfReceived(cid, str(event.get("digit", ""))))
    if kind == "PlaybackFinished":
        playback = event.get("playback") or {}
        pid = str(playback.get("id", ""))
        return Routed(pid, e.PlaybackFinished(pid)) if pid else None
    return None


def endpoint_of(channel_name: str) -> str:
    """``PJSIP/2001-0000002a`` -> ``PJSIP/2001``."""
    base, sep, _ = channel_name.rpartition("-")
    return base if sep else channel_name
