"""The alerts' JSON and MQTT messages (``docs/events.md``, ``docs/asyncapi.yaml``). Pure.

- ``<prefix>/alerts``: retained, the whole ranked list of the last run
  (:meth:`AlertList.payload`); ``GET /v1/alerts`` answers the same object.
- ``<prefix>/alerts/raised``: not retained, one message per agent raised by a
  run (new, or again after the cool-down), with an ``event_id`` to dedupe by.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from coachd.alerts.rank import Alert, Ranking
from coachd.mqtt.topics import Message, encode, new_event_id, rfc3339
from coachd.reports.compute import SaleRule


def alerts_topic(prefix: str) -> str:
    return prefix + "/alerts"


def raised_topic(prefix: str) -> str:
    return prefix + "/alerts/raised"


def alert_json(alert: Alert) -> dict[str, object]:
    return {
        "rank": alert.rank,
        "agent": alert.agent,
        "calls": alert.calls,
        "sales": alert.sales,
        "conversion": round(alert.conversion, 2),
        "since": rfc3339(alert.since),
        "new": alert.new,
        "campaigns": list(alert.campaigns),
        "user_groups": list(alert.user_groups),
    }


@dataclass(frozen=True, slots=True)
class AlertList:
    """The result of one run: the ranking and what it was computed over."""

    at: datetime
    """When the run looked (aware)."""
    window_from: datetime
    window_to: datetime
    """The window as aware instants (``call_date`` >= from and < to, in VICIdial's zone)."""
    window_hours: float
    min_calls: int
    below_conversion: float
    campaigns: tuple[str, ...]
    rule: SaleRule
    ranking: Ranking

    def payload(self, instance: str, alerts: tuple[Alert, ...] | None = None) -> dict[str, object]:
        """The list as JSON (``alerts``: a subset to show instead of all)."""
        shown = self.ranking.alerts if alerts is None else alerts
        return {
            "at": rfc3339(self.at),
            "instance": instance,
            "window": {
                "from": rfc3339(self.window_from),
                "to": rfc3339(self.window_to),
                "hours": self.window_hours,
            },
            "min_calls": self.min_calls,
            "below_conversion": self.below_conversion,
            "campaigns": list(self.campaigns),
            "sale_statuses": self.rule.to_json(),
            "alerts": [alert_json(a) for a in shown],
        }

    def messages(
        self, prefix: str, instance: str, new_id: Callable[[], str] = new_event_id
    ) -> list[Message]:
        """The retained list, then one ``raised`` message per newly raised agent."""
        out = [Message(alerts_topic(prefix), encode(self.payload(instance)), retain=True)]
        for alert in self.ranking.raised:
            raised: dict[str, object] = {
                "event_id": new_id(),
                "at": rfc3339(self.at),
                "instance": instance,
            }
            raised.update((k, v) for k, v in alert_json(alert).items() if k != "new")
            raised["window_hours"] = self.window_hours
            raised["below_conversion"] = self.below_conversion
            out.append(Message(raised_topic(prefix), encode(raised), retain=False))
        return out


def empty_payload(instance: str) -> dict[str, object]:
    """``GET /v1/alerts`` before the first run: no list yet (``at`` null)."""
    return {"at": None, "instance": instance, "alerts": []}
