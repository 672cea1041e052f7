"""Sample session-event data shared by the MQTT tests."""

from __future__ import annotations


def event_data(
    sid: str = "s1", agent: str = "1001", sup: str | None = "alice", mode: str | None = "monitor"
) -> dict[str, object]:
    """The fields every session event carries (Publish.data)."""
    return {
        "session_id": sid,
        "agent": agent,
        "supervisor": sup,
        "endpoint": "PJSIP/2001",
        "mode": mode,
    }
