"""The coachd command line, in-process and as ``python -m coachd``."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

import coachd
from coachd.__main__ import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "coachd.toml"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("COACHD_") or name == "CREDENTIALS_DIRECTORY":
            monkeypatch.delenv(name)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith("COACHD_") and k != "CREDENTIALS_DIRECTORY"
    }
    return subprocess.run(
        [sys.executable, "-m", "coachd", *args],
        cwd=ROOT,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "coachd.toml"
    path.write_text(text)
    return path


# --- in-process ------------------------------------------------------------------


def test_version_prints_name_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"coachd {coachd.__version__}"


def test_check_config_prints_redacted_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    assert data["ari"]["password"] == "********"
    assert [s["user"] for s in data["supervisors"]] == ["sup1", "sup2"]
    assert "CHANGE-ME" not in out


def test_check_config_reads_path_from_coachd_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COACHD_CONFIG", str(EXAMPLE))
    assert main(["check-config"]) == 0
    assert json.loads(capsys.readouterr().out)["instance"] == "coachd-1"


def test_check_config_without_any_path_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("coachd: config error: ")
    assert "COACHD_CONFIG" in err


def test_check_config_names_bad_key_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, '[ari]\nurl = "ftp://x"\nusername = "u"\npassword = "p"\n')
    assert main(["check-config", "--config", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == "coachd: config error: ari.url: not an http(s) URL: 'ftp://x'"


def test_check_config_missing_file_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", "--config", str(tmp_path / "absent.toml")]) == 1
    assert "config file not found" in capsys.readouterr().err


def test_check_config_toml_syntax_error_gives_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "[ari\n")
    assert main(["check-config", "--config", str(path)]) == 1
    assert "line 1, column" in capsys.readouterr().err


def test_missing_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage:" in capsys.readouterr().err


def test_run_with_bad_config_exits_1_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "coachd.app", None)  # importing would fail loudly
    path = write(tmp_path, '[ari]\nurl = "http://x"\nusername = "u"\n')
    assert main(["run", "--config", str(path)]) == 1
    assert "ari.password: required key missing" in capsys.readouterr().err


# --- as a subprocess -------------------------------------------------------------


def test_subprocess_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"coachd {coachd.__version__}"


def test_subprocess_check_config_succeeds_on_example() -> None:
    result = run_cli("check-config", "--config", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ari"]["url"] == "http://127.0.0.1:8088"
    assert data["ari"]["password"] == "********"


def test_subprocess_check_config_failure_names_key() -> None:
    result = run_cli(
        "check-config", "--config", str(EXAMPLE), env={"COACHD_POLICY__KEYMAP": "nonsense"}
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("coachd: config error: policy.keymap:")


def test_subprocess_secrets_are_not_printed(tmp_path: Path) -> None:
    (tmp_path / "mqtt.password").write_text("cred-hunter2\n")
    result = run_cli(
        "check-config",
        "--config",
        str(EXAMPLE),
        env={
            "COACHD_ARI__PASSWORD": "ari-hunter2",
            "COACHD_MQTT__PASSWORD": "mqtt-hunter2",
            "CREDENTIALS_DIRECTORY": str(tmp_path),
        },
    )
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["ari"]["password"] == "********"
    assert data["mqtt"]["password"] == "********"


def test_notify_agent_is_accepted_and_shown_with_its_media() -> None:
    result = run_cli(
        "check-config",
        "--config",
        str(EXAMPLE),
        env={"COACHD_POLICY__NOTIFY_AGENT": "true"},
    )
    assert result.returncode == 0, result.stderr
    policy = json.loads(result.stdout)["policy"]
    assert (policy["notify_agent"], policy["notify_agent_media"]) == (True, "sound:beep")


def test_run_exits_with_the_reason_when_the_database_is_unreachable() -> None:
    result = run_cli(
        "run",
        "--config",
        str(EXAMPLE),
        env={"COACHD_DATABASE__URL": "mysql://root@127.0.0.1:1/nowhere"},
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("coachd: mysql:")


# --- coachd doctor ---------------------------------------------------------------


def test_doctor_json_reports_unreachable_ari_and_database_as_errors_and_exits_1(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        '[ari]\nurl = "http://127.0.0.1:1"\nusername = "coachd"\npassword = "hunter2"\n'
        '[database]\nurl = "mysql://root:hunter2@127.0.0.1:1/coachd"\n',
    )
    result = run_cli("doctor", "--config", str(path), "--json")

    assert result.returncode == 1, result.stderr
    findings = json.loads(result.stdout)
    assert [(f["check"], f["subject"], f["severity"]) for f in findings] == [
        ("ari", "http://127.0.0.1:1", "error"),
        ("mqtt", "mqtt", "ok"),
        ("database", "mysql://root@127.0.0.1:1/coachd", "error"),
    ]
    assert "hunter2" not in result.stdout + result.stderr


def test_doctor_text_ends_with_the_counts_and_exit_code(tmp_path: Path) -> None:
    path = write(tmp_path, '[ari]\nurl = "http://127.0.0.1:1"\nusername = "u"\npassword = "p"\n')
    result = run_cli("doctor", "--config", str(path))

    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == "1 errors, 0 warnings, 2 ok (exit 1: errors)"


def test_doctor_with_a_bad_config_exits_1_with_the_key() -> None:
    result = run_cli("doctor", "--config", str(EXAMPLE), env={"COACHD_ARI__URL": "ftp://x"})

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("coachd: config error: ari.url")
