"""The coachd database schema: versioned migrations for SQLite and MariaDB/MySQL.

Each migration is a list of statements written once, with a few placeholders
that :func:`statements` fills per dialect (``{pk}``, ``{ts}``, ``{date}``,
``{text}``, ``{real}``, ``{table}``). Statements use ``IF NOT EXISTS`` so a
migration interrupted half-way (MariaDB commits DDL implicitly) can simply be
run again; ``schema_version`` records each version once it is complete.

All timestamps are UTC, stored with millisecond precision.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

Dialect = Literal["sqlite", "mysql"]

# Column sizes: values longer than these are clipped before they are written
# (MariaDB in strict mode would refuse them; SQLite would not check at all).
LIMITS: Mapping[str, int] = {
    "session_id": 64,
    "supervisor": 100,
    "agent": 100,
    "endpoint": 255,
    "mode": 20,
    "reason": 64,
    "instance": 100,
    "cue": 64,
    "source": 20,
}

_TYPES: Mapping[Dialect, Mapping[str, str]] = {
    "sqlite": {
        "pk": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "ts": "TEXT",
        "date": "TEXT",
        "text": "TEXT",
        "real": "REAL",
        "table": "",
    },
    "mysql": {
        "pk": "BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY",
        "ts": "DATETIME(3)",
        "date": "DATE",
        "text": "MEDIUMTEXT",
        "real": "DOUBLE",
        "table": " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    },
}

SCHEMA_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER NOT NULL PRIMARY KEY,"
    " applied_at {ts} NOT NULL"
    "){table}"
)

MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            # One row per coaching session, shaped like the VICIdial guide's
            # vicistack_coaching_log (focus_area, notes and
            # pre_session_conversion are left for people and reports to fill).
            "CREATE TABLE IF NOT EXISTS coachd_coaching_log ("
            " id {pk},"
            " session_id VARCHAR(64) NOT NULL,"
            " coaching_date {date} NOT NULL,"
            " started_at {ts} NOT NULL,"
            " ended_at {ts} NULL,"
            " supervisor VARCHAR(100) NULL,"
            " agent VARCHAR(100) NOT NULL,"
            " endpoint VARCHAR(255) NOT NULL,"
            " initial_mode VARCHAR(20) NOT NULL,"
            " final_mode VARCHAR(20) NOT NULL,"
            " duration_sec {real} NULL,"
            " end_reason VARCHAR(64) NULL,"
            " end_detail {text} NULL,"
            " focus_area VARCHAR(100) NULL,"
            " notes {text} NULL,"
            " pre_session_conversion DECIMAL(6,2) NULL,"
            " instance VARCHAR(100) NOT NULL,"
            " last_seq INTEGER NOT NULL,"
            " CONSTRAINT uq_coachd_coaching_log_session UNIQUE (session_id)"
            "){table}",
            "CREATE INDEX IF NOT EXISTS ix_coachd_coaching_log_date"
            " ON coachd_coaching_log (coaching_date)",
            "CREATE INDEX IF NOT EXISTS ix_coachd_coaching_log_agent"
            " ON coachd_coaching_log (agent)",
            # One row per period spent in one mode.
            "CREATE TABLE IF NOT EXISTS coachd_mode_periods ("
            " id {pk},"
            " session_id VARCHAR(64) NOT NULL,"
            " seq INTEGER NOT NULL,"
            " mode VARCHAR(20) NOT NULL,"
            " started_at {ts} NOT NULL,"
            " ended_at {ts} NULL,"
            " duration_sec {real} NULL,"
            " CONSTRAINT uq_coachd_mode_periods_session_seq UNIQUE (session_id, seq)"
            "){table}",
            "CREATE TABLE IF NOT EXISTS coachd_session_refusals ("
            " id {pk},"
            " session_id VARCHAR(64) NOT NULL,"
            " at {ts} NOT NULL,"
            " supervisor VARCHAR(100) NULL,"
            " agent VARCHAR(100) NOT NULL,"
            " endpoint VARCHAR(255) NOT NULL,"
            " reason VARCHAR(64) NOT NULL,"
            " detail {text} NULL,"
            " instance VARCHAR(100) NOT NULL,"
            " CONSTRAINT uq_coachd_session_refusals_session UNIQUE (session_id)"
            "){table}",
            # Who may coach whom, how (read in VICIdial mode: coachd.vicidial).
            # supervisor: a VICIdial user; modes, agent_groups (VICIdial user
            # groups), campaigns: comma-separated lists (NULL = any).
            "CREATE TABLE IF NOT EXISTS coachd_grants ("
            " id {pk},"
            " supervisor VARCHAR(100) NOT NULL,"
            " modes VARCHAR(255) NOT NULL,"
            " agent_groups {text} NULL,"
            " campaigns {text} NULL,"
            " created_at {ts} NOT NULL"
            "){table}",
            "CREATE INDEX IF NOT EXISTS ix_coachd_grants_supervisor ON coachd_grants (supervisor)",
        ),
    ),
    (
        2,
        (
            # One row per whisper cue played (which, when, by key or API).
            "CREATE TABLE IF NOT EXISTS coachd_cue_uses ("
            " id {pk},"
            " session_id VARCHAR(64) NOT NULL,"
            " seq INTEGER NOT NULL,"
            " at {ts} NOT NULL,"
            " cue VARCHAR(64) NOT NULL,"
            " source VARCHAR(20) NOT NULL,"
            " mode VARCHAR(20) NULL,"
            " CONSTRAINT uq_coachd_cue_uses_session_seq UNIQUE (session_id, seq)"
            "){table}",
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1][0]


def statements(dialect: Dialect, template: str) -> str:
    """``template`` with its type placeholders filled in for ``dialect``."""
    return template.format_map(_TYPES[dialect])


def pending(current: int) -> list[tuple[int, tuple[str, ...]]]:
    """The migrations after version ``current``, in order."""
    return [(version, stmts) for version, stmts in MIGRATIONS if version > current]


def clip(column: str, value: str | None) -> str | None:
    """``value`` cut to the size of ``column`` (unlimited columns pass through)."""
    limit = LIMITS.get(column)
    if value is None or limit is None:
        return value
    return value[:limit]
