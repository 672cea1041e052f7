"""coachd's MQTT side when things go wrong: it dies, or the broker restarts mid-session."""

from __future__ import annotations

import json
import signal
import time

from coachd.ari.client import AriClient
from tests.integration.chaos import (
    NOT_MEASURED,
    FaultRecord,
    log_rows_lost,
    missing,
    mode_periods,
    record,
    wrongly_ended,
)
from tests.integration.conftest import wait_no_leftovers
from tests.mqtt.conftest import Subscriber, ensure_broker, start_broker, stop_broker
from tests.sandbox.callcenter import connect_call, settle, supervisor_dials
from tests.sandbox.daemon import ARTIFACTS, Daemon
from tests.sandbox.phones import Phones


async def test_killed_coachd_is_announced_offline_by_its_last_will() -> None:
    daemon = Daemon(name="lwt")
    daemon.start()
    try:
        async with Subscriber(daemon.mqtt_prefix, topic_filter="available") as sub:
            await sub.wait_for(lambda: [r.payload for r in sub.on("available")][-1:] == [b"online"])
            daemon.kill()
            killed = time.monotonic()
            await sub.wait_for(
                lambda: [r.payload for r in sub.on("available")][-1:] == [b"offline"]
            )
            announced = time.monotonic()
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.kill()
    record(
        FaultRecord(
            "coachd kill -9: MQTT last will",
            recovery_s=announced - killed,
            events_lost=NOT_MEASURED,
            log_rows_lost=NOT_MEASURED,
            orphans=NOT_MEASURED,
            wrongly_ended=NOT_MEASURED,
            note="not restarted: recovery is kill to 'offline' seen on MQTT;"
            " no session in this test, so nothing else to count",
        )
    )


async def test_a_broker_restart_mid_session_loses_no_event(phones: Phones, pbx: AriClient) -> None:
    daemon = Daemon(name="broker-restart")
    daemon.start()
    try:
        async with Subscriber(daemon.mqtt_prefix, persistent=True, topic_filter="events") as sub:
            call = await connect_call(phones)
            dialled = await supervisor_dials(phones, "2001", "*2221042")
            sup = dialled.party
            t = await settle(call, sup, "monitor", after=dialled.answered_at)
            await sub.wait_for(lambda: len(sub.events()) >= 1)

            stop_broker(signal.SIGTERM)
            try:
                # Switches while the broker is away: coachd keeps coaching.
                for digit, mode in (("5", "whisper"), ("6", "barge"), ("4", "monitor")) * 2:
                    await sup.leg.dtmf(digit)
                    t = await settle(call, sup, mode, after=t)
            finally:
                start_broker()
            back = time.perf_counter()  # the clock of Received.at
            await sup.leg.hangup()
            left = await wait_no_leftovers(pbx, within=1.0)
            assert left == []
            await sub.wait_for(
                lambda: any(e["type"] == "session_ended" for e in sub.events()), timeout=15
            )
            events = sub.events()
            # coachd queued the events from seq 2 on while the broker was away.
            delivered = [r.at for r in sub.on("events") if r.at > back and r.json()["seq"] > 1]
    finally:
        ensure_broker()
        assert daemon.stop() == 0, daemon.tail()
    unique = list({e["event_id"]: e for e in events}.values())
    figures = {
        "published": 8,
        "received": len(events),
        "unique": len(unique),
        "duplicates": len(events) - len(unique),
        "lost": 8 - len(unique),
    }
    (ARTIFACTS / "mqtt-broker-restart.json").write_text(json.dumps(figures, indent=2))
    ended = [e["reason"] for e in unique if e["type"] == "session_ended"]
    # The sessions as coachd logged them; it has stopped: every row must be there now.
    periods = mode_periods(daemon.session_events())
    rows = await log_rows_lost(
        daemon.database_url, periods, reasons=dict.fromkeys(periods, "supervisor_hangup"), within=0
    )
    record(
        FaultRecord(
            "MQTT broker restart mid-session",
            recovery_s=min(delivered) - back if delivered else None,
            events_lost=len(missing(range(1, 9), [e["seq"] for e in unique])),
            log_rows_lost=rows,
            orphans=len(left),
            wrongly_ended=wrongly_ended(ended, {"supervisor_hangup"}),
            note="recovery: broker up to the first event queued during the outage received;"
            " log rows: sessions from coachd's log, read once after coachd stopped,"
            " ended 'supervisor_hangup'",
        )
    )
    assert [e["seq"] for e in unique] == list(range(1, 9)), figures
    assert [e["type"] for e in unique] == [
        "session_started",
        *["mode_changed"] * 6,
        "session_ended",
    ]
    assert [e["after"] for e in unique[1:7]] == ["whisper", "barge", "monitor"] * 2
