"""Where the coaching log is kept: the :class:`Store` Protocol and its implementations.

- :class:`SqliteStore`: an embedded SQLite file (the default, see
  :func:`default_sqlite_path`);
- :class:`MysqlStore`: a MariaDB/MySQL database (e.g. VICIdial's), through a
  small aiomysql pool.

Both apply one :class:`EventRow` per transaction, and applying a row is
idempotent and order-safe: a row applied again, even after later rows of the
same session, changes nothing. That is what lets :class:`~coachd.storage.log.CoachingLog`
replay its spool without losing or duplicating anything.

Errors are two classes: :class:`StoreUnavailable` (the database cannot be
reached or written right now: retry later) and :class:`StoreError` (this row
or request is refused: retrying will not help).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import unquote

import aiosqlite

from coachd.storage import schema
from coachd.storage.errors import StoreError, StoreUnavailable
from coachd.storage.mysql import MysqlPool, MysqlTarget
from coachd.storage.schema import Dialect

RowKind = Literal["started", "mode_changed", "ended", "refused", "cue"]
ROW_KINDS: tuple[RowKind, ...] = ("started", "mode_changed", "ended", "refused", "cue")

TABLES: tuple[str, ...] = (
    "coachd_coaching_log",
    "coachd_mode_periods",
    "coachd_session_refusals",
    "coachd_grants",
    "coachd_cue_uses",
)


@dataclass(frozen=True, slots=True)
class EventRow:
    """One session event, as the store applies it (see the module docstring).

    ``at`` is an aware UTC datetime. ``mode`` is the mode the session is in
    after the event (for ``refused``: none).
    """

    kind: RowKind
    session_id: str
    seq: int
    at: datetime
    instance: str
    agent: str = ""
    supervisor: str | None = None
    endpoint: str = ""
    mode: str | None = None
    reason: str | None = None
    detail: str | None = None
    cue: str | None = None
    source: str | None = None

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EventRow:
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        if values.get("kind") not in ROW_KINDS:
            raise ValueError(f"unknown row kind: {values.get('kind')!r}")
        values["at"] = datetime.fromisoformat(str(values["at"]))
        if values["at"].tzinfo is None:
            values["at"] = values["at"].replace(tzinfo=UTC)
        return cls(**values)


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A ``coachd_coaching_log`` row."""

    session_id: str
    coaching_date: date
    started_at: datetime
    ended_at: datetime | None
    supervisor: str | None
    agent: str
    endpoint: str
    initial_mode: str
    final_mode: str
    duration_sec: float | None
    end_reason: str | None
    end_detail: str | None
    instance: str


@dataclass(frozen=True, slots=True)
class OpenSession:
    """A session the coaching log has as started and not ended."""

    session_id: str
    started_at: datetime
    supervisor: str | None
    agent: str
    endpoint: str
    final_mode: str
    last_seq: int


@dataclass(frozen=True, slots=True)
class PeriodRecord:
    """A ``coachd_mode_periods`` row."""

    session_id: str
    seq: int
    mode: str
    started_at: datetime
    ended_at: datetime | None
    duration_sec: float | None


@dataclass(frozen=True, slots=True)
class CueRecord:
    """A ``coachd_cue_uses`` row."""

    session_id: str
    seq: int
    at: datetime
    cue: str
    source: str
    mode: str | None


@dataclass(frozen=True, slots=True)
class RefusalRecord:
    """A ``coachd_session_refusals`` row."""

    session_id: str
    at: datetime
    supervisor: str | None
    agent: str
    endpoint: str
    reason: str
    detail: str | None
    instance: str


class Store(Protocol):
    """What the coaching log needs from a database."""

    async def upgrade(self) -> int:
        """Create or migrate the schema (idempotent); return the schema version."""
        ...

    async def record(self, row: EventRow) -> None:
        """Apply ``row`` in one transaction; idempotent by (session_id, seq)."""
        ...

    async def session(self, session_id: str) -> SessionRecord | None: ...

    async def periods(self, session_id: str) -> list[PeriodRecord]:
        """The session's mode periods, by seq."""
        ...

    async def refusal(self, session_id: str) -> RefusalRecord | None: ...

    async def cue_uses(self, session_id: str) -> list[CueRecord]:
        """The whisper cues played in a session, in order."""
        ...

    async def counts(self) -> dict[str, int]:
        """Rows per coachd table."""
        ...

    async def open_sessions(self, instance: str) -> list[OpenSession]:
        """Sessions of ``instance`` started and not ended, oldest first."""
        ...

    async def close(self) -> None: ...


# --- shared SQL -------------------------------------------------------------------


class _Cursor(Protocol):
    async def execute(self, sql: str, params: Sequence[object] = ()) -> None: ...
    async def fetchall(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]: ...


def _ms(at: datetime) -> datetime:
    """``at`` as naive UTC, truncated to milliseconds (what the columns hold)."""
    at = at.astimezone(UTC).replace(tzinfo=None)
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def _seconds(start: datetime, end: datetime) -> float:
    return round(max(0.0, (end - start).total_seconds()), 3)


_SESSION_COLUMNS = (
    "session_id, coaching_date, started_at, ended_at, supervisor, agent, endpoint,"
    " initial_mode, final_mode, duration_sec, end_reason, end_detail, instance"
)
_PERIOD_COLUMNS = "session_id, seq, mode, started_at, ended_at, duration_sec"
_REFUSAL_COLUMNS = "session_id, at, supervisor, agent, endpoint, reason, detail, instance"


class _SqlStore:
    """The SQL both dialects share; subclasses provide :meth:`_transaction`."""

    dialect: Dialect

    # --- dialect details --------------------------------------------------------

    def _ts(self, at: datetime) -> object:
        return _ms(at)

    def _from_ts(self, value: object) -> datetime:
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC)
        return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)

    def _from_date(self, value: object) -> date:
        if isinstance(value, date):
            return value
        return date.fromisoformat(str(value))

    def _insert_ignore(self, table: str, columns: Sequence[str]) -> str:
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        if self.dialect == "sqlite":
            return sql + " ON CONFLICT DO NOTHING"
        return sql + f" ON DUPLICATE KEY UPDATE {columns[0]} = {columns[0]}"

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[_Cursor]:
        raise NotImplementedError
        yield  # pragma: no cover

    # --- Store ---------------------------------------------------------------------

    async def upgrade(self) -> int:
        async with self._transaction() as cur:
            await cur.execute(schema.statements(self.dialect, schema.SCHEMA_VERSION_TABLE))
        current = await self.version()
        for version, stmts in schema.pending(current):
            async with self._transaction() as cur:
                for stmt in stmts:
                    await cur.execute(schema.statements(self.dialect, stmt))
                await cur.execute(
                    self._insert_ignore("schema_version", ("version", "applied_at")),
                    (version, self._ts(datetime.now(UTC))),
                )
        return await self.version()

    async def version(self) -> int:
        """The schema version (0: none yet)."""
        async with self._transaction() as cur:
            rows = await cur.fetchall("SELECT MAX(version) FROM schema_version")
        return int(rows[0][0] or 0) if rows else 0

    async def record(self, row: EventRow) -> None:
        async with self._transaction() as cur:
            if row.kind == "started":
                await self._started(cur, row)
            elif row.kind == "mode_changed":
                await self._mode_changed(cur, row)
            elif row.kind == "ended":
                await self._ended(cur, row)
            elif row.kind == "cue":
                await self._cue(cur, row)
            else:
                await self._refused(cur, row)

    async def _started(self, cur: _Cursor, row: EventRow) -> None:
        mode = schema.clip("mode", row.mode or "")
        at = _ms(row.at)
        await cur.execute(
            self._insert_ignore(
                "coachd_coaching_log",
                (
                    "session_id",
                    "coaching_date",
                    "started_at",
                    "supervisor",
                    "agent",
                    "endpoint",
                    "initial_mode",
                    "final_mode",
                    "instance",
                    "last_seq",
                ),
            ),
            (
                schema.clip("session_id", row.session_id),
                at.date().isoformat(),
                self._ts(at),
                schema.clip("supervisor", row.supervisor),
                schema.clip("agent", row.agent),
                schema.clip("endpoint", row.endpoint),
                mode,
                mode,
                schema.clip("instance", row.instance),
                row.seq,
            ),
        )
        await self._open_period(cur, row)

    async def _open_period(self, cur: _Cursor, row: EventRow) -> None:
        await cur.execute(
            self._insert_ignore("coachd_mode_periods", ("session_id", "seq", "mode", "started_at")),
            (
                schema.clip("session_id", row.session_id),
                row.seq,
                schema.clip("mode", row.mode or ""),
                self._ts(row.at),
            ),
        )

    async def _close_periods(self, cur: _Cursor, row: EventRow) -> None:
        """Close the periods opened before ``row`` and still open."""
        session_id = schema.clip("session_id", row.session_id)
        at = _ms(row.at)
        open_rows = await cur.fetchall(
            "SELECT seq, started_at FROM coachd_mode_periods"
            " WHERE session_id = ? AND seq < ? AND ended_at IS NULL",
            (session_id, row.seq),
        )
        for seq, started_at in open_rows:
            start = self._from_ts(started_at).replace(tzinfo=None)
            await cur.execute(
                "UPDATE coachd_mode_periods SET ended_at = ?, duration_sec = ?"
                " WHERE session_id = ? AND seq = ? AND ended_at IS NULL",
                (self._ts(row.at), _seconds(start, at), session_id, seq),
            )

    async def _mode_changed(self, cur: _Cursor, row: EventRow) -> None:
        await self._close_periods(cur, row)
        await self._open_period(cur, row)
        await cur.execute(
            "UPDATE coachd_coaching_log SET final_mode = ?, last_seq = ?"
            " WHERE session_id = ? AND last_seq < ? AND ended_at IS NULL",
            (
                schema.clip("mode", row.mode or ""),
                row.seq,
                schema.clip("session_id", row.session_id),
                row.seq,
            ),
        )

    async def _ended(self, cur: _Cursor, row: EventRow) -> None:
        await self._close_periods(cur, row)
        session_id = schema.clip("session_id", row.session_id)
        found = await cur.fetchall(
            "SELECT started_at FROM coachd_coaching_log WHERE session_id = ? AND ended_at IS NULL",
            (session_id,),
        )
        if not found:
            return  # already ended (a replay), or the start was never logged
        start = self._from_ts(found[0][0]).replace(tzinfo=None)
        await cur.execute(
            "UPDATE coachd_coaching_log"
            " SET ended_at = ?, duration_sec = ?, end_reason = ?, end_detail = ?, last_seq = ?"
            " WHERE session_id = ? AND ended_at IS NULL",
            (
                self._ts(row.at),
                _seconds(start, _ms(row.at)),
                schema.clip("reason", row.reason),
                row.detail,
                row.seq,
                session_id,
            ),
        )

    async def _refused(self, cur: _Cursor, row: EventRow) -> None:
        await cur.execute(
            self._insert_ignore(
                "coachd_session_refusals",
                (
                    "session_id",
                    "at",
                    "supervisor",
                    "agent",
                    "endpoint",
                    "reason",
                    "detail",
                    "instance",
                ),
            ),
            (
                schema.clip("session_id", row.session_id),
                self._ts(row.at),
                schema.clip("supervisor", row.supervisor),
                schema.clip("agent", row.agent),
                schema.clip("endpoint", row.endpoint),
                schema.clip("reason", row.reason or ""),
                row.detail,
                schema.clip("instance", row.instance),
            ),
        )

    async def _cue(self, cur: _Cursor, row: EventRow) -> None:
        await cur.execute(
            self._insert_ignore(
                "coachd_cue_uses", ("session_id", "seq", "at", "cue", "source", "mode")
            ),
            (
                schema.clip("session_id", row.session_id),
                row.seq,
                self._ts(row.at),
                schema.clip("cue", row.cue or ""),
                schema.clip("source", row.source or ""),
                schema.clip("mode", row.mode),
            ),
        )

    async def cue_uses(self, session_id: str) -> list[CueRecord]:
        async with self._transaction() as cur:
            rows = await cur.fetchall(
                "SELECT session_id, seq, at, cue, source, mode FROM coachd_cue_uses"
                " WHERE session_id = ? ORDER BY seq",
                (session_id,),
            )
        return [CueRecord(r[0], int(r[1]), self._from_ts(r[2]), r[3], r[4], r[5]) for r in rows]

    async def open_sessions(self, instance: str) -> list[OpenSession]:
        async with self._transaction() as cur:
            rows = await cur.fetchall(
                "SELECT session_id, started_at, supervisor, agent, endpoint, final_mode, last_seq"
                " FROM coachd_coaching_log WHERE instance = ? AND ended_at IS NULL"
                " ORDER BY started_at, id",
                (schema.clip("instance", instance),),
            )
        return [
            OpenSession(r[0], self._from_ts(r[1]), r[2], r[3], r[4], r[5], int(r[6])) for r in rows
        ]

    async def session(self, session_id: str) -> SessionRecord | None:
        async with self._transaction() as cur:
            rows = await cur.fetchall(
                f"SELECT {_SESSION_COLUMNS} FROM coachd_coaching_log WHERE session_id = ?",
                (session_id,),
            )
        if not rows:
            return None
        r = rows[0]
        return SessionRecord(
            session_id=r[0],
            coaching_date=self._from_date(r[1]),
            started_at=self._from_ts(r[2]),
            ended_at=None if r[3] is None else self._from_ts(r[3]),
            supervisor=r[4],
            agent=r[5],
            endpoint=r[6],
            initial_mode=r[7],
            final_mode=r[8],
            duration_sec=None if r[9] is None else float(r[9]),
            end_reason=r[10],
            end_detail=r[11],
            instance=r[12],
        )

    async def periods(self, session_id: str) -> list[PeriodRecord]:
        async with self._transaction() as cur:
            rows = await cur.fetchall(
                f"SELECT {_PERIOD_COLUMNS} FROM coachd_mode_periods"
                " WHERE session_id = ? ORDER BY seq",
                (session_id,),
            )
        return [
            PeriodRecord(
                session_id=r[0],
                seq=int(r[1]),
                mode=r[2],
                started_at=self._from_ts(r[3]),
                ended_at=None if r[4] is None else self._from_ts(r[4]),
                duration_sec=None if r[5] is None else float(r[5]),
            )
            for r in rows
        ]

    async def refusal(self, session_id: str) -> RefusalRecord | None:
        async with self._transaction() as cur:
            rows = await cur.fetchall(
                f"SELECT {_REFUSAL_COLUMNS} FROM coachd_session_refusals WHERE session_id = ?",
                (session_id,),
            )
        if not rows:
            return None
        r = rows[0]
        return RefusalRecord(
            session_id=r[0],
            at=self._from_ts(r[1]),
            supervisor=r[2],
            agent=r[3],
            endpoint=r[4],
            reason=r[5],
            detail=r[6],
            instance=r[7],
        )

    async def counts(self) -> dict[str, int]:
        result: dict[str, int] = {}
        async with self._transaction() as cur:
            for table in TABLES:  # constant names, not input
                rows = await cur.fetchall(f"SELECT COUNT(*) FROM {table}")
                result[table] = int(rows[0][0])
        return result


# --- SQLite ---------------------------------------------------------------------------


def default_sqlite_path(environ: Mapping[str, str] = os.environ) -> Path:
    """``$STATE_DIRECTORY/coachd.db`` (systemd ``StateDirectory=``), else
    ``$XDG_STATE_HOME/coachd/coachd.db`` or ``~/.local/state/coachd/coachd.db``."""
    state = environ.get("STATE_DIRECTORY")
    if state:
        # systemd may pass several directories, colon-separated: use the first.
        return Path(state.split(":")[0]) / "coachd.db"
    xdg = environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "coachd" / "coachd.db"


class _SqliteCursor:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        await self._conn.execute(sql, tuple(params))

    async def fetchall(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        async with self._conn.execute(sql, tuple(params)) as cursor:
            return [tuple(r) for r in await cursor.fetchall()]


def _sqlite_error(exc: sqlite3.Error) -> StoreError:
    if isinstance(exc, (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.DataError)):
        return StoreError(f"sqlite: {exc}")
    # OperationalError (locked, read-only, cannot open, disk I/O, no such table)
    # and other DatabaseErrors are about the database, not the row.
    return StoreUnavailable(f"sqlite: {exc}")


class SqliteStore(_SqlStore):
    """A SQLite file. The connection is opened on first use and reopened after
    a failure; ``busy_timeout`` is how long a write waits for another writer's lock.
    The directory must exist; the file is created if missing."""

    dialect: Dialect = "sqlite"

    def __init__(self, path: Path, *, busy_timeout: float = 5.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    def _ts(self, at: datetime) -> object:
        return _ms(at).isoformat(sep=" ", timespec="milliseconds")

    async def _connect(self) -> aiosqlite.Connection:
        if self._conn is None:
            conn = await aiosqlite.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None
            )
            try:
                await conn.execute("PRAGMA journal_mode=WAL")
                await conn.execute("PRAGMA synchronous=NORMAL")
            except BaseException:
                await conn.close()
                raise
            self._conn = conn
        return self._conn

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(sqlite3.Error, ValueError):
                await conn.close()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[_Cursor]:
        async with self._lock:
            try:
                conn = await self._connect()
                await conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                await self._drop()
                raise _sqlite_error(exc) from exc
            try:
                yield _SqliteCursor(conn)
                await conn.execute("COMMIT")
            except sqlite3.Error as exc:
                await self._rollback(conn)
                error = _sqlite_error(exc)
                if isinstance(error, StoreUnavailable):
                    await self._drop()
                raise error from exc
            except BaseException:
                await self._rollback(conn)
                raise

    async def _rollback(self, conn: aiosqlite.Connection) -> None:
        try:
            await conn.execute("ROLLBACK")
        except (sqlite3.Error, ValueError):
            await self._drop()

    async def close(self) -> None:
        async with self._lock:
            await self._drop()


# --- MariaDB / MySQL ---------------------------------------------------------------------


class MysqlStore(_SqlStore):
    """A MariaDB/MySQL database through an aiomysql pool (:class:`MysqlPool`),
    created on first use.

    ``timeout`` bounds connecting and each transaction: a database that stops
    answering is reported as :class:`StoreUnavailable`, not waited for.
    """

    dialect: Dialect = "mysql"

    def __init__(self, target: MysqlTarget, *, timeout: float = 10.0, pool_size: int = 2) -> None:
        self.target = target
        self.timeout = timeout
        self.pool_size = pool_size
        self._pool = MysqlPool(target, timeout=timeout, size=pool_size)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[_Cursor]:
        async with self._pool.transaction() as cursor:
            yield cursor

    async def close(self) -> None:
        await self._pool.close()


# --- URLs ---------------------------------------------------------------------------


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///path`` URL; ``sqlite:////abs/path`` (SQLAlchemy's
    spelling of an absolute path) is the same file as ``sqlite:///abs/path``."""
    path = unquote(url[len("sqlite://") :])
    return Path("/" + path.lstrip("/"))


def open_store(url: str | None, **options: Any) -> Store:
    """The store for ``url`` (``mysql://...`` or ``sqlite:///path``; ``None``: the
    default SQLite file). Nothing is connected until first use."""
    if url is None:
        return SqliteStore(default_sqlite_path(), **options)
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return SqliteStore(sqlite_path(url), **options)
    if url.startswith("mysql://"):
        return MysqlStore(MysqlTarget.from_url(url), **options)
    raise ValueError("expected mysql://user:password@host:port/database or sqlite:///path")


def describe(store: Store) -> str:
    """Where ``store`` keeps its data, without credentials (for logs and the CLI)."""
    if isinstance(store, SqliteStore):
        return f"sqlite:///{str(store.path).lstrip('/')}"
    if isinstance(store, MysqlStore):
        t = store.target
        return f"mysql://{t.user}@{t.host}:{t.port}/{t.database}"
    return type(store).__name__


__all__ = [
    "ROW_KINDS",
    "TABLES",
    "EventRow",
    "MysqlStore",
    "MysqlTarget",
    "PeriodRecord",
    "RefusalRecord",
    "RowKind",
    "SessionRecord",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "default_sqlite_path",
    "describe",
    "open_store",
]
