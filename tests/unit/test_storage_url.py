"""SQLite URLs: three or four slashes name the same absolute file, and the read-only
opening used by reports and the console copes with either."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from coachd.reports.queries import _SqliteSource
from coachd.storage.store import sqlite_path


def test_three_and_four_slashes_name_the_same_file() -> None:
    assert sqlite_path("sqlite:////var/lib/coachd/coachd.db") == Path("/var/lib/coachd/coachd.db")
    assert sqlite_path("sqlite:///var/lib/coachd/coachd.db") == Path("/var/lib/coachd/coachd.db")
    assert sqlite_path("sqlite:///var/lib/with%20space.db") == Path("/var/lib/with space.db")


async def test_a_path_with_a_double_leading_slash_opens_read_only(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
        conn.execute("INSERT INTO t VALUES (7)")
    source = _SqliteSource(Path("/" + str(db)))  # "//tmp/...": what four slashes used to give
    try:
        assert await source.fetchall("SELECT x FROM t", ()) == [(7,)]
    finally:
        await source.close()
