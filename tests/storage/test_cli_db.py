"""``coachd db upgrade`` as a subprocess, against SQLite and MariaDB."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pymysql

from coachd.storage import schema

from .conftest import HOST, PASSWORD, PORT, USER, mysql_url

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = f"schema version {schema.LATEST_VERSION}"
TABLES = {
    "schema_version",
    "coachd_coaching_log",
    "coachd_mode_periods",
    "coachd_session_refusals",
    "coachd_cue_uses",
    "coachd_grants",
}


def coachd(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith("COACHD_")}
    return subprocess.run(
        [sys.executable, "-m", "coachd", *args],
        cwd=ROOT,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_db_upgrade_sqlite_twice(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "coachd.db"
    for _ in range(2):
        result = coachd("db", "upgrade", "--url", f"sqlite://{path}")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(EXPECTED + " ")
        assert result.stderr == ""
    with sqlite3.connect(path) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        versions = conn.execute("SELECT version FROM schema_version").fetchall()
    assert names - {"sqlite_sequence"} == TABLES
    assert versions == [(v,) for v, _ in schema.MIGRATIONS]


def test_db_upgrade_mysql_twice(mysql_database: str) -> None:
    for _ in range(2):
        result = coachd("db", "upgrade", "--url", mysql_url(mysql_database))
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"{EXPECTED} ({mysql_url(mysql_database)})"
    conn = pymysql.connect(
        host=HOST, port=PORT, user=USER, password=PASSWORD, database=mysql_database
    )
    with conn, conn.cursor() as cur:
        cur.execute("SHOW TABLES")
        assert {r[0] for r in cur.fetchall()} == TABLES


def test_db_upgrade_defaults_to_the_state_directory(tmp_path: Path) -> None:
    config = tmp_path / "coachd.toml"
    config.write_text('[ari]\nurl = "http://127.0.0.1:8088"\nusername = "u"\npassword = "p"\n')
    state = tmp_path / "state"
    result = coachd("db", "upgrade", "--config", str(config), env={"STATE_DIRECTORY": str(state)})
    assert result.returncode == 0, result.stderr
    assert (state / "coachd.db").exists()
    assert str(state / "coachd.db") in result.stdout


def test_db_upgrade_errors_exit_1(tmp_path: Path) -> None:
    bad = coachd("db", "upgrade", "--url", "postgres://x/y")
    assert (bad.returncode, bad.stdout) == (1, "")
    assert "database error" in bad.stderr
    down = coachd("db", "upgrade", "--url", "mysql://root:secret@127.0.0.1:1/x")
    assert down.returncode == 1
    assert "secret" not in down.stderr
    missing = coachd("db", "upgrade", "--config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 1
    assert "config error" in missing.stderr
