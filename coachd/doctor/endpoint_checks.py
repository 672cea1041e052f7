"""Checks of one agent's or supervisor's endpoint: the guide's audio problems.

``one_way_audio`` (direct media, NAT settings), ``echo`` (SIP INFO DTMF),
``latency`` (a supervisor's endpoint on another server), ``drops`` (RTP
timeouts), and ``endpoint`` (missing, unreadable, or not PJSIP).
"""

from __future__ import annotations

from collections.abc import Mapping

from coachd.doctor.facts import EndpointFacts, Facts, Settings
from coachd.doctor.finding import NOT_CHECKED, Finding

MIN_RTP_TIMEOUT = {"rtp_timeout": 300, "rtp_timeout_hold": 600}
"""The guide's values: below them, a listening supervisor's call may drop."""


def check_endpoint(endpoint: EndpointFacts, facts: Facts) -> list[Finding]:
    name, supervisor = endpoint.name, endpoint.supervisor
    if not endpoint.present and supervisor is not None:
        return [
            Finding(
                "latency",
                name,
                "warning",
                f"supervisor {supervisor}'s endpoint is not on this Asterisk: a call from it "
                "crosses another server (an extra hop for the audio), and reaches coachd from "
                "a trunk, not from this endpoint",
                "register the supervisor's phone on the Asterisk that carries the agents' calls",
            )
        ]
    if not endpoint.present:
        return [
            Finding(
                "endpoint",
                name,
                "error",
                "no such endpoint on this Asterisk",
                "check the name (TECH/resource, e.g. PJSIP/1042) and that its channel driver "
                "is loaded",
            )
        ]
    findings: list[Finding] = []
    if supervisor is not None:
        findings.append(
            Finding("latency", name, "ok", f"supervisor {supervisor}'s endpoint is on this server")
        )
    if endpoint.technology != "PJSIP":
        message = NOT_CHECKED + "coachd doctor reads the settings of PJSIP endpoints only"
        return [*findings, Finding("endpoint", name, "ok", message)]
    if endpoint.settings is None:
        message = f"cannot read its settings: {endpoint.error}"
        return [*findings, Finding("endpoint", name, "warning", message)]
    settings = endpoint.settings
    findings += check_one_way_audio(name, settings, facts.aors, facts.transports)
    findings += check_echo(name, settings)
    findings += check_drops(name, settings)
    return findings


def check_one_way_audio(
    name: str,
    settings: Settings,
    aors: Mapping[str, Settings],
    transports: Mapping[str, Settings],
) -> list[Finding]:
    problems: list[tuple[str, str]] = []
    if _yes(settings.get("direct_media", "no")):
        problems.append(
            (
                "direct_media=yes: when Asterisk bridges natively, the phones send RTP to each "
                "other, around Asterisk, where a snoop cannot hear it",
                "direct_media = no",
            )
        )
    for attr, what in (
        (
            "rtp_symmetric",
            "Asterisk sends RTP to the address in the phone's SDP, not where its RTP comes "
            "from (nat=comedia); behind NAT, the phone hears nothing",
        ),
        (
            "force_rport",
            "replies go to the port in Via, not the port the request came from; behind NAT, "
            "they get lost",
        ),
    ):
        if not _yes(settings.get(attr, "yes")):
            problems.append((f"{attr}=no: {what}", f"{attr} = yes"))
    if not _yes(settings.get("rewrite_contact", "yes")) and _registers(settings, aors):
        problems.append(
            (
                "rewrite_contact=no and its phone registers: behind NAT it registers a private "
                "address Asterisk cannot reach",
                "rewrite_contact = yes",
            )
        )
    transport_id = settings.get("transport", "")
    transport = transports.get(transport_id, {})
    if transport.get("external_media_address") and not transport.get("local_net"):
        problems.append(
            (
                f"its transport {transport_id} has external_media_address "
                f"{transport['external_media_address']} but no local_net: phones on the "
                "server's own network are told to send their RTP to the public address",
                f"local_net = <your LAN, e.g. 10.0.0.0/8> on transport {transport_id}",
            )
        )
    if not problems:
        attrs = ("direct_media", "rtp_symmetric", "force_rport", "rewrite_contact")
        message = ", ".join(f"{a}={settings.get(a, '?')}" for a in attrs)
        return [Finding("one_way_audio", name, "ok", message)]
    return [Finding("one_way_audio", name, "warning", m, fix) for m, fix in problems]


def _registers(settings: Settings, aors: Mapping[str, Settings]) -> bool:
    """Some AOR of the endpoint has no static contact: its phone registers."""
    ids = [a.strip() for a in settings.get("aors", "").split(",") if a.strip()]
    return any(a in aors and not aors[a].get("contact") for a in ids)


def check_echo(name: str, settings: Settings) -> list[Finding]:
    mode = settings.get("dtmf_mode", "")
    if mode != "info":
        return [Finding("echo", name, "ok", f"dtmf_mode={mode}")]
    return [
        Finding(
            "echo",
            name,
            "warning",
            "dtmf_mode=info: SIP INFO DTMF can cause audio artifacts (echo, doubled voice) "
            "while spying",
            "dtmf_mode = rfc4733",
        )
    ]


def check_drops(name: str, settings: Settings) -> list[Finding]:
    findings: list[Finding] = []
    for attr, minimum in MIN_RTP_TIMEOUT.items():
        seconds = _int(settings.get(attr, "0"))
        if 0 < seconds < minimum:
            when = " on hold" if attr == "rtp_timeout_hold" else ""
            findings.append(
                Finding(
                    "drops",
                    name,
                    "warning",
                    f"{attr}={seconds}: Asterisk hangs up a call{when} that receives no RTP for "
                    f"{seconds} s; a phone that only listens may send none (silence suppression)",
                    f"{attr} = {minimum}",
                )
            )
    if not findings:
        values = ", ".join(f"{a}={settings.get(a, '?')}" for a in MIN_RTP_TIMEOUT)
        findings.append(Finding("drops", name, "ok", values))
    return findings


def _yes(value: str) -> bool:
    return value.strip().lower() in {"yes", "true", "on", "1"}


def _int(value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        return 0
