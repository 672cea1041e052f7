"""The alerts' MQTT messages against docs/asyncapi.yaml, and who sees what at GET /v1/alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from coachd.alerts.board import AlertBoard, may_coach
from coachd.alerts.payload import AlertList, empty_payload
from coachd.alerts.rank import AgentCalls, Criteria, rank
from coachd.core.modes import Mode
from coachd.http.openapi import OPENAPI
from coachd.reports.compute import SaleRule
from coachd.vicidial.directory import Grant
from tests.mqtt.asyncapi import Contract

PREFIX = "site/coachd"
T0 = datetime(2026, 3, 16, 19, 0, tzinfo=UTC)
CRITERIA = Criteria(15, 3.0, timedelta(hours=2))


def alert_list(state: dict[str, datetime] | None = None) -> AlertList:
    agents = [
        AgentCalls("agent9", 20, 0, ("B2B",), ("AGENTS",)),
        AgentCalls("agent7", 40, 1, ("B2B", "OTHER"), ("AGENTS", "TEAM2")),
        AgentCalls("agent/+#", 16, 0, (), ()),
        AgentCalls("agent42", 40, 4, ("B2B",), ("AGENTS",)),
    ]
    return AlertList(
        at=T0,
        window_from=T0 - timedelta(hours=4),
        window_to=T0,
        window_hours=4.0,
        min_calls=15,
        below_conversion=3.0,
        campaigns=("B2B",),
        rule=SaleRule.of(["SALE"], [("OTHER", "XSALE")], source="vicidial_statuses"),
        ranking=rank(agents, state or {}, T0, CRITERIA),
    )


def test_the_messages_validate_and_are_retained_as_documented() -> None:
    contract = Contract()
    ids = iter(f"{i:032x}" for i in range(100))
    messages = alert_list({"agent9": T0 - timedelta(hours=1)}).messages(
        PREFIX, "pbx1", lambda: next(ids)
    )
    kinds = [contract.check(PREFIX, m.topic, m.payload) for m in messages]
    assert kinds == [("alerts", "alertList")] + [("alertRaised", "alertRaised")] * 2
    assert [m.retain for m in messages] == [True, False, False]
    listed = json.loads(messages[0].payload)
    assert [(a["rank"], a["agent"], a["new"]) for a in listed["alerts"]] == [
        (1, "agent9", False),
        (2, "agent/+#", True),
        (3, "agent7", True),
    ]
    assert listed["alerts"][2] == {
        "rank": 3,
        "agent": "agent7",
        "calls": 40,
        "sales": 1,
        "conversion": 2.5,
        "since": "2026-03-16T19:00:00.000Z",
        "new": True,
        "campaigns": ["B2B", "OTHER"],
        "user_groups": ["AGENTS", "TEAM2"],
    }
    assert listed["window"] == {
        "from": "2026-03-16T15:00:00.000Z",
        "to": "2026-03-16T19:00:00.000Z",
        "hours": 4.0,
    }
    raised = [json.loads(m.payload) for m in messages[1:]]
    assert [(r["agent"], r["event_id"]) for r in raised] == [
        ("agent/+#", f"{0:032x}"),
        ("agent7", f"{1:032x}"),
    ]


def test_an_empty_list_is_still_published_and_valid() -> None:
    empty = AlertList(
        T0,
        T0,
        T0,
        4.0,
        15,
        3.0,
        (),
        SaleRule.of(["SALE"], source="default"),
        rank([], {}, T0, CRITERIA),
    )
    (message,) = empty.messages(PREFIX, "pbx1")
    assert Contract().check(PREFIX, message.topic, message.payload) == ("alerts", "alertList")
    assert json.loads(message.payload)["alerts"] == []


@pytest.mark.parametrize(
    "payload",
    [
        {"at": "2026-03-16T19:00:00.000Z", "instance": "x", "alerts": []},  # no window etc.
        {
            **alert_list().payload("pbx1"),
            "alerts": [{"rank": 0, "agent": "a", "calls": 1, "sales": 0}],
        },
    ],
)
def test_the_schema_rejects_wrong_lists(payload: dict[str, object]) -> None:
    with pytest.raises(AssertionError, match="matches no message"):
        Contract().check(PREFIX, PREFIX + "/alerts", json.dumps(payload).encode())


def test_the_http_answer_follows_the_openapi_schema() -> None:
    doc = {"components": OPENAPI["components"], **OPENAPI["components"]["schemas"]["AlertList"]}
    jsonschema.validate(alert_list().payload("pbx1"), doc)
    jsonschema.validate(empty_payload("pbx1"), doc)


def _names(text: str | None) -> frozenset[str] | None:
    return None if text is None else frozenset(text.casefold().split(","))


def grant(groups: str | None, campaigns: str | None, modes: str = "monitor") -> Grant:
    return Grant(
        frozenset(Mode(m) for m in modes.split(",") if m), _names(groups), _names(campaigns)
    )


async def test_admins_see_everything_supervisors_their_grants() -> None:
    grants = {
        "teamlead": [grant("team2", None)],
        "b2b": [grant(None, "b2b")],
        "nobody": [grant(None, None, modes="")],
        "all": [grant(None, None)],
    }

    async def grants_of(user: str) -> list[Grant]:
        return grants.get(user, [])

    board = AlertBoard("pbx1", grants_of)
    assert await board.visible_to("admin", None) == empty_payload("pbx1")
    board.latest = alert_list()

    async def agents(role: str, user: str | None) -> list[tuple[int, str]]:
        body = await board.visible_to(role, user)
        return [(a["rank"], a["agent"]) for a in body["alerts"]]  # type: ignore[attr-defined]

    everyone = [(1, "agent9"), (2, "agent/+#"), (3, "agent7")]
    assert await agents("admin", None) == everyone
    assert await agents("supervisor", "all") == everyone
    assert await agents("supervisor", "teamlead") == [(3, "agent7")]
    # "agent/+#" has no campaign in the window: only unrestricted grants cover it.
    assert await agents("supervisor", "b2b") == [(1, "agent9"), (3, "agent7")]
    assert await agents("supervisor", "nobody") == []
    assert await agents("supervisor", "stranger") == []
    # Without VICIdial mode there are no grants: supervisors see every alert.
    free = AlertBoard("pbx1")
    free.latest = board.latest
    assert (await free.visible_to("supervisor", "sup1"))["alerts"] == (
        await board.visible_to("admin", None)
    )["alerts"]


def test_may_coach_needs_a_mode() -> None:
    alert = alert_list().ranking.alerts[0]
    assert may_coach([grant(None, None)], alert)
    assert not may_coach([grant(None, None, modes="")], alert)


def test_the_documented_examples_validate() -> None:
    contract = Contract()
    example = contract.doc["components"]["messages"]["AlertList"]["examples"][0]["payload"]
    assert contract.check(PREFIX, PREFIX + "/alerts", json.dumps(example).encode()) == (
        "alerts",
        "alertList",
    )
    events_md = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text()
    section = events_md[events_md.index("### `<prefix>/alerts`") :]
    blocks = [b.split("```", 1)[0] for b in section.split("```json\n")[1:3]]
    for block, topic in zip(blocks, ("alerts", "alerts/raised"), strict=True):
        payload = json.dumps(json.loads(block)).encode()
        assert contract.check(PREFIX, f"{PREFIX}/{topic}", payload)[0] in ("alerts", "alertRaised")
