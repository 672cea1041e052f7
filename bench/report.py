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


# Rows of the switch table: label, result key, and whether it is a median/p99/max
# summary (True) or a plain value (False).
SWITCH_ROWS = (
    ("request → audible, ms", "request_to_audible_ms", True),
    ("request → on the wire, ms", "request_to_wire_ms", True),
    ("switches that open a path: request → audible, ms", "opening_request_to_audible_ms", True),
    ("switches that open a path: request → on the wire, ms", "opening_request_to_wire_ms", True),
    (
        "switches that open a path: digit end (sent + 100 ms) → audible, ms",
        "opening_digit_end_to_audible_ms",
        True,
    ),
    (
        "switches that open a path: coachd got the digit → on the wire, ms",
        "opening_coachd_receipt_to_wire_ms",
        True,
    ),
    ("HTTP response, ms", "http_response_ms", True),
    ("ratio to ChanSpy (median)", "ratio_to_chanspy_median", False),
    ("call audio missing at the supervisor per switch, frames", "gap_frames_at_supervisor", True),
    (
        "supervisor frames on the wire to the caller outside barge",
        "leak_frames_at_caller_outside_barge",
        False,
    ),
    (
        "supervisor frames at the caller's phone outside barge",
        "far_end_leak_frames_at_caller",
        False,
    ),
    (
        "supervisor frames on the wire to the agent in monitor",
        "supervisor_frames_at_agent_in_monitor",
        False,
    ),
    ("supervisor hears own voice (echo), frames", "echo_frames_supervisor_hears_self", False),
    ("seconds", "seconds", False),
)


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
    earlier = results.get("earlier_runs")
    if earlier:
        lines += [
            "Not run this time, from earlier runs: "
            + ", ".join(f"{part} ({stamp})" for part, stamp in sorted(earlier.items()))
            + ".",
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
        for label, key, summary in SWITCH_ROWS:
            row(label, lambda r, k=key, sm=summary: _ms(r.get(k)) if sm else str(r.get(k, 1.0)))
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
    if "cluster" in results:
        cl = results["cluster"]
        setup, sw = cl["setup_answer_to_call_audio_ms"], cl["switches"]
        lines += [
            "## Across two servers (cluster hand-off over the trunk)",
            "",
            "Supervisor phone on pbx; agent on pbx (same server) or on pbx2 (its",
            "coachd runs the session after the hand-off), same run, DTMF switches.",
            "",
            "| | same server | across the trunk | extra (median) |",
            "|---|---|---|---|",
            f"| set-up: answer → call audio, ms | {_ms(setup['same_server'])}"
            f" | {_ms(setup['cross_server'])} | {cl['extra_ms_of_the_hop_median']['setup']} |",
            f"| switch: digit sent → audible, ms"
            f" | {_ms(sw['same_server']['digit_sent_to_audible_ms'])}"
            f" | {_ms(sw['cross_server']['digit_sent_to_audible_ms'])}"
            f" | {cl['extra_ms_of_the_hop_median']['switch_digit_sent_to_audible']} |",
            f"| switch: the session's node got the digit → audible, ms"
            f" | {_ms(sw['same_server']['node_got_digit_to_audible_ms'])}"
            f" | {_ms(sw['cross_server']['node_got_digit_to_audible_ms'])} | |",
            f"| leak frames at the caller (wire) | {sw['same_server']['leak_frames_at_caller']}"
            f" | {sw['cross_server']['leak_frames_at_caller']} | |",
            f"| supervisor frames at the agent in monitor (wire)"
            f" | {sw['same_server']['supervisor_frames_at_agent_in_monitor']}"
            f" | {sw['cross_server']['supervisor_frames_at_agent_in_monitor']} | |",
            f"| call audio missing at the supervisor per switch, max frames"
            f" | {sw['same_server']['gap_frames_at_supervisor_per_switch_max']}"
            f" | {sw['cross_server']['gap_frames_at_supervisor_per_switch_max']} | |",
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
    if "held" in results:
        he = results["held"]
        lines += [
            "## Held soak",
            "",
            f"{he['sessions']} sessions at once for {he['minutes']} min"
            f" ({'with' if he['tones'] else 'without'} tones, see `bench/held.py`),"
            f" {he['switches']} random HTTP switches ({len(he['failed_switches'])} failed,"
            f" {_ms(he['switch_http_ms'])} ms): sessions started {he['sessions_started']},"
            f" ended {he['sessions_ended']} ({len(he.get('sessions_ended_before_the_end', []))}"
            f" before the end), in the coaching log {he['coaching_log_sessions']}"
            f" ({he['coaching_log_periods']} mode periods); left in Asterisk:"
            f" {len(he['leftovers_in_asterisk'])}; errors in coachd's log:"
            f" {len(he['errors_in_log'])}; coachd RSS {he['rss_mb_first_last'][0]} →"
            f" {he['rss_mb_first_last'][1]} MB, open files {he['open_fds_first_last'][0]} →"
            f" {he['open_fds_first_last'][1]}, CPU {he['samples'][-1]['cpu_percent']} % of a"
            " core.",
            "",
        ]
    text = "\n".join(lines)
    BENCHMARKS.write_text(text)
    return text
