"""The dialplan examples say what the installed feature-code file says."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

DIALPLAN = Path(__file__).resolve().parents[2] / "dialplan"
EXTEN = re.compile(r"^exten => (\S+?),1,Stasis\(([^)]*)\)$", re.MULTILINE)


def feature_codes(text: str) -> dict[str, str]:
    return dict(EXTEN.findall(text))


def test_vicidial_custom_dialplan_entry_has_the_same_feature_codes_as_the_include() -> None:
    installed = feature_codes((DIALPLAN / "extensions_coachd.conf").read_text())
    vicidial = feature_codes((DIALPLAN / "examples/vicidial-custom-dialplan.conf").read_text())
    assert installed == vicidial
    assert set(installed.values()) == {
        "coachd,monitor,${EXTEN:4}",
        "coachd,whisper,${EXTEN:4}",
        "coachd,barge,${EXTEN:4}",
        "coachd,private_whisper,${EXTEN:4}",
    }


def test_freepbx_example_includes_the_feature_code_context_that_exists() -> None:
    text = (DIALPLAN / "examples/freepbx-extensions_custom.conf").read_text()
    assert "#include extensions_coachd.conf" in text
    (context,) = re.findall(r"^include => (\S+)$", text, re.MULTILINE)
    assert "[" + context + "]" in (DIALPLAN / "extensions_coachd.conf").read_text()


def test_ari_and_http_examples_define_what_coachd_connects_to() -> None:
    ari = configparser.ConfigParser(inline_comment_prefixes=(";",), comment_prefixes=(";",))
    ari.read(DIALPLAN / "examples/ari.conf.example")
    assert ari["coachd"]["type"] == "user"
    assert ari["coachd"]["read_only"] == "no"  # coachd creates snoops and bridges
    http = configparser.ConfigParser(comment_prefixes=(";",))
    http.read(DIALPLAN / "examples/http.conf.example")
    assert http["general"]["enabled"] == "yes"
    assert http["general"]["bindport"] == "8088"  # the [ari] url in examples/coachd.toml
    assert "http://127.0.0.1:8088" in (DIALPLAN.parent / "examples/coachd.toml").read_text()
