"""``coachd doctor --json`` against the sandbox PBX and its misconfigured endpoints.

sandbox/pbx/pjsip.conf seeds agents 1091-1098 with one bad setting each; the
test configuration adds supervisor far1 on PJSIP/2999, an endpoint that is not
on the PBX. Facts of the sandbox that doctor reports too: Debian's Asterisk
(22.10.1 when written) is older than 22.11, a ``asterisk_version`` warning.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from coachd.ari.client import AriClient
from tests.sandbox.daemon import REPO, SANDBOX_CONFIG
from tests.storage.conftest import mysql_database, mysql_url

__all__ = ["mysql_database"]  # a fixture, used below

COACHD = Path(sys.executable).parent / "coachd"
SEEDED = {
    ("one_way_audio", "PJSIP/1091"): "direct_media",
    ("echo", "PJSIP/1092"): "dtmf_mode",
    ("drops", "PJSIP/1093"): "rtp_timeout",
    ("drops", "PJSIP/1094"): "rtp_timeout_hold",
    ("one_way_audio", "PJSIP/1095"): "rtp_symmetric",
    ("one_way_audio", "PJSIP/1096"): "force_rport",
    ("one_way_audio", "PJSIP/1097"): "rewrite_contact",
    ("one_way_audio", "PJSIP/1098"): "local_net",
    ("latency", "PJSIP/2999"): "not on this Asterisk",
}
CORRECT = ["PJSIP/1042", "PJSIP/1043", "PJSIP/1044", "PJSIP/2004", "PJSIP/carrier"]
SUPERVISORS = ["PJSIP/2001", "PJSIP/2002", "PJSIP/2003"]
FAR_SUPERVISOR = """
[[supervisors]]
user = "far1"
endpoints = ["PJSIP/2999"]
user_level = 8
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "coachd.toml"
    path.write_text(SANDBOX_CONFIG.read_text() + FAR_SUPERVISOR)
    return path


def doctor(*args: str, env: dict[str, str] | None = None) -> tuple[int, list[dict[str, Any]]]:
    result = subprocess.run(
        [str(COACHD), "doctor", "--json", *args],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stderr == ""
    findings: list[dict[str, Any]] = json.loads(result.stdout)
    return result.returncode, findings


async def sandbox_version_warns(pbx: AriClient) -> bool:
    found = re.match(r"(\d+)\.(\d+)", (await pbx.info())["system"]["version"])
    assert found is not None
    return (int(found[1]), int(found[2])) < (22, 11)


async def test_doctor_finds_each_seeded_misconfiguration_on_exactly_its_endpoint(
    pbx: AriClient, config: Path, mysql_database: str
) -> None:
    code, findings = doctor(
        "--config", str(config), env={"COACHD_DATABASE__URL": mysql_url(mysql_database)}
    )

    expected = dict(SEEDED)
    if await sandbox_version_warns(pbx):
        expected[("asterisk_version", "asterisk")] = "22.11"
    wrong = [f for f in findings if f["severity"] != "ok"]
    assert {(f["check"], f["subject"]): f["severity"] for f in wrong} == dict.fromkeys(
        expected, "warning"
    )
    assert len(wrong) == len(expected)  # one finding per seeded setting
    for f in wrong:
        assert expected[(f["check"], f["subject"])] in f["message"] + f["fix"]
    assert code == 2

    checked = {f["subject"]: set() for f in findings}
    for f in findings:
        checked[f["subject"]].add(f["check"])
    for subject in CORRECT:
        assert checked[subject] == {"one_way_audio", "echo", "drops"}, subject
    for subject in SUPERVISORS:
        assert checked[subject] == {"latency", "one_way_audio", "echo", "drops"}, subject
    by_check = {f["check"]: f for f in findings}
    assert by_check["ari"]["message"] == "reachable; user coachd logged in and may write"
    assert by_check["native_rtp"]["message"] == "not loaded"
    assert by_check["mqtt"]["message"] == "connected"
    assert by_check["database"]["message"].startswith("reachable; no tables yet")


async def test_doctor_with_the_dialplan_checks_chanspy_options_and_the_stasis_app(
    pbx: AriClient, config: Path, tmp_path: Path
) -> None:
    custom = tmp_path / "extensions_custom.conf"
    custom.write_text("[spy]\nexten => _*999XXXX,1,ChanSpy(PJSIP/${EXTEN:4},w)\n")
    files = [REPO / "sandbox/pbx/extensions.conf", REPO / "dialplan/extensions_coachd.conf"]

    _, findings = doctor(
        "--config",
        str(config),
        "--endpoint",
        "1042,PJSIP/1091",
        *(arg for f in [*files, custom] for arg in ("--dialplan", str(f))),
    )

    wrong = {(f["check"], f["subject"]) for f in findings if f["severity"] != "ok"}
    wrong.discard(("asterisk_version", "asterisk"))
    assert wrong == {
        ("beep", f"{custom}:2"),
        ("one_way_audio", "PJSIP/1091"),
        ("latency", "PJSIP/2999"),
    }
    [stasis] = [f for f in findings if f["check"] == "stasis_app"]
    assert stasis["message"].startswith("4 Stasis(coachd) calls in the dialplan")
    endpoints = sorted({f["subject"] for f in findings if f["subject"].startswith("PJSIP/")})
    assert endpoints == ["PJSIP/1042", "PJSIP/1091", *SUPERVISORS, "PJSIP/2999"]


async def test_doctor_with_a_wrong_ari_password_reports_only_that_and_exits_1(
    pbx: AriClient,
) -> None:
    code, findings = doctor(
        "--config",
        str(SANDBOX_CONFIG),
        env={"COACHD_ARI__PASSWORD": "wrong", "COACHD_MQTT__URL": "mqtt://127.0.0.1:1"},
    )

    assert code == 1
    assert [(f["check"], f["severity"]) for f in findings] == [
        ("ari", "error"),
        ("mqtt", "warning"),
        ("database", "ok"),
    ]
    assert "refused user coachd" in findings[0]["message"]
