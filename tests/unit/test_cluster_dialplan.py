"""The cluster's dialplan file and trunk example agree with what coachd does."""

from __future__ import annotations

import configparser
from pathlib import Path

from coachd.cluster.config import ClusterConfig
from coachd.cluster.node import (
    FAILED_ARG,
    GRANT_VARIABLE,
    HANDOFF_CONTEXT,
    HANDOFF_EXTEN,
    SESSION_VARIABLE,
    STASIS_ARG,
    TRUNK_VARIABLE,
)

DIALPLAN = Path(__file__).resolve().parents[2] / "dialplan"
TEXT = (DIALPLAN / "extensions_coachd_cluster.conf").read_text()


def test_the_hand_off_context_dials_the_trunk_with_the_grant_header() -> None:
    assert f"[{HANDOFF_CONTEXT}]" in TEXT
    assert f"exten => {HANDOFF_EXTEN},1,Dial(${{{TRUNK_VARIABLE}}},,b(" in TEXT
    grant = GRANT_VARIABLE.lstrip("_")
    assert f"Set(PJSIP_HEADER(add,X-Coachd-Grant)=${{{grant}}})" in TEXT


def test_a_failed_trunk_call_goes_back_to_coachd_with_the_session_and_dialstatus() -> None:
    assert '$["${DIALSTATUS}" = "ANSWER"]' in TEXT
    assert f"Stasis(coachd,{FAILED_ARG},${{{SESSION_VARIABLE}}},${{DIALSTATUS}})" in TEXT


def test_the_trunk_context_hands_the_grant_to_coachd() -> None:
    default_trunk = ClusterConfig().trunk  # PJSIP/coachd@coachd-{node}: exten "coachd"
    exten = default_trunk.split("/", 1)[1].split("@", 1)[0]
    assert "[coachd-cluster-in]" in TEXT
    assert (
        f"exten => {exten},1,Stasis(coachd,{STASIS_ARG},${{PJSIP_HEADER(read,X-Coachd-Grant)}})"
        in TEXT
    )


def test_the_trunk_example_sends_dtmf_as_rtp_events_into_the_cluster_context() -> None:
    text = (DIALPLAN / "examples/pjsip-cluster-trunk.conf.example").read_text()
    parser = configparser.ConfigParser(comment_prefixes=(";",), strict=False)
    parser.read_string(text.replace("[coachd-pbx2]\ntype = aor", "[aor]\ntype = aor"))
    endpoint = parser["coachd-pbx2"]
    assert endpoint["context"] == "coachd-cluster-in"
    assert endpoint["dtmf_mode"] == "rfc4733"
