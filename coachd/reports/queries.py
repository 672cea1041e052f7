"""The reports' SQL: VICIdial's ``vicidial_log`` and status tables, coachd's coaching log.

Both are read only. Every value is a parameter (``?``); the SQL text holds
nothing but fixed table and column names and one ``?`` per value.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import aiosqlite

from coachd.reports.compute import (
    DEFAULT_SALE_STATUSES,
    AgentCount,
    CallCount,
    CoachingSession,
    DayRange,
    ModePeriod,
    ReportError,
    SaleRule,
)
from coachd.storage.errors import StoreError
from coachd.storage.mysql import MysqlPool, MysqlTarget
from coachd.storage.schema import Dialect
from coachd.storage.store import MysqlStore, SqliteStore, open_store

QUERY_TIMEOUT = 120.0
"""Seconds a report's queries may take (``vicidial_log`` is large)."""

Row = tuple[Any, ...]


def _marks(values: Collection[object]) -> str:
    return ", ".join("?" for _ in values)


# --- VICIdial ---------------------------------------------------------------------------


class VicidialDatabase:
    """VICIdial's MariaDB/MySQL database (``mysql://...``), read only."""

    def __init__(self, url: str, *, timeout: float = QUERY_TIMEOUT) -> None:
        if not url.startswith("mysql://"):
            raise ReportError("VICIdial's database must be a mysql://user:pass@host:port/db URL")
        self._pool = MysqlPool(MysqlTarget.from_url(url), timeout=timeout, size=1)

    async def _fetch(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        try:
            async with self._pool.transaction() as cur:
                return await cur.fetchall(sql, params)
        except StoreError as exc:
            raise ReportError(f"VICIdial database: {exc}") from exc

    async def sale_rule(self, statuses: Sequence[str] | None = None) -> SaleRule:
        """``statuses`` when given; else the ``sale='Y'`` flags of
        ``vicidial_statuses`` and ``vicidial_campaign_statuses`` when those tables
        (with their ``sale`` column) exist; else ``SALE``."""
        if statuses:
            return SaleRule.of(statuses, source="option")
        found = await self._fetch(
            "SELECT TABLE_NAME FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME = ? AND TABLE_NAME IN (?, ?)",
            ("sale", "vicidial_statuses", "vicidial_campaign_statuses"),
        )
        tables = {str(r[0]) for r in found}
        if not tables:
            return SaleRule.of(DEFAULT_SALE_STATUSES, source="default")
        system: list[str] = []
        campaigns: list[tuple[str, str]] = []
        if "vicidial_statuses" in tables:
            rows = await self._fetch("SELECT status FROM vicidial_statuses WHERE sale = ?", ("Y",))
            system = [str(r[0]) for r in rows if r[0]]
        if "vicidial_campaign_statuses" in tables:
            rows = await self._fetch(
                "SELECT campaign_id, status FROM vicidial_campaign_statuses WHERE sale = ?", ("Y",)
            )
            campaigns = [(str(r[0] or ""), str(r[1])) for r in rows if r[1]]
        return SaleRule.of(system, campaigns, source="vicidial_statuses")

    async def call_counts(
        self, window: DayRange, *, user: str | None = None, campaign: str | None = None
    ) -> list[CallCount]:
        """Calls with ``length_in_sec > 0`` in ``window``, by day, campaign and status."""
        sql = (
            "SELECT DATE(call_date), campaign_id, status, COUNT(*), SUM(length_in_sec)"
            " FROM vicidial_log"
            " WHERE call_date >= ? AND call_date < ? AND length_in_sec > 0"
        )
        params: list[object] = [window.start, window.end]
        if user is not None:
            sql += " AND user = ?"
            params.append(user)
        if campaign is not None:
            sql += " AND campaign_id = ?"
            params.append(campaign)
        sql += " GROUP BY DATE(call_date), campaign_id, status"
        return [
            CallCount(
                day=_date(r[0]),
                campaign_id=str(r[1] or ""),
                status=str(r[2] or ""),
                calls=int(r[3]),
                talk_sec=int(r[4] or 0),
            )
            for r in await self._fetch(sql, params)
        ]

    async def agent_counts(
        self,
        since: datetime,
        until: datetime,
        *,
        campaigns: Collection[str] = (),
        exclude_users: Collection[str] = (),
    ) -> list[AgentCount]:
        """Calls with ``length_in_sec > 0`` and ``since <= call_date < until``
        (naive VICIdial wall-clock times), by user, campaign, status and user
        group; only of ``campaigns`` when given; without ``exclude_users`` and
        rows with no user."""
        sql = (
            "SELECT user, campaign_id, status, user_group, COUNT(*) FROM vicidial_log"
            " WHERE call_date >= ? AND call_date < ? AND length_in_sec > 0"
            " AND user IS NOT NULL AND user <> ?"
        )
        params: list[object] = [since, until, ""]
        if campaigns:
            sql += f" AND campaign_id IN ({_marks(campaigns)})"
            params.extend(campaigns)
        if exclude_users:
            sql += f" AND user NOT IN ({_marks(exclude_users)})"
            params.extend(exclude_users)
        sql += " GROUP BY user, campaign_id, status, user_group"
        return [
            AgentCount(
                user=str(r[0]),
                campaign_id=str(r[1] or ""),
                status=str(r[2] or ""),
                user_group=None if r[3] is None or r[3] == "" else str(r[3]),
                calls=int(r[4]),
            )
            for r in await self._fetch(sql, params)
        ]

    async def campaign_users(self, window: DayRange, campaign: str) -> set[str]:
        """The users with a call (``length_in_sec > 0``) in ``campaign`` in ``window``."""
        rows = await self._fetch(
            "SELECT DISTINCT user FROM vicidial_log"
            " WHERE call_date >= ? AND call_date < ? AND length_in_sec > 0 AND campaign_id = ?",
            (window.start, window.end, campaign),
        )
        return {str(r[0]) for r in rows if r[0]}

    async def close(self) -> None:
        await self._pool.close()


def _date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


# --- the coaching log ---------------------------------------------------------------------


class _Source(Protocol):
    dialect: Dialect

    async def fetchall(self, sql: str, params: Sequence[object]) -> list[Row]: ...

    async def close(self) -> None: ...


class _SqliteSource:
    """A SQLite coaching log opened read-only (the daemon may be writing it)."""

    dialect: Dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: aiosqlite.Connection | None = None

    async def fetchall(self, sql: str, params: Sequence[object]) -> list[Row]:
        try:
            if self._conn is None:
                if not self.path.is_file():
                    raise ReportError(f"no coaching log at {self.path}")
                # A URI path never starts with "//" (that would be an authority).
                uri = f"file:{quote('/' + str(self.path.resolve()).lstrip('/'))}?mode=ro"
                self._conn = await aiosqlite.connect(uri, uri=True)
            async with self._conn.execute(sql, tuple(params)) as cursor:
                return [tuple(r) for r in await cursor.fetchall()]
        except sqlite3.Error as exc:
            raise ReportError(f"coaching log {self.path}: {exc}") from exc

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()


class _MysqlSource:
    dialect: Dialect = "mysql"

    def __init__(self, target: MysqlTarget, timeout: float) -> None:
        self._pool = MysqlPool(target, timeout=timeout, size=1)

    async def fetchall(self, sql: str, params: Sequence[object]) -> list[Row]:
        try:
            async with self._pool.transaction() as cur:
                return await cur.fetchall(sql, params)
        except StoreError as exc:
            raise ReportError(f"coaching log: {exc}") from exc

    async def close(self) -> None:
        await self._pool.close()


class CoachingLogDatabase:
    """coachd's coaching log (``coachd_coaching_log``, ``coachd_mode_periods``), read only."""

    def __init__(self, source: _Source) -> None:
        self._source = source

    @classmethod
    def open(cls, url: str | None, *, timeout: float = QUERY_TIMEOUT) -> CoachingLogDatabase:
        """The log at ``url``, read as ``coachd run`` writes it (``None``: the
        default SQLite file)."""
        store = open_store(url)
        if isinstance(store, SqliteStore):
            return cls(_SqliteSource(store.path))
        assert isinstance(store, MysqlStore)
        return cls(_MysqlSource(store.target, timeout))

    def _ts(self, at: datetime) -> object:
        """An aware time as the columns hold it: naive UTC, milliseconds."""
        at = at.astimezone(UTC).replace(tzinfo=None)
        at = at.replace(microsecond=at.microsecond // 1000 * 1000)
        if self._source.dialect == "sqlite":
            return at.isoformat(sep=" ", timespec="milliseconds")
        return at

    @staticmethod
    def _from_ts(value: object) -> datetime:
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC)
        return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)

    def _opt_ts(self, value: object) -> datetime | None:
        return None if value is None else self._from_ts(value)

    async def sessions(
        self,
        *,
        agents: Collection[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[CoachingSession]:
        """Sessions started in ``[since, until)`` (open ends: no bound), of
        ``agents`` (``None``: any), by start time."""
        sql = (
            "SELECT session_id, agent, supervisor, started_at, ended_at"
            " FROM coachd_coaching_log WHERE 1 = 1"
        )
        params: list[object] = []
        if agents is not None:
            if not agents:
                return []
            sql += f" AND agent IN ({_marks(agents)})"
            params.extend(agents)
        if since is not None:
            sql += " AND started_at >= ?"
            params.append(self._ts(since))
        if until is not None:
            sql += " AND started_at < ?"
            params.append(self._ts(until))
        sql += " ORDER BY started_at, session_id"
        return [
            CoachingSession(
                session_id=str(r[0]),
                agent=str(r[1]),
                supervisor=None if r[2] is None else str(r[2]),
                started_at=self._from_ts(r[3]),
                ended_at=self._opt_ts(r[4]),
            )
            for r in await self._source.fetchall(sql, params)
        ]

    async def periods(self, since: datetime, until: datetime) -> list[ModePeriod]:
        """Mode periods overlapping ``[since, until)``, and every period without an
        end started before ``until``, with their session's supervisor."""
        sql = (
            "SELECT p.session_id, l.supervisor, p.mode, p.started_at, p.ended_at"
            " FROM coachd_mode_periods p"
            " LEFT JOIN coachd_coaching_log l ON l.session_id = p.session_id"
            " WHERE p.started_at < ? AND (p.ended_at IS NULL OR p.ended_at > ?)"
            " ORDER BY p.started_at, p.session_id, p.seq"
        )
        rows = await self._source.fetchall(sql, (self._ts(until), self._ts(since)))
        return [
            ModePeriod(
                session_id=str(r[0]),
                supervisor=None if r[1] is None else str(r[1]),
                mode=str(r[2]),
                started_at=self._from_ts(r[3]),
                ended_at=self._opt_ts(r[4]),
            )
            for r in rows
        ]

    async def close(self) -> None:
        await self._source.close()
