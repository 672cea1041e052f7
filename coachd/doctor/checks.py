"""The doctor's checks: pure functions from :class:`~coachd.doctor.facts.Facts` to findings.

Check names (``Finding.check``) are stable: ``ari``, ``asterisk_version``,
``modules``, ``native_rtp``, ``stasis_app``, ``beep``, per endpoint
``one_way_audio``, ``echo``, ``latency`` (supervisors), ``drops`` and
``endpoint``, then ``mqtt`` and ``database``. A check that could not be made
is an ``ok`` finding whose message starts with :data:`NOT_CHECKED`.
"""

from __future__ import annotations

import re

from coachd.doctor.dialplan import app_calls, chanspy_options
from coachd.doctor.endpoint_checks import check_endpoint
from coachd.doctor.facts import AriAccess, DialplanFile, Facts, Probe
from coachd.doctor.finding import NOT_CHECKED, Finding

WHISPER_FIXED_IN = (22, 11)
"""Asterisk 22.11: whispers are heard without other audio flowing (asterisk/asterisk#1966)."""
REQUIRED_MODULES = (
    "res_ari",
    "res_ari_asterisk",
    "res_ari_events",
    "res_ari_channels",
    "res_ari_bridges",
    "res_ari_endpoints",
    "res_stasis",
    "app_stasis",
    "res_stasis_snoop",
    "bridge_simple",
    "bridge_softmix",
)
OPTIONAL_MODULES = {
    "res_stasis_playback": "the end tone",
    "res_ari_playbacks": "the end tone",
    "func_volume": "the supervisor's listening volume (#)",
}


def run_checks(facts: Facts) -> list[Finding]:
    findings = [check_ari(facts.ari)]
    if facts.ari.error is None:
        findings.append(check_version(facts.version))
        findings += check_modules(facts)
        findings.append(check_stasis_app(facts.app, facts.applications, facts.dialplan))
        findings += check_beep(facts.dialplan)
        for endpoint in facts.endpoints:
            findings += check_endpoint(endpoint, facts)
    findings.append(check_mqtt(facts.mqtt))
    findings.append(check_database(facts.database))
    return findings


# --- Asterisk ------------------------------------------------------------------------


def check_ari(ari: AriAccess) -> Finding:
    user = ari.username
    if ari.error is None and ari.can_write is False:
        return Finding(
            "ari",
            ari.url,
            "error",
            f"ARI user {user} is read_only: coachd can look but not answer, snoop or bridge",
            f"read_only = no in section [{user}] of ari.conf",
        )
    if ari.error is None:
        rights = "may write" if ari.can_write else "(could not tell whether it may write)"
        return Finding("ari", ari.url, "ok", f"reachable; user {user} logged in and {rights}")
    if ari.status == 401:
        return Finding(
            "ari",
            ari.url,
            "error",
            f"Asterisk refused user {user}: ari.username or ari.password is wrong",
            "use the name of a type = user section of ari.conf and its password",
        )
    where = "cannot connect" if ari.status == 0 else f"answered {ari.status}"
    return Finding(
        "ari",
        ari.url,
        "error",
        f"{where}: {ari.error}; nothing on Asterisk was checked",
        "http.conf: enabled = yes, bindaddr and bindport as in ari.url; "
        "ari.conf: enabled = yes; module res_ari loaded",
    )


def check_version(version: str | None) -> Finding:
    found = re.search(r"(\d+)\.(\d+)", version or "")
    if version is None or found is None:
        return Finding(
            "asterisk_version",
            "asterisk",
            "warning",
            f"cannot tell from the version {version!r} whether whispers work without other audio",
            "run Asterisk 22.11 or later",
        )
    if (int(found[1]), int(found[2])) >= WHISPER_FIXED_IN:
        return Finding("asterisk_version", "asterisk", "ok", f"Asterisk {version}")
    return Finding(
        "asterisk_version",
        "asterisk",
        "warning",
        f"Asterisk {version}: a whisper is mixed into the audio Asterisk sends the agent, so "
        "it is silent while nothing else is sent (the caller's side sends no RTP: silence "
        "suppression, hold); fixed in 22.11 (asterisk/asterisk#1966)",
        "upgrade to Asterisk 22.11 or later",
    )


def check_modules(facts: Facts) -> list[Finding]:
    modules = facts.modules
    if modules is None:
        return [
            Finding(
                "modules",
                "asterisk",
                "warning",
                f"could not list the loaded modules: {facts.modules_error}",
                "give the ARI user access to GET /ari/asterisk/modules",
            )
        ]
    loaded = {name for name, status in modules.items() if status.lower() == "running"}
    required = REQUIRED_MODULES + (("chan_pjsip",) if "PJSIP" in facts.technologies else ())
    findings = [
        Finding("modules", name + ".so", "error", "not loaded: coachd needs it", _load(name))
        for name in required
        if name not in loaded
    ]
    findings += [
        Finding("modules", name + ".so", "warning", f"not loaded: no {use}", _load(name))
        for name, use in OPTIONAL_MODULES.items()
        if name not in loaded
    ]
    if not findings:
        findings.append(Finding("modules", "asterisk", "ok", "the modules coachd uses are loaded"))
    findings.append(check_native_rtp(loaded))
    return findings


def _load(module: str) -> str:
    return f"load = {module}.so in modules.conf (or: module load {module}.so)"


def check_native_rtp(loaded: set[str]) -> Finding:
    if "bridge_native_rtp" not in loaded:
        return Finding("native_rtp", "bridge_native_rtp.so", "ok", "not loaded")
    return Finding(
        "native_rtp",
        "bridge_native_rtp.so",
        "warning",
        "loaded: a snoop moves a natively bridged call to core bridging and both legs "
        "restart their RTP streams; an Asterisk-based far end (trunk peer, SBC) drops the "
        "restarted stream, and caller and agent stop hearing each other (README, Native RTP "
        "bridging)",
        "noload => bridge_native_rtp.so in modules.conf",
    )


def check_stasis_app(
    app: str, applications: frozenset[str] | None, dialplan: tuple[DialplanFile, ...] | None
) -> Finding:
    subject = f"Stasis({app})"
    now = ""
    if applications is not None:
        now = (
            "; registered now (a coachd is connected)"
            if app in applications
            else ("; not registered now (no coachd connected under this name)")
        )
    if dialplan is None:
        return Finding(
            "stasis_app",
            subject,
            "ok",
            NOT_CHECKED + f"whether the dialplan sends the feature codes to Stasis({app}) "
            "(give --dialplan)" + now,
        )
    names = [
        call.args[0]
        for file in dialplan
        for call in app_calls(file.text or "", ("Stasis",))
        if call.args
    ]
    if app in names:
        return Finding(
            "stasis_app",
            subject,
            "ok",
            f"{names.count(app)} Stasis({app}) calls in the dialplan" + now,
        )
    if any("$" in name for name in names):
        return Finding(
            "stasis_app",
            subject,
            "ok",
            NOT_CHECKED + "the dialplan's Stasis() application names come from variables" + now,
        )
    if names:
        return Finding(
            "stasis_app",
            subject,
            "error",
            f"the dialplan sends calls to Stasis({', '.join(sorted(set(names)))}), none to "
            f"coachd's ari.app {app!r}",
            "make the first argument of Stasis() in extensions_coachd.conf and ari.app the same",
        )
    return Finding(
        "stasis_app",
        subject,
        "warning",
        "no Stasis() call in the dialplan files given: the feature codes are not there",
        "install dialplan/extensions_coachd.conf (README, Install) or give the file with it",
    )


def check_beep(dialplan: tuple[DialplanFile, ...] | None) -> list[Finding]:
    if dialplan is None:
        return [
            Finding(
                "beep",
                "dialplan",
                "ok",
                NOT_CHECKED + "ARI cannot read the dialplan; give its files with --dialplan "
                "(e.g. /etc/asterisk/extensions*.conf) or run: asterisk -rx 'dialplan show' "
                "| grep -i chanspy (coachd's own snoops never beep)",
            )
        ]
    findings: list[Finding] = []
    spies = 0
    for file in dialplan:
        if file.text is None:
            findings.append(
                Finding("beep", file.path, "warning", f"cannot read: {file.error}", None)
            )
            continue
        for call in app_calls(file.text, ("ChanSpy", "ExtenSpy")):
            spies += 1
            options = chanspy_options(call)
            written = f"{call.app}({','.join(call.args)})"
            subject = f"{file.path}:{call.line}"
            if "$" in options:
                message = f"{written}: options from a variable, cannot tell whether q is set"
                fix = "make sure its options include q"
            elif "q" not in options:
                message = f"{written} without q: the agent hears a beep when spying starts"
                raw = call.args[1] if len(call.args) > 1 else ""
                fix = (
                    f"add q to its options: {call.app}({call.args[0] if call.args else ''},q{raw})"
                )
            else:
                continue
            findings.append(Finding("beep", subject, "warning", message, fix))
    if not findings:
        message = f"{spies} ChanSpy/ExtenSpy calls in {len(dialplan)} files, all with q"
        findings.append(Finding("beep", "dialplan", "ok", message))
    return findings


# --- coachd's own connections --------------------------------------------------------


def check_mqtt(probe: Probe) -> Finding:
    if probe.target is None:
        return Finding("mqtt", "mqtt", "ok", "not configured ([mqtt] url): no events published")
    if probe.error is None:
        return Finding("mqtt", probe.target, "ok", "connected")
    return Finding(
        "mqtt",
        probe.target,
        "warning",
        f"cannot connect: {probe.error}; coachd coaches anyway and queues its events",
        "check [mqtt] url, username and password, and that the broker runs",
    )


def check_database(probe: Probe) -> Finding:
    if probe.target is None:
        return Finding("database", "database", "ok", f"not configured: {probe.detail}")
    if probe.error is None:
        return Finding("database", probe.target, "ok", probe.detail or "reachable")
    return Finding(
        "database",
        probe.target,
        "error",
        f"cannot connect: {probe.error}; coachd run exits at start",
        "check [database] url and that the database runs",
    )
