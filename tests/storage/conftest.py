"""Fixtures for the storage tests against real databases.

``store`` is parametrized over every :class:`~coachd.storage.store.Store`
implementation: SQLite on a temporary file and MariaDB on 127.0.0.1:3306
(root, no password), each test in its own database ``coachd_test_<random>``
that is dropped afterwards. Like the MQTT tests these never skip: a MariaDB
that is down is a failure.

:class:`TcpProxy` stands between a store and MariaDB so a test can take the
database away (listener closed, connections cut) and bring it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest

from coachd.storage.store import MysqlStore, MysqlTarget, SqliteStore, Store

HOST = "127.0.0.1"
PORT = 3306
USER = "root"
PASSWORD = ""


def _admin() -> pymysql.connections.Connection:
    return pymysql.connect(host=HOST, port=PORT, user=USER, password=PASSWORD, autocommit=True)


@pytest.fixture
def mysql_database() -> Iterator[str]:
    """A fresh, empty MariaDB database, dropped after the test."""
    name = f"coachd_test_{secrets.token_hex(6)}"
    with _admin() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    try:
        yield name
    finally:
        with _admin() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


def mysql_target(database: str, port: int = PORT, host: str = HOST) -> MysqlTarget:
    return MysqlTarget(host=host, port=port, user=USER, password=PASSWORD, database=database)


def mysql_url(database: str) -> str:
    return f"mysql://{USER}@{HOST}:{PORT}/{database}"


@dataclass
class Backend:
    """How to open one more store on the same database (and how it is named)."""

    name: str
    make: Callable[[], Store]
    sql: Callable[[str], Awaitable[list[tuple[object, ...]]]]
    """Run a read-only query against the database behind the store's back."""


@pytest.fixture(params=["sqlite", "mysql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        path = tmp_path / "coachd.db"

        async def sqlite_sql(query: str) -> list[tuple[object, ...]]:
            with contextlib.closing(sqlite3.connect(path)) as conn:
                return [tuple(r) for r in conn.execute(query).fetchall()]

        return Backend("sqlite", lambda: SqliteStore(path), sqlite_sql)
    database: str = request.getfixturevalue("mysql_database")

    async def mysql_sql(query: str) -> list[tuple[object, ...]]:
        with _admin() as conn, conn.cursor() as cur:
            cur.execute(f"USE `{database}`")
            cur.execute(query)
            return [tuple(r) for r in cur.fetchall()]

    return Backend("mysql", lambda: MysqlStore(mysql_target(database)), mysql_sql)


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    s = backend.make()
    await s.upgrade()
    try:
        yield s
    finally:
        await s.close()


class TcpProxy:
    """A TCP forwarder to MariaDB on a free local port that can be switched off."""

    def __init__(self, target_port: int = PORT) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, HOST, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close the listener and cut every connection: the database is gone."""
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(HOST, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.discard(writer)
        self._writers.discard(up_writer)


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    p = TcpProxy()
    await p.start()
    try:
        yield p
    finally:
        await p.stop()
