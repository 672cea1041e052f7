"""Storage pieces without a database: event rows, URLs, paths, schema text."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from coachd.core.commands import Publish
from coachd.storage import schema
from coachd.storage.log import event_row
from coachd.storage.store import (
    EventRow,
    MysqlStore,
    MysqlTarget,
    SqliteStore,
    default_sqlite_path,
    describe,
    open_store,
)

AT = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
BASE = {
    "session_id": "abc",
    "agent": "1001",
    "supervisor": "sup1",
    "endpoint": "PJSIP/2001",
    "mode": "monitor",
}


def row(type_: str, seq: int = 1, **data: object) -> EventRow | None:
    return event_row("abc", Publish(type_, seq, {**BASE, **data}), instance="i1", at=AT)


def test_session_started_row() -> None:
    assert row("session_started") == EventRow(
        kind="started",
        session_id="abc",
        seq=1,
        at=AT,
        instance="i1",
        agent="1001",
        supervisor="sup1",
        endpoint="PJSIP/2001",
        mode="monitor",
    )


def test_mode_changed_row_takes_the_new_mode() -> None:
    r = row("mode_changed", 2, before="monitor", after="barge", source="dtmf", mode="barge")
    assert r is not None
    assert (r.kind, r.seq, r.mode, r.reason) == ("mode_changed", 2, "barge", None)


def test_ended_and_refused_rows_carry_reason_and_detail() -> None:
    ended = row("session_ended", 5, reason="error", detail="Play: 500 boom")
    assert ended is not None
    assert (ended.kind, ended.reason, ended.detail) == ("ended", "error", "Play: 500 boom")
    refused = row("session_refused", 2, reason="not_permitted", supervisor=None, mode=None)
    assert refused is not None
    assert (refused.kind, refused.reason, refused.detail) == ("refused", "not_permitted", None)
    assert (refused.supervisor, refused.mode) == (None, None)


@pytest.mark.parametrize("type_", ["mode_refused", "something_new"])
def test_other_events_are_not_logged(type_: str) -> None:
    assert row(type_) is None


def test_session_id_falls_back_to_the_sink_argument() -> None:
    r = event_row(
        "from-session", Publish("session_started", 1, {"mode": "monitor"}), instance="i", at=AT
    )
    assert r is not None and (r.session_id, r.agent, r.endpoint) == ("from-session", "", "")


def test_event_row_json_round_trip() -> None:
    r = row("session_ended", 3, reason="agent_hangup", agent="Zoë 'x'")
    assert r is not None
    assert EventRow.from_json(r.to_json()) == r
    naive = {**r.to_json(), "at": "2026-01-02T03:04:05.678000", "unknown_key": 1}
    assert EventRow.from_json(naive) == r
    with pytest.raises(ValueError, match="unknown row kind"):
        EventRow.from_json({**r.to_json(), "kind": "nope"})


def test_open_store_sqlite(tmp_path: Path) -> None:
    store = open_store(f"sqlite://{tmp_path}/x.db")
    assert isinstance(store, SqliteStore) and store.path == tmp_path / "x.db"
    assert describe(store) == f"sqlite://{tmp_path}/x.db"


def test_open_store_mysql_decodes_and_hides_the_password() -> None:
    store = open_store("mysql://cron:p%40ss%3Aw@db.example:3307/asterisk")
    assert isinstance(store, MysqlStore)
    assert store.target == MysqlTarget("db.example", 3307, "cron", "p@ss:w", "asterisk")
    assert describe(store) == "mysql://cron@db.example:3307/asterisk"
    default_port = open_store("mysql://u@h/db")
    assert isinstance(default_port, MysqlStore) and default_port.target.port == 3306


@pytest.mark.parametrize(
    "url", ["postgres://h/db", "mysql://u@h/", "mysql:///db", "sqlite:///", "sqlite://x"]
)
def test_open_store_refuses_other_urls(url: str) -> None:
    with pytest.raises(ValueError):
        open_store(url)


def test_open_store_default_is_sqlite(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path))
    store = open_store(None)
    assert isinstance(store, SqliteStore) and store.path == tmp_path / "coachd.db"


def test_default_sqlite_path() -> None:
    assert default_sqlite_path({"STATE_DIRECTORY": "/var/lib/coachd"}) == Path(
        "/var/lib/coachd/coachd.db"
    )
    assert default_sqlite_path({"STATE_DIRECTORY": "/a:/b"}) == Path("/a/coachd.db")
    assert default_sqlite_path({"XDG_STATE_HOME": "/x"}) == Path("/x/coachd/coachd.db")
    assert default_sqlite_path({}) == Path.home() / ".local/state/coachd/coachd.db"


@pytest.mark.parametrize("dialect", ["sqlite", "mysql"])
def test_migrations_render_for_each_dialect(dialect: schema.Dialect) -> None:
    texts = [schema.statements(dialect, schema.SCHEMA_VERSION_TABLE)]
    texts += [schema.statements(dialect, s) for _, stmts in schema.MIGRATIONS for s in stmts]
    for text in texts:
        assert not re.search(r"[{}]", text), text
        assert "IF NOT EXISTS" in text
    if dialect == "mysql":
        assert all("utf8mb4" in t for t in texts if t.startswith("CREATE TABLE"))


def test_migration_versions_increase_and_pending() -> None:
    versions = [v for v, _ in schema.MIGRATIONS]
    assert versions == sorted(set(versions)) and versions[0] == 1
    assert [v for v, _ in schema.pending(0)] == versions
    assert schema.pending(schema.LATEST_VERSION) == []


def test_clip() -> None:
    assert schema.clip("agent", "x" * 500) == "x" * schema.LIMITS["agent"]
    assert schema.clip("detail", "x" * 500) == "x" * 500
    assert schema.clip("agent", None) is None
