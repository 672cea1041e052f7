"""The coaching log's database: schema, stores (SQLite, MariaDB/MySQL) and the writer."""

from coachd.storage.log import CoachingLog, CoachingLogStats, event_row
from coachd.storage.store import (
    EventRow,
    MysqlStore,
    PeriodRecord,
    RefusalRecord,
    SessionRecord,
    SqliteStore,
    Store,
    StoreError,
    StoreUnavailable,
    default_sqlite_path,
    describe,
    open_store,
)

__all__ = [
    "CoachingLog",
    "CoachingLogStats",
    "EventRow",
    "MysqlStore",
    "PeriodRecord",
    "RefusalRecord",
    "SessionRecord",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "default_sqlite_path",
    "describe",
    "event_row",
    "open_store",
]
