"""Parsing and answering inbound mode requests (<prefix>/sessions/<id>/set)."""

from __future__ import annotations

import json

import pytest

from coachd.mqtt.control import InvalidRequest, parse_set_request, result_payload
from coachd.mqtt.topics import Topics


def test_a_well_formed_request_is_parsed() -> None:
    request = parse_set_request(b'{"mode": "whisper", "supervisor": "sup1", "request_id": "r1"}')
    assert (request.mode, request.supervisor, request.request_id) == ("whisper", "sup1", "r1")


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"mode": "whisper"}', "supervisor"),
        (b'{"mode": 5, "supervisor": "sup1"}', "mode"),
        (b'{"mode": "", "supervisor": "sup1"}', "mode"),
        (b'{"mode": "whisper", "supervisor": "sup1", "x": 1}', "unknown field x"),
        (b'{"mode": "' + b"a" * 200 + b'", "supervisor": "s"}', "mode"),
        (b"{" + b" " * 5000 + b"}", "larger than"),
    ],
)
def test_malformed_requests_are_refused_with_the_reason(payload: bytes, why: str) -> None:
    with pytest.raises(InvalidRequest, match=why):
        parse_set_request(payload)


def test_answers_say_ok_or_why_and_echo_the_request_id() -> None:
    assert json.loads(result_payload("r1", None)) == {"ok": True, "request_id": "r1"}
    assert json.loads(result_payload(None, "not_permitted", "barge")) == {
        "ok": False,
        "error": "not_permitted",
        "detail": "barge",
    }


def test_set_topics_give_back_the_session_id() -> None:
    topics = Topics("coachd")
    assert topics.session_of_set("coachd/sessions/abc123/set") == "abc123"
    assert topics.session_of_set("coachd/sessions/a%2Fb/set") == "a/b"
    assert topics.session_of_set("coachd/sessions/abc/state") is None
    assert topics.session_of_set("other/sessions/abc/set") is None
    assert topics.session_of_set("coachd/sessions/a/b/set") is None
