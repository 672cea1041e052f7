"""`make demo`: one coached call on the sandbox, measured from the parties' audio.

A customer calls agent 1042 over the carrier trunk and they talk; supervisor
2001 dials ``*2221042`` (monitor) and escalates with DTMF: 5 whisper, 6 barge,
4 monitor, then * to end. The live event stream (MQTT) is printed as it
happens. In every mode each party first sends its own tone (measured per
20 ms frame, the same analysis as the tests), then speaks a sentence (so the
recordings are worth a listen). At the end: who heard whom in each mode, and
one WAV file per party of what that party heard.

Run it with ``make demo`` (it sets up the venv, Mosquitto and the sandbox
first). ``make demo KEEP=1`` keeps everything running afterwards: the call
goes on and you type commands for supervisor phone 2001 (dial a feature code,
press digits) or use the HTTP API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiomqtt  # noqa: E402
import structlog  # noqa: E402

from coachd.storage.store import open_store  # noqa: E402
from tests.audio.capture import save_wav  # noqa: E402
from tests.sandbox.callcenter import DETECTOR, EXPECTED, TONES  # noqa: E402
from tests.sandbox.daemon import SANDBOX_CONFIG, Daemon  # noqa: E402
from tests.sandbox.phones import Leg, Phones  # noqa: E402

SOUNDS = REPO / ".sandbox/root/usr/share/asterisk/sounds/coachd-demo"
AGENT = "1042"
SUPERVISOR_PHONE = "2001"
DIGITS = {"monitor": "4", "whisper": "5", "barge": "6"}  # keymap "chanspy"
PLAN = ("monitor", "whisper", "barge", "monitor")
TONE_SECONDS = 2.0
HTTP_LISTEN = "127.0.0.1:8089"

LINES = {
    "caller": "Hi, I ordered a laptop two weeks ago and it still has not arrived.",
    "agent": "I am sorry about that. Let me look up your order right away.",
    "supervisor-monitor": "Supervisor here, only listening. Nobody should hear this.",
    "supervisor-whisper": "Whisper to the agent: offer free express shipping.",
    "supervisor-barge": "Hello, this is the supervisor. We will ship it express today.",
}


def say(message: str) -> None:
    print(message, flush=True)


# --- speech ------------------------------------------------------------------------------


def make_speech(workdir: Path) -> dict[str, float]:
    """Each line as an 8 kHz WAV in the sandbox's sounds; returns its length in seconds."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise SystemExit("demo: " + tool + " is missing (make demo installs it)")
    SOUNDS.mkdir(parents=True, exist_ok=True)
    lengths = {}
    for name, text in LINES.items():
        raw = workdir / (name + ".raw.wav")
        voice = ["-v", "en-us+f3"] if name == "caller" else ["-v", "en-us+m3"]
        if name.startswith("supervisor"):
            voice = ["-v", "en-gb+m1"]
        subprocess.run(["espeak-ng", *voice, "-s", "165", "-w", str(raw), text], check=True)
        out = SOUNDS / (name + ".wav")
        subprocess.run(
            ["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(out), "gain", "-n", "-6"],
            check=True,
        )
        with wave.open(str(out)) as w:
            lengths[name] = w.getnframes() / w.getframerate()
    return lengths


# --- the live event stream ---------------------------------------------------------------


async def print_events(prefix: str, t0: float, seen: list[dict[str, Any]]) -> None:
    async with aiomqtt.Client("127.0.0.1", 1883, identifier="coachd-demo-" + prefix) as client:
        await client.subscribe(prefix + "/events", qos=1)
        async for message in client.messages:
            event = json.loads(bytes(message.payload))  # type: ignore[arg-type]
            seen.append(event)
            extra = {
                k: v
                for k, v in event.items()
                if k in ("before", "after", "source", "reason", "detail", "requested")
            }
            say(
                "  event +{:5.1f}s  {:<16} mode={:<8} supervisor={} agent={} {}".format(
                    time.monotonic() - t0,
                    event["type"],
                    str(event.get("mode")),
                    event.get("supervisor"),
                    event.get("agent"),
                    " ".join(k + "=" + str(v) for k, v in extra.items()),
                )
            )


# --- one phase per mode ------------------------------------------------------------------


@dataclass
class Phase:
    mode: str
    t0: float  # tone window
    t1: float
    speech_from: float  # offsets in the recordings
    speech_to: float


@dataclass
class Parties:
    caller: Leg
    agent: Leg
    supervisor: Leg

    def items(self) -> Iterator[tuple[str, Leg]]:
        yield from (("caller", self.caller), ("agent", self.agent), ("supervisor", self.supervisor))


async def speak_in_turn(parties: Parties, mode: str, lengths: dict[str, float]) -> None:
    for _, leg in parties.items():
        await leg.stop_tone()
    for who, leg in parties.items():
        line = who if who != "supervisor" else "supervisor-" + mode
        if line not in lengths:
            line = "supervisor-monitor"
        await leg.say("sound:coachd-demo/" + line)
        await asyncio.sleep(lengths[line] + 0.3)
        await leg.stop_tone()


async def tones_on(parties: Parties) -> None:
    for who, leg in parties.items():
        await leg.say_tone(TONES[who])


def heard_table(phases: list[Phase], parties: Parties) -> tuple[list[str], bool]:
    rows = []
    ok = True
    header = "{:<16} {:<24} {:>8} {:>10}  {}".format(
        "mode", "who heard whom", "frames", "expected", ""
    )
    rows.append(header)
    rows.append("-" * len(header))
    ears = {who: leg.captures[0].capture for who, leg in parties.items()}
    for phase in phases:
        pairs = [*EXPECTED[phase.mode].items(), (("caller", "agent"), True)]
        pairs.append((("agent", "caller"), True))
        for (listener, speaker), expected in pairs:
            fraction = ears[listener].fraction_with(speaker, phase.t0, phase.t1)
            heard = fraction >= 0.9
            silent = ears[listener].count_with(speaker, phase.t0, phase.t1) == 0
            right = heard if expected else silent
            ok = ok and right
            rows.append(
                "{:<16} {:<24} {:>7.0%} {:>10}  {}".format(
                    phase.mode,
                    listener + " heard " + speaker,
                    fraction,
                    "heard" if expected else "silent",
                    "ok" if right else "WRONG",
                )
            )
    return rows, ok


# --- main --------------------------------------------------------------------------------


async def demo(out: Path, keep: bool) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        lengths = make_speech(Path(tmp))
    out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (once, before the call)
    daemon = Daemon(SANDBOX_CONFIG, env={"COACHD_HTTP__LISTEN": HTTP_LISTEN}, name="demo")
    say("demo: starting coachd (log: " + str(daemon.log_path.relative_to(REPO)) + ")")
    daemon.start()
    t0 = time.monotonic()
    seen: list[dict[str, Any]] = []
    printer = asyncio.create_task(print_events(daemon.mqtt_prefix, t0, seen), name="events")
    ok = False
    try:
        async with Phones.connect() as phones:
            say("demo: a customer calls agent " + AGENT + "; the agent answers; they talk")
            calling = asyncio.create_task(phones.call("carrier", AGENT))
            agent = await phones.answer(AGENT)
            caller = await calling
            for leg in (caller, agent):
                await leg.listen(DETECTOR, keep_samples=True)
            await speak_in_turn_two(caller, agent, lengths)

            code = "*222" + AGENT
            say("demo: supervisor " + SUPERVISOR_PHONE + " dials " + code + " (monitor)")
            supervisor = await phones.call(SUPERVISOR_PHONE, code)
            await supervisor.listen(DETECTOR, keep_samples=True)
            parties = Parties(caller, agent, supervisor)
            started = await daemon.wait_event("session_started", timeout=10)
            phases = await escalate(daemon, parties, lengths)
            say("demo: the supervisor presses * (end)")
            daemon.checkpoint()
            await supervisor.dtmf("*")
            await daemon.wait_event("session_ended", timeout=10)
            await asyncio.sleep(0.5)  # the last events reach the printer
            if not keep:
                printer.cancel()
            ok = report(phases, parties, out)
            ok = await show_record(daemon.database_url, str(started["session_id"])) and ok
            if keep:
                await tones_on(parties)
                await supervisor.hangup()
                await keep_running(phones)
    finally:
        printer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await printer
        exit_code = daemon.stop()
    if exit_code != 0:
        say("demo: coachd exited with " + str(exit_code) + "; its log: " + str(daemon.log_path))
        return 1
    if not ok:
        say("demo: SOMETHING WAS WRONG (see above)")
        return 1
    say("demo: every path as ChanSpy's q / qw / qB have it; the caller never heard a whisper")
    if keep:
        say("The sandbox is still up: scripts/sandbox down stops it.")
    else:
        say("Keep the call going and try the feature codes yourself: make demo KEEP=1")
    return 0


async def escalate(daemon: Daemon, parties: Parties, lengths: dict[str, float]) -> list[Phase]:
    phases = []
    recording = parties.caller.captures[0].capture
    for i, mode in enumerate(PLAN):
        if i:
            say("demo: the supervisor presses " + DIGITS[mode] + " (" + mode + ")")
            daemon.checkpoint()
            await parties.supervisor.dtmf(DIGITS[mode])
            await daemon.wait_event("mode_changed", where=lambda r, m=mode: r.get("mode") == m)
        say("demo: " + mode + ": everybody sends a tone, then speaks in turn")
        await tones_on(parties)
        await asyncio.sleep(0.5)  # the tones reach every ear
        t_a = time.monotonic()
        await asyncio.sleep(TONE_SECONDS)
        t_b = time.monotonic()
        speech_from = _offset(recording)
        await speak_in_turn(parties, mode, lengths)
        phases.append(Phase(mode, t_a, t_b, speech_from, _offset(recording)))
    return phases


def report(phases: list[Phase], parties: Parties, out: Path) -> bool:
    rows, ok = heard_table(phases, parties)
    say("")
    say("Who heard whom (tones, share of 20 ms frames in a " + str(TONE_SECONDS) + " s window):")
    for row in rows:
        say("  " + row)
    say("")
    say("What each party heard (8 kHz WAV files):")
    for path in save_ears(out, parties):
        say("  " + str(path.relative_to(REPO)))
    say("In each, every mode is a tone window, then caller, agent and supervisor speak in turn:")
    for phase in phases:
        say(f"  {phase.mode:<8} speech from {phase.speech_from:5.1f} s to {phase.speech_to:5.1f} s")
    return ok


async def show_record(database_url: str, session_id: str) -> bool:
    """The session as the coaching log has it (coachd writes it as the session goes)."""
    store = open_store(database_url)
    try:
        for _ in range(50):
            record = await store.session(session_id)
            if record is not None and record.ended_at is not None:
                break
            await asyncio.sleep(0.1)
        periods = await store.periods(session_id)
    finally:
        await store.close()
    say("")
    if record is None or record.ended_at is None:
        say("The coaching log has no finished record of session " + session_id)
        return False
    say(
        f"The coaching log ({database_url}): session {session_id}, {record.supervisor} "
        f"coached {record.agent} for {record.duration_sec:.1f} s, ended: {record.end_reason}"
    )
    for period in periods:
        say(f"  period {period.seq}: {period.mode:<8} {period.duration_sec or 0:5.1f} s")
    return [p.mode for p in periods] == list(PLAN)


async def speak_in_turn_two(caller: Leg, agent: Leg, lengths: dict[str, float]) -> None:
    for leg, line in ((caller, "caller"), (agent, "agent")):
        await leg.say("sound:coachd-demo/" + line)
        await asyncio.sleep(lengths[line] + 0.3)
        await leg.stop_tone()


def _offset(capture: Any) -> float:
    """Seconds into the recording at this moment (the recording starts with its first frame)."""
    frames = capture.frames
    return len(frames) * 0.02 if frames else 0.0


def save_ears(out: Path, parties: Parties) -> list[Path]:
    """One WAV per ear, all on the caller's timeline (the supervisor's starts silent)."""
    captures = {who: leg.captures[0].capture for who, leg in parties.items()}
    start = captures["caller"].frames[0].arrival
    paths = []
    for who, capture in captures.items():
        lead = max(0, round((capture.frames[0].arrival - start) / 0.02)) * 160
        path = out / (who + "-hears.wav")
        save_wav([0] * lead + capture.samples(), path)
        paths.append(path)
    return paths


async def keep_running(phones: Phones) -> None:
    """The call goes on; the user drives supervisor phone 2001 from the keyboard."""
    say("")
    say("")
    say("The call goes on (caller and agent send tones). Type, for supervisor phone 2001:")
    say("  dial *2231042    a feature code: *222 monitor, *223 whisper, *224 barge,")
    say("                   *225 private whisper, then the agent's extension")
    say("  dtmf 5           digits in a session: 4 monitor, 5 whisper, 6 barge, * end, # volume")
    say("  hangup           hang up phone 2001")
    say("  quit             end the demo (the sandbox stays up)")
    say("or use the HTTP API, e.g.:")
    say(
        "  curl -s -H 'Authorization: Bearer sandbox-admin-token-0001' http://"
        + HTTP_LISTEN
        + "/v1/sessions"
    )
    loop = asyncio.get_running_loop()
    leg: Leg | None = None
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line or line.strip() == "quit":
            return
        words = line.split()
        try:
            if words[:1] == ["dial"] and len(words) == 2:
                leg = await phones.call(SUPERVISOR_PHONE, words[1])
                await leg.say_tone(TONES["supervisor"])
                say("  2001 is through to " + words[1])
            elif words[:1] == ["dtmf"] and len(words) == 2 and leg is not None:
                await leg.dtmf(words[1])
            elif words == ["hangup"] and leg is not None:
                await leg.hangup()
                leg = None
            else:
                say("  ?")
        except Exception as exc:  # an interactive prompt reports and goes on
            say("  failed: " + str(exc))


def main() -> int:
    # Only warnings from the ARI client the phones use; coachd logs to its own file.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the call going afterwards")
    parser.add_argument("--out", type=Path, default=REPO / "demo-output")
    args = parser.parse_args()
    try:
        return asyncio.run(demo(args.out.resolve(), args.keep))
    finally:
        if not args.keep:
            say("demo: cleaning up (scripts/sandbox down)")
            subprocess.run([str(REPO / "scripts/sandbox"), "down"], check=False)


if __name__ == "__main__":
    sys.exit(main())
