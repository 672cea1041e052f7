"""Fixtures for the report tests: a seeded VICIdial database on the real MariaDB
(127.0.0.1:3306, root, no password; never skipped), and the seeded coaching log on
SQLite or MariaDB, through the storage tests' helpers."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from coachd.reports import cli
from coachd.storage.store import MysqlStore, SqliteStore, Store
from tests.storage.conftest import _admin, mysql_database, mysql_target, mysql_url

from . import seed

__all__ = ["mysql_database"]  # the storage tests' fixture, for the coaching log on MariaDB


def _create_database() -> str:
    name = f"coachd_test_{secrets.token_hex(6)}"
    with _admin() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    return name


def _drop_database(name: str) -> None:
    with _admin() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture(scope="module")
def vicidial_db() -> Iterator[str]:
    """A VICIdial database: vicidial_log seeded with :func:`seed.calls`, and the
    status tables with their ``sale`` flags. Yields its name."""
    name = _create_database()
    try:
        with _admin() as conn, conn.cursor() as cur:
            cur.execute(f"USE `{name}`")
            for ddl in (seed.VICIDIAL_LOG, seed.VICIDIAL_STATUSES, seed.VICIDIAL_CAMPAIGN_STATUSES):
                cur.execute(ddl)
            cur.executemany(
                "INSERT INTO vicidial_statuses (status, status_name, selectable, sale)"
                " VALUES (%s, %s, 'Y', %s)",
                seed.STATUSES,
            )
            cur.executemany(
                "INSERT INTO vicidial_campaign_statuses (campaign_id, status, status_name,"
                " selectable, sale) VALUES (%s, %s, %s, 'Y', %s)",
                seed.CAMPAIGN_STATUS_ROWS,
            )
            cur.executemany(seed.INSERT_LOG, seed.log_rows(seed.calls()))
        yield name
    finally:
        _drop_database(name)


@pytest.fixture(scope="module")
def vicidial_url(vicidial_db: str) -> str:
    return mysql_url(vicidial_db)


@pytest.fixture(scope="module")
def bare_vicidial_url(vicidial_db: str) -> Iterator[str]:
    """The same calls in a database without VICIdial's status tables."""
    name = _create_database()
    try:
        with _admin() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE TABLE `{name}`.vicidial_log LIKE `{vicidial_db}`.vicidial_log")
            cur.execute(
                f"INSERT INTO `{name}`.vicidial_log SELECT * FROM `{vicidial_db}`.vicidial_log"
            )
        yield mysql_url(name)
    finally:
        _drop_database(name)


def _seed(store: Store) -> None:
    async def go() -> None:
        try:
            await seed.write_coaching_log(store)
        finally:
            await store.close()

    asyncio.run(go())


@pytest.fixture(params=["sqlite", "mysql"])
def log_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The seeded coaching log (:func:`seed.coaching_rows`) on SQLite or MariaDB, as a URL."""
    if request.param == "sqlite":
        path = tmp_path / "coachd.db"
        _seed(SqliteStore(path))
        return f"sqlite://{path}"
    database: str = request.getfixturevalue("mysql_database")
    _seed(MysqlStore(mysql_target(database)))
    return mysql_url(database)


@pytest.fixture
def sqlite_log_url(tmp_path: Path) -> str:
    """The seeded coaching log on SQLite only (for tests about the VICIdial side)."""
    path = tmp_path / "coachd.db"
    _seed(SqliteStore(path))
    return f"sqlite://{path}"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


Report = Callable[..., Result]


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Report:
    """Run ``coachd report ARGS...`` in this process (``coachd.reports.cli.main``)."""
    monkeypatch.delenv("COACHD_CONFIG", raising=False)

    def run(*args: str) -> Result:
        code = cli.main(["report", *args])
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run
