"""``python -m bench`` (``make bench``): coachd against ChanSpy on the sandbox.

Writes ``bench/results/<name>.json`` and the table in ``BENCHMARKS.md``.
The sandbox must be up (``make bench`` brings it up); coachd is started here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from bench import cluster, held, scale, setup_time, soak, switching
from bench.events import EventCollector
from bench.report import write_markdown
from bench.stats import summary
from coachd.ari.client import AriClient
from tests.sandbox import cluster as sandbox_cluster
from tests.sandbox.daemon import SANDBOX_CONFIG, Daemon
from tests.sandbox.phones import (
    HARNESS_PASSWORD,
    HARNESS_USER,
    PBX2_ARI_URL,
    PBX_ARI_URL,
    Phones,
)

RESULTS = Path(__file__).resolve().parent / "results"
HTTP = "127.0.0.1:18189"
TOKEN = "sandbox-admin-token-0001"


def machine(info: dict[str, Any]) -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "asterisk": info.get("system", {}).get("version", ""),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def ari_to_mqtt(daemon: Daemon, events: EventCollector, since: int) -> dict[str, Any]:
    """From coachd receiving each DTMF digit (its log, wall clock) to the resulting
    ``mode_changed`` at the MQTT subscriber (same clock)."""
    received = [
        datetime.fromisoformat(r["timestamp"]).timestamp()
        for r in daemon.records()
        if r.get("event") == "dtmf_received"
    ]
    changed = [a.arrived for a in events.received[since:] if a.payload["type"] == "mode_changed"]
    pairs = list(zip(received[-len(changed) :], changed, strict=False)) if changed else []
    delays = [b - a for a, b in pairs if b >= a]
    span = (changed[-1] - changed[0]) if len(changed) > 1 else 0.0
    return {
        "ari_event_to_mqtt_ms": summary(delays, 1000),
        "events_per_second": round(len(changed) / span, 1) if span else None,
    }


async def setup_and_switches(
    args: argparse.Namespace,
    results: dict[str, Any],
    pbx: AriClient,
    daemon: Daemon,
    events: EventCollector,
) -> None:
    if "setup" in args.only:
        print("bench: session set-up, coachd vs ChanSpy", flush=True)
        async with Phones.connect() as phones:
            results["setup"] = await setup_time.run(args.setups, phones, pbx)
        print(json.dumps(results["setup"]), flush=True)
    if "switch" not in args.only:
        return
    results["switch"] = {}
    for system in ("coachd-dtmf", "coachd-api", "chanspy-dtmf"):
        print("bench: " + str(args.switches) + " switches, " + system, flush=True)
        mark = len(events.received)
        t = time.monotonic()
        async with Phones.connect() as phones:
            run = await switching.run(system, args.switches, phones, pbx, daemon, HTTP)
        run["seconds"] = round(time.monotonic() - t, 1)
        if system == "coachd-dtmf":
            results["events"] = ari_to_mqtt(daemon, events, mark)
        results["switch"][system] = run
        print(json.dumps(run), flush=True)
    theirs = results["switch"]["chanspy-dtmf"]["request_to_audible_ms"]["median"]
    for system in ("coachd-dtmf", "coachd-api"):
        ours = results["switch"][system]["request_to_audible_ms"]["median"]
        results["switch"][system]["ratio_to_chanspy_median"] = round(ours / theirs, 2)


async def run_cluster(args: argparse.Namespace, pbx: AriClient) -> dict[str, Any]:
    prefix = "coachd-cluster-bench-" + datetime.now(UTC).strftime("%H%M%S")
    home, remote = sandbox_cluster.nodes(prefix, {"COACHD_LOGGING__LEVEL": "debug"})
    async with AriClient(
        url=PBX2_ARI_URL, username=HARNESS_USER, password=HARNESS_PASSWORD
    ) as pbx2:
        with home.running(), remote.running():
            async with Phones.connect() as phones:
                return await cluster.run(
                    args.setups, min(args.switches, 100), phones, pbx, pbx2, home, remote
                )


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with AriClient(url=PBX_ARI_URL, username=HARNESS_USER, password=HARNESS_PASSWORD) as pbx:
        results["machine"] = machine(await pbx.info())
        # Debug logging has each DTMF digit's arrival (the event path); the scale
        # run logs at info, as in production, so that its CPU figures are fair.
        env = {"COACHD_HTTP__LISTEN": HTTP, "COACHD_LOGGING__LEVEL": "debug"}
        if args.only & {"setup", "switch"}:
            with Daemon(SANDBOX_CONFIG, env=env, name="bench").running() as daemon:
                async with EventCollector(daemon.mqtt_prefix) as events:
                    await setup_and_switches(args, results, pbx, daemon, events)
        if "scale" in args.only:
            print("bench: scale " + ",".join(map(str, args.levels)), flush=True)
            env["COACHD_LOGGING__LEVEL"] = "info"
            with Daemon(SANDBOX_CONFIG, env=env, name="bench-scale").running() as daemon:
                results["scale"] = await scale.run(args.levels, daemon, pbx, HTTP, TOKEN)
            print(json.dumps(results["scale"]), flush=True)
        if "cluster" in args.only:
            print("bench: cluster, same server vs across the trunk", flush=True)
            results["cluster"] = await run_cluster(args, pbx)
            print(json.dumps(results["cluster"]), flush=True)
        if "held" in args.only:
            print(f"bench: {args.held_sessions} sessions held {args.held_minutes} min", flush=True)
            env["COACHD_LOGGING__LEVEL"] = "info"
            with Daemon(SANDBOX_CONFIG, env=env, name="bench-held").running() as daemon:
                results["held"] = await held.run(
                    args.held_sessions, args.held_minutes, daemon, pbx, HTTP, TOKEN
                )
            print(json.dumps({k: v for k, v in results["held"].items() if k != "samples"}))
        if "soak" in args.only:
            print(f"bench: soak for {args.soak_minutes} minutes", flush=True)
            env["COACHD_LOGGING__LEVEL"] = "info"
            with Daemon(SANDBOX_CONFIG, env=env, name="bench-soak").running() as daemon:
                results["soak"] = await soak.run(args.soak_minutes, daemon, pbx)
            print(json.dumps(results["soak"]), flush=True)
    return results


def earlier_results(now: dict[str, Any]) -> dict[str, Any]:
    """The last run of each part not run now (BENCHMARKS.md keeps every part), and
    under ``earlier_runs`` when each of those ran."""
    found: dict[str, Any] = {}
    runs: dict[str, str] = {}
    for path in sorted(RESULTS.glob("*.json")):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and path.stem in data and path.stem not in now:
            found[path.stem] = data[path.stem]
            runs[path.stem] = str(data.get("run", "?"))
    return {**found, "earlier_runs": runs} if runs else found


def main() -> int:
    parser = argparse.ArgumentParser(description="coachd benchmarks against ChanSpy")
    parser.add_argument("--switches", type=int, default=300, help="switches per system")
    parser.add_argument("--setups", type=int, default=20, help="set-ups per system")
    parser.add_argument(
        "--levels",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[25, 50, 100, 200],
        help="concurrent sessions, comma-separated",
    )
    parser.add_argument(
        "--only",
        type=lambda s: set(s.split(",")),
        default={"setup", "switch", "cluster", "scale", "soak"},
        help="setup,switch,cluster,scale,soak,held (held is not in the default)",
    )
    parser.add_argument("--soak-minutes", type=float, default=2.0)
    parser.add_argument(
        "--held-sessions", type=int, default=100, help="held: concurrent sessions (not default)"
    )
    parser.add_argument("--held-minutes", type=float, default=10.0)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    started = time.monotonic()
    results = asyncio.run(main_async(args))
    results["total_seconds"] = round(time.monotonic() - started, 1)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for name, value in results.items():
        if isinstance(value, dict) and name != "machine":
            (RESULTS / (name + ".json")).write_text(
                json.dumps({"machine": results["machine"], "run": stamp, name: value}, indent=2)
                + "\n"
            )
    table = write_markdown({**earlier_results(results), **results})
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
