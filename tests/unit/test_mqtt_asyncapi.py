"""docs/asyncapi.yaml: its structure, and every payload the Tracker makes validates."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from coachd.authorize import REFUSAL_REASONS
from coachd.core.commands import Publish
from coachd.mqtt.control import result_payload
from coachd.mqtt.topics import OFFLINE, ONLINE, STOPPED, Message, Tracker
from tests.mqtt.asyncapi import Contract
from tests.mqtt.samples import event_data as base

PREFIX = "site/coachd"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
RETAINED = {
    "available": True,
    "events": False,
    "sessionState": True,
    "agentState": True,
    "alerts": True,
    "alertRaised": False,
    "clusterAgent": True,
    "clusterNode": True,
    "clusterRequests": False,
    "clusterReplies": False,
    "clusterEvents": False,
}


@pytest.fixture(scope="module")
def contract() -> Contract:
    return Contract()


def every_kind_of_message() -> list[Message]:
    tracker = Tracker(PREFIX, "pbx1")
    clock = (T0 + timedelta(milliseconds=137 * i) for i in itertools.count())
    script = [
        Publish("session_started", 1, base("s1")),
        Publish("session_started", 1, base("s2", sup="bob", mode="barge")),
        Publish(
            "mode_changed",
            2,
            {
                **base("s1", mode="whisper"),
                "before": "monitor",
                "after": "whisper",
                "source": "dtmf",
            },
        ),
        Publish(
            "mode_refused",
            3,
            {
                **base("s1", mode="whisper"),
                "requested": "barge",
                "reason": "another_supervisor_talking",
                "source": "dtmf",
            },
        ),
        Publish(
            "time_limit_warning",
            4,
            {**base("s1", mode="whisper"), "after_seconds": 900.0, "limit_seconds": None},
        ),
        Publish(
            "cue_played", 5, {**base("s1", mode="whisper"), "cue": "slow-down", "source": "dtmf"}
        ),
        Publish(
            "cue_refused",
            6,
            {
                **base("s1", mode="whisper"),
                "cue": "slow-down",
                "reason": "not_permitted",
                "source": "api",
            },
        ),
        Publish("session_ended", 7, {**base("s1", mode="whisper"), "reason": "time_limit"}),
        Publish(
            "session_ended",
            2,
            {**base("s2", sup="bob", mode="barge"), "reason": "error", "detail": "Mute: 500 boom"},
        ),
        Publish(
            "session_refused",
            1,
            {
                **base("s3", sup=None, mode=None),
                "reason": "unknown_agent",
                "detail": "not an agent id",
            },
        ),
        Publish(
            "session_refused",
            1,
            {**base("s4", agent="", sup=None, mode=None), "reason": "bad_request"},
        ),
        Publish("session_started", 1, base("s/5+#", agent="agent/+#")),
        Publish(
            "session_refused", 1, {**base("s6", mode="whisper"), "reason": "supervisor_hangup"}
        ),
    ]
    messages = [m for event in script for m in tracker.handle(event, next(clock))]
    messages += tracker.snapshot()
    messages += [tracker.topics.availability(s) for s in (ONLINE, OFFLINE, STOPPED)]
    return messages


def test_document_structure(contract: Contract) -> None:
    doc = contract.doc
    assert doc["asyncapi"] == "3.0.0"
    assert doc["defaultContentType"] == "application/json"
    channels = doc["channels"]
    assert set(channels) == {
        "available",
        "events",
        "sessionState",
        "agentState",
        "sync",
        "sessionSet",
        "sessionSetResult",
        "alerts",
        "alertRaised",
        "clusterAgent",
        "clusterNode",
        "clusterRequests",
        "clusterReplies",
        "clusterEvents",
    }
    for name, operation in doc["operations"].items():
        # coachd receives only mode requests and the cluster's messages, which
        # each node also sends.
        expected = "receive" if name.startswith("receive") else "send"
        assert operation["action"] == expected, name
        channel_ref = operation["channel"]["$ref"]
        channel = channel_ref.removeprefix("#/channels/")
        assert channel in channels, name
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel_ref + "/messages/"), name
            contract.resolve(message)
        binding = operation["bindings"]["mqtt"]
        assert binding["qos"] == 1, name
        assert binding.get("retain", False) is RETAINED.get(channel, False), name
    will = doc["servers"]["broker"]["bindings"]["mqtt"]["lastWill"]
    assert (will["message"], will["qos"], will["retain"]) == ("offline", 1, True)


def test_every_tracker_message_validates(contract: Contract) -> None:
    seen: set[tuple[str, str]] = set()
    for message in every_kind_of_message():
        channel, kind = contract.check(PREFIX, message.topic, message.payload)
        assert message.retain is RETAINED[channel], message
        seen.add((channel, kind))
    assert seen == {
        ("available", "availability"),
        ("events", "event"),
        ("sessionState", "sessionState"),
        ("sessionState", "cleared"),
        ("agentState", "agentState"),
        ("agentState", "cleared"),
    }


def test_every_event_type_has_a_schema(contract: Contract) -> None:
    types = {
        json.loads(m.payload)["type"]
        for m in every_kind_of_message()
        if m.topic == PREFIX + "/events"
    }
    assert types == {
        "session_started",
        "mode_changed",
        "mode_refused",
        "time_limit_warning",
        "cue_played",
        "cue_refused",
        "session_ended",
        "session_refused",
    }


def event(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "event_id": "0" * 32,
        "type": "session_started",
        "session_id": "s1",
        "seq": 1,
        "at": "2024-05-01T12:00:00.000Z",
        "instance": "pbx1",
        **base("s1"),
    }
    payload.update(changes)
    return payload


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("events", event(event_id="not-hex")),
        ("events", event(at="2024-05-01 12:00:00")),
        ("events", event(at="2024-05-01T12:00:00Z")),
        ("events", event(seq=0)),
        ("events", event(mode="shouting")),
        ("events", event(type="mode_changed")),  # no before/after/source
        ("events", {k: v for k, v in event().items() if k != "instance"}),
        ("available", b"maybe"),
        ("sessions/s1/state", {"session_id": "s1", "state": "active"}),
        (
            "sessions/s1/state",
            {
                "session_id": "s1",
                "agent": "1001",
                "supervisor": "alice",
                "endpoint": "PJSIP/2001",
                "mode": "monitor",
                "state": "ended",
                "started_at": None,
                "mode_since": None,
                "seq": 2,
            },
        ),
        ("agents/1001/state", {"agent": "1001", "coached": True, "sessions": []}),
        ("agents/1001/state", {"agent": "1001", "coached": False, "sessions": [{}]}),
    ],
)
def test_the_schemas_reject_wrong_payloads(contract: Contract, topic: str, payload: Any) -> None:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    with pytest.raises(AssertionError, match="matches no message"):
        contract.check(PREFIX, f"{PREFIX}/{topic}", raw)


def test_undeclared_fields_are_caught(contract: Contract) -> None:
    with pytest.raises(AssertionError, match=r"not in docs/asyncapi\.yaml"):
        contract.check(PREFIX, f"{PREFIX}/events", json.dumps(event(surprise=1)).encode())


def test_topics_outside_the_document_are_caught(contract: Contract) -> None:
    with pytest.raises(AssertionError, match="matches channels"):
        contract.check(PREFIX, f"{PREFIX}/agents/a/b/state", b"")


def test_mode_requests_and_answers_validate(contract: Contract) -> None:
    schemas = contract.doc["components"]["schemas"]
    request = {"mode": "whisper", "supervisor": "sup1", "request_id": "r1"}
    jsonschema.validate(request, schemas["SetRequest"])
    for answer in (result_payload("r1", None), result_payload(None, "not_permitted", "x")):
        jsonschema.validate(json.loads(answer), schemas["SetResult"])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"mode": "shout", "supervisor": "s"}, schemas["SetRequest"])


def test_every_refusal_reason_of_the_authorizers_is_documented(contract: Contract) -> None:
    schemas = contract.doc["components"]["schemas"]
    refused = schemas["SessionRefused"]["allOf"][1]["properties"]["reason"]["examples"]
    events_md = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text()
    refused_row = next(line for line in events_md.splitlines() if "| `session_refused`" in line)
    for reason in REFUSAL_REASONS:
        assert reason in refused, reason
        assert "`" + reason + "`" in refused_row, reason
