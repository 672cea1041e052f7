"""A small aiomysql pool: ``mysql://`` URLs, transactions with a deadline, error classes.

Shared by the coaching log's :class:`~coachd.storage.store.MysqlStore` and the
VICIdial integration (:mod:`coachd.vicidial`). Statements use ``?`` for
parameters (turned into pymysql's ``%s``); values are always passed
separately, never formatted into the SQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomysql
import pymysql

from coachd.storage.errors import StoreError, StoreUnavailable


@dataclass(frozen=True, slots=True)
class MysqlTarget:
    host: str
    port: int
    user: str
    password: str
    database: str

    @classmethod
    def from_url(cls, url: str) -> MysqlTarget:
        parts = urlsplit(url)
        database = unquote(parts.path.lstrip("/"))
        if parts.scheme != "mysql" or not parts.hostname or not database:
            raise ValueError("expected mysql://user:password@host:port/database")
        return cls(
            host=parts.hostname,
            port=parts.port or 3306,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            database=database,
        )


# Server errors that mean "not now" rather than "not this": lock wait timeout,
# deadlock, read-only, no such table (schema not created yet), server shutdown.
_MYSQL_TRANSIENT = frozenset({1053, 1146, 1205, 1213, 1290, 1836})


def mysql_error(exc: BaseException) -> StoreError:
    """The store error an aiomysql/pymysql failure means."""
    if isinstance(exc, (OSError, asyncio.TimeoutError, pymysql.err.InterfaceError)):
        return StoreUnavailable(f"mysql: {exc!r}")
    if isinstance(exc, pymysql.err.OperationalError):
        return StoreUnavailable(f"mysql: {exc}")
    if isinstance(exc, pymysql.err.MySQLError):
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        if code in _MYSQL_TRANSIENT or code >= 2000:  # 2xxx: client/connection errors
            return StoreUnavailable(f"mysql: {exc}")
        return StoreError(f"mysql: {exc}")
    return StoreUnavailable(f"mysql: {exc!r}")


MYSQL_ERRORS = (pymysql.err.MySQLError, OSError, asyncio.TimeoutError)


class MysqlCursor:
    def __init__(self, cursor: aiomysql.Cursor) -> None:
        self._cursor = cursor

    async def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        await self._cursor.execute(sql.replace("?", "%s"), tuple(params) or None)

    async def fetchall(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        await self._cursor.execute(sql.replace("?", "%s"), tuple(params) or None)
        return [tuple(r) for r in await self._cursor.fetchall()]

    @property
    def rowcount(self) -> int:
        """Rows the last statement changed (matched, for UPDATE: see pymysql)."""
        return int(self._cursor.rowcount)


class MysqlPool:
    """An aiomysql pool, created on first use.

    ``timeout`` bounds connecting and each transaction: a database that stops
    answering is reported as :class:`StoreUnavailable`, not waited for.
    """

    def __init__(self, target: MysqlTarget, *, timeout: float = 10.0, size: int = 2) -> None:
        self.target = target
        self.timeout = timeout
        self.size = size
        self._pool: aiomysql.Pool | None = None
        self._lock = asyncio.Lock()

    async def _get(self) -> aiomysql.Pool:
        async with self._lock:
            if self._pool is None:
                try:
                    self._pool = await asyncio.wait_for(
                        aiomysql.create_pool(
                            host=self.target.host,
                            port=self.target.port,
                            user=self.target.user,
                            password=self.target.password,
                            db=self.target.database,
                            charset="utf8mb4",
                            autocommit=False,
                            connect_timeout=self.timeout,
                            minsize=0,
                            maxsize=self.size,
                            pool_recycle=3600,
                            # "already exists" notes from CREATE ... IF NOT EXISTS
                            # would surface as Python warnings.
                            init_command="SET SESSION sql_notes = 0",
                        ),
                        self.timeout,
                    )
                except MYSQL_ERRORS as exc:
                    raise mysql_error(exc) from exc
            return self._pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[MysqlCursor]:
        """A cursor in a transaction, committed when the block ends without error."""
        pool = await self._get()
        try:
            conn = await asyncio.wait_for(pool.acquire(), self.timeout)
        except MYSQL_ERRORS as exc:
            raise mysql_error(exc) from exc
        try:
            async with asyncio.timeout(self.timeout):
                try:
                    await conn.begin()
                    async with conn.cursor() as cursor:
                        yield MysqlCursor(cursor)
                    await conn.commit()
                except BaseException:
                    await _rollback_or_close(conn)
                    raise
        except MYSQL_ERRORS as exc:
            conn.close()  # a failed connection never goes back to the pool
            raise mysql_error(exc) from exc
        finally:
            pool.release(conn)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
            await pool.wait_closed()


async def _rollback_or_close(conn: aiomysql.Connection) -> None:
    if conn.closed:
        return
    try:
        await asyncio.wait_for(conn.rollback(), 2.0)
    except (*MYSQL_ERRORS, asyncio.CancelledError):
        conn.close()
