"""coachd under faults: SIGTERM, a cut ARI connection, Asterisk killed and restarted.

Each test runs its own coachd (other modules' daemons are stopped by then).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from coachd.ari.client import AriClient
from coachd.ari.errors import AriError
from tests.integration.chaos import record_stopped
from tests.integration.conftest import wait_no_leftovers
from tests.mqtt.conftest import Subscriber
from tests.sandbox.callcenter import connect_call, settle, supervisor_dials
from tests.sandbox.daemon import ARTIFACTS, REPO, Daemon
from tests.sandbox.phones import Phones

PBX_HTTP = ("127.0.0.1", 18088)


async def test_sigterm_ends_sessions_with_a_tone_and_exits_in_time(
    phones: Phones, pbx: AriClient
) -> None:
    daemon = Daemon(name="sigterm", env={"COACHD_DAEMON__SHUTDOWN_TIMEOUT": "3"})
    daemon.start()
    async with Subscriber(daemon.mqtt_prefix, topic_filter="available") as sub:
        call = await connect_call(phones)
        dialled = await supervisor_dials(phones, "2001", "*2231042")
        sup = dialled.party
        await settle(call, sup, "whisper", after=dialled.answered_at)

        asked = time.monotonic()
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(sup.leg.hung_up.wait(), 5)
        code = await asyncio.to_thread(daemon.proc.wait, 10)
        exited = time.monotonic()

        assert code == 0, daemon.tail()
        assert exited - asked < 3 + 1, daemon.tail()
        assert sup.ear.capture.count_with("end_tone", asked, exited) >= 5
        ended = [r for r in daemon.records() if r.get("event_type") == "session_ended"]
        assert [r["reason"] for r in ended] == ["shutdown"]
        await sub.wait_for(lambda: [r.payload for r in sub.on("available")][-1:] == [b"stopped"])
    left = await wait_no_leftovers(pbx, within=1.0)
    assert left == []
    # The call itself goes on.
    t = time.monotonic()
    await asyncio.sleep(0.6)
    assert call.caller.ear.capture.fraction_with("agent", t, t + 0.5) > 0.9
    # coachd flushed its coaching log as it stopped: every row must be there now.
    await record_stopped(
        "coachd SIGTERM mid-session",
        [daemon],
        recovery_s=exited - asked,
        orphans=len(left),
        allowed={"shutdown"},
        note="not restarted: recovery is SIGTERM to exit, session ended with a tone;"
        " events from coachd's log, not MQTT; log rows: read once after the exit",
    )


class CuttableProxy:
    """A TCP proxy in front of Asterisk's HTTP port whose connections a test can cut."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.pipes: set[asyncio.Task[None]] = set()
        self.refusing = False

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*PBX_HTTP)
        except OSError:
            writer.close()
            return
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self.pipes.add(task)
            task.add_done_callback(self.pipes.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            dst.close()

    def cut(self) -> None:
        """Drop every connection and refuse new ones until restore()."""
        self.refusing = True
        for task in list(self.pipes):
            task.cancel()

    def restore(self) -> None:
        self.refusing = False

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def proxy() -> AsyncIterator[CuttableProxy]:
    p = CuttableProxy()
    await p.start()
    yield p
    await p.close()


async def test_a_cut_ari_connection_is_noticed_and_the_session_goes_on(
    phones: Phones, pbx: AriClient, proxy: CuttableProxy
) -> None:
    daemon = Daemon(name="ari-cut", env={"COACHD_ARI__URL": f"http://127.0.0.1:{proxy.port}"})
    # In a thread: the proxy runs on this event loop and must keep serving.
    await asyncio.to_thread(daemon.start)
    try:
        call = await connect_call(phones)
        dialled = await supervisor_dials(phones, "2001", "*2221042")
        sup = dialled.party
        await settle(call, sup, "monitor", after=dialled.answered_at)

        cut = time.monotonic()
        proxy.cut()
        await asyncio.sleep(2.0)
        # Asterisk keeps the session's audio going while coachd is cut off.
        assert sup.ear.capture.fraction_with("caller", cut + 0.2, cut + 1.9) > 0.9
        restored = time.monotonic()
        proxy.restore()
        await daemon.wait_record(lambda r: r.get("event") == "reconciled", count=2)
        back = time.monotonic()

        # The session is still coachd's: DTMF switches work after the reconnect.
        await sup.leg.dtmf("5")
        await settle(call, sup, "whisper", after=back)
        assert call.caller.ear.capture.count_with("supervisor", dialled.answered_at) == 0
        await sup.leg.hangup()
        left = await wait_no_leftovers(pbx, within=1.0)
        assert left == []
        (ARTIFACTS / "ari-cut.json").write_text(
            json.dumps({"reconnect_after_restore_ms": round((back - restored) * 1000)}, indent=2)
        )
    finally:
        assert await asyncio.to_thread(daemon.stop) == 0, daemon.tail()
    assert not daemon.errors()
    # coachd has exited: its log holds every event it emitted, its coaching log every row.
    await record_stopped(
        "ARI websocket cut for 2 s mid-session",
        [daemon],
        recovery_s=back - restored,
        orphans=len(left),
        allowed={"supervisor_hangup"},
        expected=("session_started", "mode_changed", "session_ended"),
        note="recovery: restore to reconciled; events from coachd's log, not MQTT;"
        " log rows: read once after coachd stopped",
    )


async def test_a_supervisor_gone_while_ari_was_cut_is_cleaned_up_on_reconnect(
    phones: Phones, pbx: AriClient, proxy: CuttableProxy
) -> None:
    daemon = Daemon(name="ari-cut-2", env={"COACHD_ARI__URL": f"http://127.0.0.1:{proxy.port}"})
    await asyncio.to_thread(daemon.start)
    try:
        call = await connect_call(phones)
        dialled = await supervisor_dials(phones, "2001", "*2231042")
        sup = dialled.party
        await settle(call, sup, "whisper", after=dialled.answered_at)

        proxy.cut()
        await sup.leg.hangup()  # coachd cannot see this
        await asyncio.sleep(1.0)
        proxy.restore()
        restored = time.monotonic()
        left = await wait_no_leftovers(pbx, within=5.0)
        assert left == []
        cleaned = time.monotonic()
        ended = [r for r in daemon.records() if r.get("event_type") == "session_ended"]
        assert [r["reason"] for r in ended] == ["supervisor_hangup"]
        t = time.monotonic()
        await asyncio.sleep(0.5)
        assert call.agent.ear.capture.count_with("supervisor", t, t + 0.5) == 0
        (ARTIFACTS / "ari-cut-cleanup.json").write_text(
            json.dumps({"restore_to_clean_ms": round((cleaned - restored) * 1000)}, indent=2)
        )
    finally:
        assert await asyncio.to_thread(daemon.stop) == 0, daemon.tail()
    # coachd has stopped: every coaching-log row must be there now.
    await record_stopped(
        "ARI cut while the supervisor hangs up",
        [daemon],
        recovery_s=cleaned - restored,
        orphans=len(left),
        allowed={"supervisor_hangup"},
        note="recovery: restore to leftovers removed; events from coachd's log, not MQTT;"
        " log rows: read once after coachd stopped",
    )


def sandbox(*args: str) -> None:
    subprocess.run([str(REPO / "scripts" / "sandbox"), *args], check=True, timeout=60)


@pytest.mark.parametrize("how", ["kill", "stop-instance"], ids=["kill -9", "core stop now"])
async def test_asterisk_stopped_and_restarted_ends_the_session_once_leaving_nothing(
    phones: Phones, how: str
) -> None:
    """kill -9: coachd learns of it when Asterisk is back (reason asterisk_restart).
    A graceful stop hangs the channels up first: the session ends as the hang-up it
    saw, or as asterisk_restart if the connection went first; once, either way."""
    daemon = Daemon(name="asterisk-restart")
    daemon.start()
    try:
        call = await connect_call(phones)
        dialled = await supervisor_dials(phones, "2001", "*2231042")
        await settle(call, dialled.party, "whisper", after=dialled.answered_at)

        await asyncio.to_thread(sandbox, how, "pbx")
        killed = time.monotonic()
        await asyncio.to_thread(sandbox, "start-instance", "pbx")
        back = time.monotonic()  # start-instance returns once ARI answers

        async def seen(where: Callable[[dict[str, Any]], bool], count: int = 1) -> float:
            await daemon.wait_record(where, count=count, timeout=15)
            return time.monotonic()

        # Either may come first (a graceful stop can end the session before the restart).
        async with asyncio.TaskGroup() as waits:
            session_ended = waits.create_task(
                seen(lambda r: r.get("event_type") == "session_ended")
            )
            reconnected = waits.create_task(seen(lambda r: r.get("event") == "reconciled", 2))
        recovered = session_ended.result()
        await asyncio.sleep(1.0)  # a second ending would show up now
        ended = [r for r in daemon.records() if r.get("event_type") == "session_ended"]
        reasons = [r["reason"] for r in ended]
        if how == "kill":
            assert reasons == ["asterisk_restart"]
        else:
            assert len(reasons) == 1, reasons
            assert reasons[0] in ("asterisk_restart", "agent_hangup", "supervisor_hangup")
        async with AriClient(
            url="http://127.0.0.1:18088", username="harness", password="sandbox-harness-secret"
        ) as fresh:
            left = await wait_no_leftovers(fresh, within=1.0)
            assert left == []
        name = "asterisk-restart.json" if how == "kill" else "asterisk-graceful-restart.json"
        (ARTIFACTS / name).write_text(
            json.dumps(
                {
                    "stop_to_session_ended_ms": round((recovered - killed) * 1000),
                    "reasons": reasons,
                },
                indent=2,
            )
        )
    finally:
        with contextlib.suppress(subprocess.SubprocessError, AriError):
            await asyncio.to_thread(sandbox, "start-instance", "pbx")
        assert daemon.stop() == 0, daemon.tail()
    if how == "kill":
        fault, allowed = "Asterisk kill -9, restarted", {"asterisk_restart"}
    else:
        fault = "Asterisk graceful stop (core stop now), restarted"
        allowed = {"asterisk_restart", "agent_hangup", "supervisor_hangup"}
    # coachd has stopped: every coaching-log row must be there now, each session's
    # row ended for the reason coachd announced (checked above).
    await record_stopped(
        fault,
        [daemon],
        recovery_s=reconnected.result() - back,
        orphans=len(left),
        allowed=allowed,
        note="recovery: ARI answering again to coachd reconciled; events from coachd's"
        " log, not MQTT; log rows: read once after coachd stopped",
    )
