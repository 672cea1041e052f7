"""Prometheus metrics: counters fed as an EventSink, gauges read at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from coachd.core import commands as c
from coachd.core.registry import Registry
from coachd.core.session import Session, State

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Readings:
    """Where the scrape-time gauges come from (each optional)."""

    registry: Registry
    ari_reconnects: Callable[[], int]
    mqtt: Callable[[], dict[str, float]] | None = None
    store: Callable[[], dict[str, float]] | None = None
    extra: dict[str, str] = field(default_factory=dict)


class Metrics:
    def __init__(self, readings: Readings) -> None:
        self.readings = readings
        self.registry = CollectorRegistry()
        r = self.registry
        self.started = Counter("coachd_sessions_started", "Sessions started", registry=r)
        self.refused = Counter(
            "coachd_sessions_refused", "Sessions refused", ["reason"], registry=r
        )
        self.ended = Counter("coachd_sessions_ended", "Sessions ended", ["reason"], registry=r)
        self.switches = Counter(
            "coachd_mode_changes", "Mode changes", ["after", "source"], registry=r
        )
        self.switch_refused = Counter(
            "coachd_mode_refused", "Mode changes refused", ["reason"], registry=r
        )
        self.switch_seconds = Histogram(
            "coachd_switch_seconds",
            "From a mode request reaching coachd to the new routing applied in Asterisk",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
            registry=r,
        )
        r.register(_Gauges(readings))

    async def publish(self, session: Session, event: c.Publish) -> None:
        data = event.data
        if event.type == "session_started":
            self.started.inc()
        elif event.type == "session_refused":
            self.refused.labels(str(data.get("reason"))).inc()
        elif event.type == "session_ended":
            self.ended.labels(str(data.get("reason"))).inc()
        elif event.type == "mode_changed":
            self.switches.labels(str(data.get("after")), str(data.get("source"))).inc()
        elif event.type == "mode_refused":
            self.switch_refused.labels(str(data.get("reason"))).inc()

    def observe_switch(self, seconds: float) -> None:
        self.switch_seconds.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Gauges(Collector):
    def __init__(self, readings: Readings) -> None:
        self.readings = readings

    def collect(self) -> Iterator[Metric]:
        active = GaugeMetricFamily(
            "coachd_active_sessions", "Sessions in progress, by mode", labels=["mode"]
        )
        counts: dict[str, int] = {}
        for session in self.readings.registry.sessions.values():
            if session.state is State.ACTIVE and session.mode is not None:
                counts[session.mode.value] = counts.get(session.mode.value, 0) + 1
        for mode in ("monitor", "whisper", "private_whisper", "barge"):
            active.add_metric([mode], counts.get(mode, 0))
        yield active
        yield GaugeMetricFamily(
            "coachd_ari_reconnects",
            "ARI event stream reconnects",
            value=self.readings.ari_reconnects(),
        )
        for prefix, source in (
            ("coachd_mqtt_", self.readings.mqtt),
            ("coachd_db_", self.readings.store),
        ):
            if source is None:
                continue
            for name, value in source().items():
                yield GaugeMetricFamily(prefix + name, prefix + name, value=value)
