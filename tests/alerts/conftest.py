"""Fixtures for the alerts against the real MariaDB (127.0.0.1:3306, root, no
password; never skipped) and the real Mosquitto (127.0.0.1:1883).

``alerts_db`` is a throwaway database shaped like VICIdial's (utf8 /
utf8_unicode_ci): ``vicidial_log`` seeded with :mod:`tests.alerts.seed`, the
status tables with their ``sale`` flags (``XSALE`` is a sale in campaign
OTHER only), and coachd's own tables with two ``coachd_grants`` rows. MQTT
tests work under their own random topic prefix and clear what they retained
there; the broker is never stopped or restarted.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Iterator

import pymysql
import pytest

from coachd.storage import schema
from tests.mqtt.conftest import broker_up, clear_retained
from tests.reports import seed as reports_seed
from tests.storage.conftest import HOST, PASSWORD, PORT, USER

from . import seed


def admin(database: str | None = None) -> pymysql.connections.Connection:
    return pymysql.connect(
        host=HOST, port=PORT, user=USER, password=PASSWORD, database=database, autocommit=True
    )


GRANTS = [  # (supervisor, modes, agent_groups, campaigns)
    ("teamlead", "monitor,whisper", "TEAM2", None),
    ("b2blead", "monitor", None, "B2B"),
]


@pytest.fixture(scope="module")
def alerts_db() -> Iterator[str]:
    name = f"coachd_alerts_{secrets.token_hex(6)}"
    with admin() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` DEFAULT CHARACTER SET utf8 COLLATE utf8_unicode_ci")
    try:
        with admin(name) as conn, conn.cursor() as cur:
            for ddl in (
                reports_seed.VICIDIAL_LOG,
                reports_seed.VICIDIAL_STATUSES,
                reports_seed.VICIDIAL_CAMPAIGN_STATUSES,
            ):
                cur.execute(ddl)
            cur.executemany(
                "INSERT INTO vicidial_statuses (status, status_name, selectable, sale)"
                " VALUES (%s, %s, 'Y', %s)",
                [*reports_seed.STATUSES, ("DROP", "Agent Not Available", "N")],
            )
            cur.executemany(
                "INSERT INTO vicidial_campaign_statuses (campaign_id, status, status_name,"
                " selectable, sale) VALUES (%s, %s, %s, 'Y', %s)",
                reports_seed.CAMPAIGN_STATUS_ROWS,
            )
            cur.executemany(seed.INSERT, seed.log_rows())
            for _, stmts in schema.pending(0):  # coachd's tables (coachd db upgrade)
                for stmt in stmts:
                    cur.execute(schema.statements("mysql", stmt))
            cur.executemany(
                "INSERT INTO coachd_grants (supervisor, modes, agent_groups, campaigns,"
                " created_at) VALUES (%s, %s, %s, %s, NOW(3))",
                GRANTS,
            )
        yield name
    finally:
        with admin() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture(scope="module")
def alerts_url(alerts_db: str) -> str:
    return f"mysql://{USER}@{HOST}:{PORT}/{alerts_db}"


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A topic prefix of this test's own; its retained messages are cleared after."""
    if not broker_up():
        pytest.fail(f"no MQTT broker on {HOST}:1883 (these tests do not start or stop it)")
    value = "coachd-test/" + uuid.uuid4().hex[:12]
    yield value
    await clear_retained(value)
