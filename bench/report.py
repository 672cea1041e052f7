"""The results as Markdown tables in BENCHMARKS.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
HEADER = """# Benchmarks

`make bench` (or `.venv/bin/python -m bench`) on the sandbox: coachd and
ChanSpy on the same Asterisk, the same call set-up (a customer on the carrier
trunk talking to agent 1042, supervisor phone 2001), in the same run. Every
party sends its own tone; what each party hears is analysed per 20 ms frame,
and wire taps see what the PBX sends to the caller's and the agent's phones.
Figures are medians / p99 / max. The results as JSON: `bench/results/`.
How each figure is measured: the docstrings of `bench/*.py`.
"""


def _ms(s: dict[str, Any] | None) -> str:
    if not s or not s.get("n"):
        return "-"
    return f"{s['median']:g} / {s['p99']:g} / {s['max']:g}"


def write_markdown(results: dict[str, Any]) -> str:
    m = results.get("machine", {})
    lines = [
        HEADER,
        f"Machine: {m.get('cpus')} CPUs ({m.get('cpu_model')}), Asterisk {m.get('asterisk')},"
        f" Python {m.get('python')}; run {m.get('date')}, {results.get('total_seconds')} s in all.",
        "",
    ]
    if "switch" in results:
        lines += [
            "## Mode switches",
            "",
            "| | coachd, DTMF | coachd, HTTP API | ChanSpy `d`, DTMF |",
            "|---|---|---|---|",
        ]
        runs = [results["switch"][k] for k in ("coachd-dtmf", "coachd-api", "chanspy-dtmf")]

        def row(label: str, cell: Any) -> None:
            lines.append("| " + label + " | " + " | ".join(cell(r) for r in runs) + " |")

        row("switches (unobserved)", lambda r: f"{r['switches']} ({r['unobserved_switches']})")
        row("request → audible, ms", lambda r: _ms(r["request_to_audible_ms"]))
        row("request → on the wire, ms", lambda r: _ms(r.get("request_to_wire_ms")))
        row(
            "switches that open a path: request → audible, ms",
            lambda r: _ms(r.get("opening_request_to_audible_ms")),
        )
        row(
            "switches that open a path: request → on the wire, ms",
            lambda r: _ms(r.get("opening_request_to_wire_ms")),
        )
        row(
            "switches that open a path: digit end (sent + 100 ms) → audible, ms",
            lambda r: _ms(r.get("opening_digit_end_to_audible_ms")),
        )
        row(
            "switches that open a path: coachd got the digit → on the wire, ms",
            lambda r: _ms(r.get("opening_coachd_receipt_to_wire_ms")),
        )
        row("HTTP response, ms", lambda r: _ms(r.get("http_response_ms")))
        row("ratio to ChanSpy (median)", lambda r: str(r.get("ratio_to_chanspy_median", 1.0)))
        row(
            "call audio missing at the supervisor per switch, frames",
            lambda r: _ms(r["gap_frames_at_supervisor"]),
        )
        row(
            "supervisor frames on the wire to the caller outside barge",
            lambda r: str(r["leak_frames_at_caller_outside_barge"]),
        )
        row(
            "supervisor frames at the caller's phone outside barge",
            lambda r: str(r["far_end_leak_frames_at_caller"]),
        )
        row(
            "supervisor frames on the wire to the agent in monitor",
            lambda r: str(r["supervisor_frames_at_agent_in_monitor"]),
        )
        row(
            "supervisor hears own voice (echo), frames",
            lambda r: str(r["echo_frames_supervisor_hears_self"]),
        )
        row("seconds", lambda r: str(r["seconds"]))
        lines.append("")
    if "setup" in results:
        s = results["setup"]
        lines += [
            "## Session set-up (answer → first frame of call audio at the supervisor), ms",
            "",
            "| coachd `*222` | `ChanSpy(...,q)` | ratio (median) |",
            "|---|---|---|",
            f"| {_ms(s['coachd_answer_to_call_audio_ms'])}"
            f" | {_ms(s['chanspy_answer_to_call_audio_ms'])}"
            f" | {s['ratio_coachd_to_chanspy_median']} |",
            "",
        ]
    if "events" in results:
        ev = results["events"]
        lines += [
            "## Event path",
            "",
            f"ARI DTMF event at coachd → `mode_changed` at an MQTT subscriber, during the DTMF"
            f" switches ({ev.get('events_per_second')} events/s):"
            f" {_ms(ev['ari_event_to_mqtt_ms'])} ms.",
            "",
        ]
    if "scale" in results:
        sc = results["scale"]
        lines += [
            "## Concurrent sessions",
            "",
            "| sessions | set-up ms | switch (HTTP) ms | coachd CPU % of a core | coachd RSS MB"
            " | Asterisk PBX CPU % | phones Asterisk CPU % | burst request → MQTT ms"
            " | burst events/s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for lv in sc["levels"]:
            lines.append(
                f"| {lv['sessions']} | {_ms(lv['setup_answer_to_session_started_ms'])}"
                f" | {_ms(lv['switch_http_ms'])} | {lv['coachd_cpu_percent_of_one_core']}"
                f" | {lv['coachd_rss_mb']} | {lv['asterisk_pbx_cpu_percent_of_one_core']}"
                f" | {lv.get('asterisk_phones_cpu_percent_of_one_core', '-')}"
                f" | {_ms(lv['burst_request_to_mqtt_ms'])} | {lv['burst_events_per_second']} |"
            )
        if sc.get("broke"):
            lines += ["", f"Broke at {sc['broke']['sessions']} sessions: {sc['broke']['error']}"]
        lines.append("")
    if "soak" in results:
        so = results["soak"]
        lines += [
            "## Soak",
            "",
            f"{so['rounds']} rounds in {so['minutes']} min (call, coached session with 3 DTMF"
            f" switches, end; {so['failed_rounds']} failed): sessions started"
            f" {so['sessions_started']}, ended {so['sessions_ended']}, in the coaching log"
            f" {so['coaching_log_sessions']} (with {so['coaching_log_periods']} mode periods);"
            f" left in Asterisk: {len(so['leftovers_in_asterisk'])}; coachd RSS"
            f" {so['rss_mb_first_last'][0]} → {so['rss_mb_first_last'][1]} MB"
            f" ({so['rss_kb_per_round_after_warmup']} kB per round), open files"
            f" {so['open_fds_first_last'][0]} → {so['open_fds_first_last'][1]}.",
            "",
        ]
    text = "\n".join(lines)
    BENCHMARKS.write_text(text)
    return text
