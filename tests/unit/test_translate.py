"""ARI event JSON to session events."""

from __future__ import annotations

from typing import Any

import pytest

from coachd.ari.translate import Routed, endpoint_of, translate
from coachd.core import events as e


def channel_event(kind: str, cid: str = "coachd-abc-ear", **extra: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "application": "coachd",
        "channel": {"id": cid, "name": "Snoop/agent-00000001", "state": "Up"},
        **extra,
    }


def test_stasis_start_is_a_channel_started() -> None:
    assert translate(channel_event("StasisStart", args=["whisper", "1042"])) == Routed(
        "coachd-abc-ear", e.ChannelStarted("coachd-abc-ear")
    )


@pytest.mark.parametrize("kind", ["StasisEnd", "ChannelDestroyed"])
def test_stasis_end_and_channel_destroyed_are_channel_gone(kind: str) -> None:
    assert translate(channel_event(kind, "1718000000.42")) == Routed(
        "1718000000.42", e.ChannelGone("1718000000.42")
    )


def test_dtmf_carries_the_digit_and_the_channel() -> None:
    event = channel_event("ChannelDtmfReceived", "1718000000.42", digit="#", duration_ms=120)
    assert translate(event) == Routed("1718000000.42", e.DtmfReceived("1718000000.42", "#"))


def test_playback_finished_is_routed_by_the_playback_id() -> None:
    event = {
        "type": "PlaybackFinished",
        "playback": {"id": "coachd-abc-play-2", "target_uri": "channel:1718000000.42"},
    }
    assert translate(event) == Routed("coachd-abc-play-2", e.PlaybackFinished("coachd-abc-play-2"))


def test_playback_finished_without_an_id_is_dropped() -> None:
    assert translate({"type": "PlaybackFinished", "playback": {}}) is None
    assert translate({"type": "PlaybackFinished"}) is None


@pytest.mark.parametrize("kind", ["StasisStart", "StasisEnd", "ChannelDtmfReceived"])
def test_channel_events_without_a_channel_id_are_dropped(kind: str) -> None:
    assert translate({"type": kind, "channel": {}}) is None
    assert translate({"type": kind}) is None


@pytest.mark.parametrize(
    "event",
    [
        channel_event("ChannelStateChange"),
        channel_event("ChannelVarset", variable="VOLUME(TX)", value="2"),
        channel_event("ChannelEnteredBridge", bridge={"id": "coachd-abc-bridge-ear"}),
        {"type": "PlaybackStarted", "playback": {"id": "coachd-abc-play-2"}},
        {"type": "ApplicationReplaced"},
        {},
    ],
    ids=lambda ev: ev.get("type", "no-type"),
)
def test_events_a_session_does_not_care_about_are_dropped(event: dict[str, Any]) -> None:
    assert translate(event) is None


@pytest.mark.parametrize(
    ("name", "endpoint"),
    [
        ("PJSIP/2001-0000002a", "PJSIP/2001"),
        ("SIP/agent-7-00000001", "SIP/agent-7"),
        ("PJSIP/trunk-provider-0000abcd", "PJSIP/trunk-provider"),
        ("IAX2/2001-1234", "IAX2/2001"),
        ("PJSIP/2001", "PJSIP/2001"),
        ("", ""),
    ],
)
def test_endpoint_of_strips_the_channel_suffix(name: str, endpoint: str) -> None:
    assert endpoint_of(name) == endpoint
