"""coachd doctor: checks over collected facts, the dialplan scan, and the report."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from coachd.doctor import report
from coachd.doctor.checks import OPTIONAL_MODULES, REQUIRED_MODULES, run_checks
from coachd.doctor.dialplan import app_calls
from coachd.doctor.facts import AriAccess, DialplanFile, EndpointFacts, Facts, Probe
from coachd.doctor.finding import NOT_CHECKED, Finding

GOOD_SETTINGS = {
    "aors": "1042",
    "transport": "transport-udp",
    "direct_media": "false",
    "rtp_symmetric": "true",
    "force_rport": "true",
    "rewrite_contact": "false",
    "dtmf_mode": "rfc4733",
    "rtp_timeout": "300",
    "rtp_timeout_hold": "600",
}
STATIC_AOR = {"contact": "sip:1042@127.0.0.1:15070", "max_contacts": "1"}
REGISTERING_AOR = {"contact": "", "max_contacts": "1"}
LAN_TRANSPORT = {"external_media_address": "", "local_net": ""}


def agent(name: str = "PJSIP/1042", **settings: str) -> EndpointFacts:
    return EndpointFacts(name, None, True, {**GOOD_SETTINGS, **settings})


def supervisor(name: str = "PJSIP/2001", user: str = "sup1", **settings: str) -> EndpointFacts:
    return EndpointFacts(name, user, True, {**GOOD_SETTINGS, "aors": "2001", **settings})


def facts(*endpoints: EndpointFacts, **changes: Any) -> Facts:
    base = Facts(
        app="coachd",
        technologies=("PJSIP",),
        ari=AriAccess("http://127.0.0.1:8088", "coachd", can_write=True),
        mqtt=Probe("mqtt://127.0.0.1:1883"),
        database=Probe("mysql://coachd@127.0.0.1:3306/coachd", detail="reachable"),
        version="22.11.0",
        modules=dict.fromkeys((*REQUIRED_MODULES, *OPTIONAL_MODULES, "chan_pjsip"), "Running"),
        applications=frozenset(),
        endpoints=endpoints,
        aors={"1042": STATIC_AOR, "2001": STATIC_AOR},
        transports={"transport-udp": LAN_TRANSPORT},
        dialplan=(DialplanFile("extensions.conf", "exten => _*222.,1,Stasis(coachd,monitor)"),),
    )
    return replace(base, **changes)


def problems(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity != "ok"]


def checks_on(findings: list[Finding], subject: str) -> set[str]:
    return {f.check for f in findings if f.subject == subject}


# --- a healthy setup --------------------------------------------------------------------


def test_a_healthy_setup_has_only_ok_findings_covering_every_check() -> None:
    findings = run_checks(facts(supervisor(), agent()))

    assert problems(findings) == []
    assert report.exit_code(findings) == 0
    assert checks_on(findings, "PJSIP/1042") == {"one_way_audio", "echo", "drops"}
    assert checks_on(findings, "PJSIP/2001") == {"latency", "one_way_audio", "echo", "drops"}
    assert {f.check for f in findings} >= {
        "ari",
        "asterisk_version",
        "modules",
        "native_rtp",
        "stasis_app",
        "beep",
        "mqtt",
        "database",
    }


# --- the guide's audio problems, per endpoint -------------------------------------------


@pytest.mark.parametrize(
    ("attribute", "value", "check"),
    [
        ("direct_media", "true", "one_way_audio"),
        ("rtp_symmetric", "false", "one_way_audio"),
        ("force_rport", "no", "one_way_audio"),
        ("dtmf_mode", "info", "echo"),
        ("rtp_timeout", "60", "drops"),
        ("rtp_timeout_hold", "120", "drops"),
    ],
)
def test_a_bad_endpoint_setting_is_one_warning_on_that_endpoint_naming_the_setting(
    attribute: str, value: str, check: str
) -> None:
    findings = run_checks(facts(agent("PJSIP/1042", **{attribute: value}), agent("PJSIP/1043")))

    [found] = problems(findings)
    assert (found.check, found.subject, found.severity) == (check, "PJSIP/1042", "warning")
    assert f"{attribute}=" in found.message
    assert found.fix is not None and found.fix.startswith(attribute)


def test_several_bad_settings_on_one_endpoint_are_separate_findings() -> None:
    findings = run_checks(facts(agent(direct_media="yes", rtp_symmetric="no", dtmf_mode="info")))

    assert sorted((f.check, f.fix) for f in problems(findings)) == [
        ("echo", "dtmf_mode = rfc4733"),
        ("one_way_audio", "direct_media = no"),
        ("one_way_audio", "rtp_symmetric = yes"),
    ]


@pytest.mark.parametrize(
    ("timeout", "hold"), [("0", "0"), ("300", "600"), ("3600", "7200"), ("0", "600")]
)
def test_rtp_timeouts_off_or_at_least_the_guides_values_are_fine(timeout: str, hold: str) -> None:
    findings = run_checks(facts(agent(rtp_timeout=timeout, rtp_timeout_hold=hold)))

    assert problems(findings) == []


def test_rewrite_contact_off_is_a_warning_only_when_the_phone_registers() -> None:
    static = run_checks(facts(agent(rewrite_contact="false")))
    registering = run_checks(facts(agent(rewrite_contact="false"), aors={"1042": REGISTERING_AOR}))
    rewriting = run_checks(facts(agent(rewrite_contact="true"), aors={"1042": REGISTERING_AOR}))

    assert problems(static) == []
    assert [(f.check, f.fix) for f in problems(registering)] == [
        ("one_way_audio", "rewrite_contact = yes")
    ]
    assert problems(rewriting) == []


def test_a_public_media_address_without_local_net_is_one_way_audio_for_its_endpoints() -> None:
    nat = {"external_media_address": "203.0.113.10", "local_net": ""}
    nat_with_lan = {"external_media_address": "203.0.113.10", "local_net": "10.0.0.0/8"}
    findings = run_checks(
        facts(
            agent("PJSIP/1042", transport="t-nat"),
            agent("PJSIP/1043", transport="t-lan"),
            transports={"t-nat": nat, "t-lan": nat_with_lan},
        )
    )

    [found] = problems(findings)
    assert (found.check, found.subject) == ("one_way_audio", "PJSIP/1042")
    assert "local_net" in found.message and "t-nat" in (found.fix or "")


def test_a_supervisor_endpoint_not_on_this_asterisk_is_a_latency_warning() -> None:
    away = EndpointFacts("PJSIP/2999", "far1", present=False)
    findings = run_checks(facts(away))

    [found] = problems(findings)
    assert (found.check, found.subject, found.severity) == ("latency", "PJSIP/2999", "warning")
    assert "far1" in found.message


def test_an_agent_endpoint_asked_for_that_does_not_exist_is_an_error() -> None:
    findings = run_checks(facts(EndpointFacts("PJSIP/9999", None, present=False)))

    [found] = problems(findings)
    assert (found.check, found.subject, found.severity) == ("endpoint", "PJSIP/9999", "error")
    assert report.exit_code(findings) == 1


def test_settings_of_other_technologies_are_reported_as_not_checked() -> None:
    findings = run_checks(facts(EndpointFacts("IAX2/2001", "sup1", present=True)))

    assert problems(findings) == []
    on_it = [f for f in findings if f.subject == "IAX2/2001"]
    assert [f.check for f in on_it] == ["latency", "endpoint"]
    assert on_it[1].message.startswith(NOT_CHECKED)


def test_unreadable_endpoint_settings_are_a_warning_with_the_reason() -> None:
    unreadable = EndpointFacts("PJSIP/1042", None, present=True, error="Object not found")
    [found] = problems(run_checks(facts(unreadable)))

    assert (found.check, found.severity) == ("endpoint", "warning")
    assert "Object not found" in found.message


# --- Asterisk itself --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "severity"),
    [
        ("22.10.1+dfsg+~cs6.17.60671434-1", "warning"),
        ("20.17.0", "warning"),
        ("certified-20.7-cert5", "warning"),
        ("22.11.0", "ok"),
        ("22.11.0-rc1", "ok"),
        ("23.2.0", "ok"),
        ("GIT-master-1234abc", "warning"),
        (None, "warning"),
    ],
)
def test_asterisk_before_22_11_is_a_warning_about_silent_whispers(
    version: str | None, severity: str
) -> None:
    [found] = [f for f in run_checks(facts(version=version)) if f.check == "asterisk_version"]

    assert found.severity == severity
    if severity == "warning":
        assert "22.11" in (found.fix or "")


def test_a_missing_required_module_is_an_error_naming_it() -> None:
    modules = dict.fromkeys((*REQUIRED_MODULES, *OPTIONAL_MODULES, "chan_pjsip"), "Running")
    del modules["res_stasis_snoop"]
    modules["app_stasis"] = "Not Running"

    found = problems(run_checks(facts(modules=modules)))

    assert sorted((f.subject, f.severity) for f in found) == [
        ("app_stasis.so", "error"),
        ("res_stasis_snoop.so", "error"),
    ]
    assert all("load = " in (f.fix or "") for f in found)


def test_chan_pjsip_is_required_only_when_coachd_uses_pjsip() -> None:
    modules = dict.fromkeys((*REQUIRED_MODULES, *OPTIONAL_MODULES), "Running")

    with_pjsip = problems(run_checks(facts(modules=modules)))
    without = problems(run_checks(facts(modules=modules, technologies=("IAX2",))))

    assert [f.subject for f in with_pjsip] == ["chan_pjsip.so"]
    assert without == []


def test_a_missing_optional_module_is_a_warning() -> None:
    modules = dict.fromkeys((*REQUIRED_MODULES, "chan_pjsip"), "Running")

    found = problems(run_checks(facts(modules=modules)))

    assert {(f.subject, f.severity) for f in found} == {
        (m + ".so", "warning") for m in OPTIONAL_MODULES
    }


def test_bridge_native_rtp_loaded_is_a_warning_to_noload_it() -> None:
    modules = dict.fromkeys((*REQUIRED_MODULES, *OPTIONAL_MODULES, "chan_pjsip"), "Running")
    findings = run_checks(facts(modules={**modules, "bridge_native_rtp": "Running"}))

    [found] = problems(findings)
    assert (found.check, found.severity) == ("native_rtp", "warning")
    assert found.fix == "noload => bridge_native_rtp.so in modules.conf"


def test_unlisted_modules_are_a_warning() -> None:
    [found] = problems(run_checks(facts(modules=None, modules_error="403 Forbidden")))

    assert (found.check, found.severity) == ("modules", "warning")
    assert "403 Forbidden" in found.message


# --- ARI access -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("access", "words"),
    [
        (AriAccess("http://h:8088", "coachd", "Authentication required", 401), "refused"),
        (AriAccess("http://h:8088", "coachd", "ClientConnectorError", 0), "cannot connect"),
        (AriAccess("http://h:8088", "coachd", "Not found", 404), "answered 404"),
    ],
)
def test_ari_not_usable_is_an_error_and_nothing_on_asterisk_is_checked(
    access: AriAccess, words: str
) -> None:
    findings = run_checks(facts(agent(), ari=access))

    assert [(f.check, f.severity) for f in findings] == [
        ("ari", "error"),
        ("mqtt", "ok"),
        ("database", "ok"),
    ]
    assert words in findings[0].message
    assert report.exit_code(findings) == 1


def test_a_read_only_ari_user_is_an_error() -> None:
    ari = AriAccess("http://h:8088", "coachd", can_write=False)
    [found] = problems(run_checks(facts(ari=ari)))

    assert (found.check, found.severity) == ("ari", "error")
    assert found.fix == "read_only = no in section [coachd] of ari.conf"


def test_write_access_that_could_not_be_told_is_not_a_problem() -> None:
    findings = run_checks(facts(ari=AriAccess("http://h:8088", "coachd", can_write=None)))

    assert problems(findings) == []


# --- the dialplan: beep and Stasis app ------------------------------------------------------


def dialplan(text: str, path: str = "extensions_custom.conf") -> tuple[DialplanFile, ...]:
    coachd = DialplanFile("extensions_coachd.conf", "exten => _*222.,1,Stasis(coachd,monitor)")
    return (coachd, DialplanFile(path, text))


def test_without_dialplan_files_beep_and_stasis_app_are_reported_not_checked() -> None:
    findings = run_checks(facts(dialplan=None))

    unchecked = [f for f in findings if f.message.startswith(NOT_CHECKED)]
    assert [(f.check, f.severity) for f in unchecked] == [("stasis_app", "ok"), ("beep", "ok")]


@pytest.mark.parametrize(
    "line",
    [
        "exten => _*8881XXX,1,ChanSpy(PJSIP/${EXTEN:4}-,qd)",
        " same => n,chanspy(SIP/${CUT(x,-,1)},Bq)",
        "exten => 8,1,ExtenSpy(${EXTEN}@internal,qv(-1))",
        "; exten => 9,1,ChanSpy(PJSIP/1042,w)",
        "exten => 9,1,NoOp(ChanSpy is not called here)",
    ],
)
def test_quiet_or_commented_out_chanspy_is_fine(line: str) -> None:
    findings = run_checks(facts(dialplan=dialplan(line)))

    assert problems(findings) == []


@pytest.mark.parametrize(
    ("line", "fix"),
    [
        ("exten => 1,1,ChanSpy(PJSIP/1042,w)", "ChanSpy(PJSIP/1042,qw)"),
        ("exten => 1,1,ChanSpy(PJSIP/1042)", "ChanSpy(PJSIP/1042,q)"),
        ("exten => 1,1,ChanSpy", "ChanSpy(,q)"),
        ("exten => 1,1,ChanSpy(PJSIP/1042,g(q1)w)", "ChanSpy(PJSIP/1042,qg(q1)w)"),
        ("exten => 1,1,ExecIf($[1]?ChanSpy(PJSIP/1042,E))", "ChanSpy(PJSIP/1042,qE)"),
    ],
)
def test_chanspy_without_q_is_a_beep_warning_at_its_line(line: str, fix: str) -> None:
    findings = run_checks(facts(dialplan=dialplan("[spy]\n" + line)))

    [found] = problems(findings)
    assert (found.check, found.subject) == ("beep", "extensions_custom.conf:2")
    assert found.fix == "add q to its options: " + fix


def test_chanspy_options_from_a_variable_are_a_warning() -> None:
    [found] = problems(run_checks(facts(dialplan=dialplan("exten => 1,1,ChanSpy(${X},${O})"))))

    assert found.check == "beep"
    assert "variable" in found.message


def test_an_unreadable_dialplan_file_is_a_warning() -> None:
    files = (*dialplan(""), DialplanFile("/etc/asterisk/nope.conf", None, "No such file"))

    [found] = problems(run_checks(facts(dialplan=files)))

    assert (found.check, found.subject) == ("beep", "/etc/asterisk/nope.conf")


def test_a_dialplan_sending_calls_to_another_stasis_app_is_an_error() -> None:
    files = (DialplanFile("x.conf", "exten => _*222.,1,Stasis(coaching,monitor,${EXTEN:4})"),)

    [found] = problems(run_checks(facts(dialplan=files)))

    assert (found.check, found.subject, found.severity) == ("stasis_app", "Stasis(coachd)", "error")
    assert "coaching" in found.message


def test_a_dialplan_without_any_stasis_call_is_a_warning() -> None:
    files = (DialplanFile("x.conf", "exten => 1,1,Dial(PJSIP/1042)"),)

    [found] = problems(run_checks(facts(dialplan=files)))

    assert (found.check, found.severity) == ("stasis_app", "warning")


def test_the_stasis_finding_says_whether_coachd_is_connected_now() -> None:
    now = run_checks(facts(applications=frozenset({"coachd"})))
    not_now = run_checks(facts(applications=frozenset({"other"})))

    [connected] = [f for f in now if f.check == "stasis_app"]
    [absent] = [f for f in not_now if f.check == "stasis_app"]
    assert "registered now" in connected.message
    assert "not registered now" in absent.message
    assert connected.severity == absent.severity == "ok"


def test_dialplan_arguments_split_at_top_level_commas_only() -> None:
    text = "exten => s,1,Stasis(coachd,${CUT(a,-,1)},[x,y])  ; Stasis(commented)\n"

    [call] = app_calls(text, ("stasis",))

    assert (call.line, call.app, call.args) == (1, "Stasis", ("coachd", "${CUT(a,-,1)}", "[x,y]"))


def test_block_comments_are_skipped_and_line_numbers_kept() -> None:
    text = ";-- exten => 1,1,ChanSpy(a)\nstill comment --;\nexten => 2,1,ChanSpy(b,q)\n"

    assert [(c.line, c.args) for c in app_calls(text, ("ChanSpy",))] == [(3, ("b", "q"))]


# --- coachd's connections -----------------------------------------------------------------


def test_mqtt_not_configured_is_fine_and_unreachable_is_a_warning() -> None:
    off = run_checks(facts(mqtt=Probe(None)))
    down = run_checks(facts(mqtt=Probe("mqtt://127.0.0.1:1883", error="refused")))

    assert problems(off) == []
    [found] = problems(down)
    assert (found.check, found.subject, found.severity) == (
        "mqtt",
        "mqtt://127.0.0.1:1883",
        "warning",
    )


def test_an_unreachable_database_is_an_error() -> None:
    down = Probe("mysql://coachd@127.0.0.1:3306/coachd", error="Can't connect")

    [found] = problems(run_checks(facts(database=down)))

    assert (found.check, found.severity) == ("database", "error")
    assert report.exit_code([found]) == 1


# --- the report -------------------------------------------------------------------------


def test_exit_code_is_0_when_all_ok_2_with_warnings_only_1_with_any_error() -> None:
    ok = Finding("echo", "PJSIP/1042", "ok", "dtmf_mode=rfc4733")
    warning = Finding("echo", "PJSIP/1043", "warning", "dtmf_mode=info", "dtmf_mode = rfc4733")
    error = Finding("ari", "http://h", "error", "refused", "fix it")

    assert report.exit_code([ok]) == 0
    assert report.exit_code([ok, warning]) == 2
    assert report.exit_code([ok, warning, error]) == 1


def test_json_is_a_list_of_findings_with_the_documented_keys() -> None:
    findings = run_checks(facts(agent(dtmf_mode="info")))

    data = json.loads(report.to_json(findings))

    assert isinstance(data, list) and len(data) == len(findings)
    assert all(set(d) == {"check", "subject", "severity", "message", "fix"} for d in data)
    assert {
        "check": "echo",
        "subject": "PJSIP/1042",
        "severity": "warning",
        "message": findings[[f.severity for f in findings].index("warning")].message,
        "fix": "dtmf_mode = rfc4733",
    } in data


def test_text_shows_problems_with_their_fix_and_lists_healthy_subjects_in_one_line() -> None:
    findings = run_checks(facts(agent("PJSIP/1042", dtmf_mode="info"), agent("PJSIP/1043")))

    text = report.to_text(findings)

    assert "PJSIP/1042\n  WARNING   echo: dtmf_mode=info" in text
    assert "fix: dtmf_mode = rfc4733" in text
    assert "PJSIP/1043" in text.split("\nok: ", 1)[1]
    assert text.splitlines()[-1] == "0 errors, 1 warnings, 13 ok (exit 2: warnings only)"


def test_text_shows_checks_that_were_not_made() -> None:
    text = report.to_text(run_checks(facts(dialplan=None)))

    assert "  unchecked beep: ARI cannot read the dialplan" in text
