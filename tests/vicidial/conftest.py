"""Fixtures for VICIdial mode against the real MariaDB (127.0.0.1:3306, root).

``vicidial_db`` is a throwaway database shaped like VICIdial's (utf8 /
utf8_unicode_ci, the tables of ``vicidial_schema.sql``) plus coachd's own
tables (its migrations), created once per test run and dropped at the end;
every test gets it with all tables empty. :class:`Seed` puts users, phones,
groups, shifts, logged-in agents and grants in it.

ARI is a small fake (:class:`FakeAri`): endpoints and their channels, the
only thing the resolvers ask Asterisk.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pymysql
import pytest

from coachd.ari.client import Channel, Endpoint
from coachd.ari.errors import AriNotFound
from coachd.authorize import EndpointResolver
from coachd.core.registry import Registry
from coachd.engine import Engine, FanOut
from coachd.storage import schema
from coachd.storage.mysql import MysqlPool, MysqlTarget
from coachd.vicidial.directory import Directory
from coachd.vicidial.permissions import VicidialAgentResolver, VicidialAuthorizer
from tests.storage.conftest import HOST, PASSWORD, PORT, USER, proxy  # noqa: F401 (a fixture)

SCHEMA = Path(__file__).with_name("vicidial_schema.sql")
SERVER = "10.0.0.5"


def admin(database: str | None = None) -> pymysql.connections.Connection:
    return pymysql.connect(
        host=HOST,
        port=PORT,
        user=USER,
        password=PASSWORD,
        database=database,
        autocommit=True,
        charset="utf8mb4",
    )


def schema_statements() -> list[str]:
    lines = [ln for ln in SCHEMA.read_text().splitlines() if not ln.startswith("--")]
    return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]


@dataclass
class VicidialDb:
    name: str

    def target(self, port: int = PORT) -> MysqlTarget:
        return MysqlTarget(host=HOST, port=port, user=USER, password=PASSWORD, database=self.name)

    def url(self) -> str:
        return f"mysql://{USER}@{HOST}:{PORT}/{self.name}"

    conn: pymysql.connections.Connection | None = None

    def sql(self, query: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        if self.conn is None:
            self.conn = admin(self.name)
        with self.conn.cursor() as cur:
            cur.execute(query, params or None)
            return [tuple(r) for r in cur.fetchall()]

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def monitor_rows(self) -> list[dict[str, object]]:
        names = [r[0] for r in self.sql("SHOW COLUMNS FROM vicidial_rt_monitor_log")]
        rows = self.sql("SELECT * FROM vicidial_rt_monitor_log ORDER BY caller_code")
        return [dict(zip(names, row, strict=True)) for row in rows]


def _create(name: str) -> VicidialDb:
    with admin() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` DEFAULT CHARACTER SET utf8 COLLATE utf8_unicode_ci")
    with admin(name) as conn, conn.cursor() as cur:
        for stmt in schema_statements():
            cur.execute(stmt)
        for _, stmts in schema.pending(0):  # coachd's tables (coachd db upgrade)
            for stmt in stmts:
                cur.execute(schema.statements("mysql", stmt))
    return VicidialDb(name)


def _drop(name: str) -> None:
    with admin() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


def _database() -> Iterator[VicidialDb]:
    """A VICIdial-shaped database of a random name, dropped afterwards."""
    db = _create(f"coachd_vici_{secrets.token_hex(6)}")
    try:
        yield db
    finally:
        db.close()
        _drop(db.name)


@pytest.fixture(scope="session")
def _shared_db() -> Iterator[VicidialDb]:
    yield from _database()


@pytest.fixture
def vicidial_db(_shared_db: VicidialDb) -> VicidialDb:
    """The shared VICIdial-shaped database, emptied for this test."""
    for (table,) in _shared_db.sql("SHOW TABLES"):
        _shared_db.sql(f"DELETE FROM `{table}`")
    return _shared_db


@pytest.fixture
def fresh_vicidial_db() -> Iterator[VicidialDb]:
    """A database of its own, for a test that breaks the schema."""
    yield from _database()


@pytest.fixture
async def pool(vicidial_db: VicidialDb) -> AsyncIterator[MysqlPool]:
    p = MysqlPool(vicidial_db.target(), timeout=2.0)
    try:
        yield p
    finally:
        await p.close()


class Seed:
    """Rows in VICIdial's tables, with VICIdial's defaults for the rest."""

    def __init__(self, db: VicidialDb) -> None:
        self.db = db

    def user(
        self,
        user: str,
        level: int,
        *,
        group: str | None = "SUPERVISORS",
        phone_login: str | None = None,
        active: str = "Y",
        api_access: str = "1",
        api_functions: str = " ALL_FUNCTIONS ",
        shift_override: str = "DISABLED",
        shift_override_flag: str = "0",
    ) -> None:
        self.db.sql(
            "INSERT INTO vicidial_users (user, pass, full_name, user_level, user_group,"
            " phone_login, active, vdc_agent_api_access, api_allowed_functions,"
            " agent_shift_enforcement_override, shift_override_flag)"
            " VALUES (%s, 'x', %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                user,
                user,
                level,
                group,
                phone_login,
                active,
                api_access,
                api_functions,
                shift_override,
                shift_override_flag,
            ),
        )

    def phone(
        self,
        extension: str,
        login: str,
        *,
        protocol: str = "PJSIP",
        server_ip: str = SERVER,
        active: str = "Y",
    ) -> None:
        self.db.sql(
            "INSERT INTO phones (extension, dialplan_number, server_ip, login, pass, active,"
            " protocol) VALUES (%s, %s, %s, %s, 'x', %s, %s)",
            (extension, extension, server_ip, login, active, protocol),
        )

    def group(self, name: str, enforcement: str = "OFF", shifts: str = "") -> None:
        self.db.sql(
            "INSERT INTO vicidial_user_groups (user_group, group_name, shift_enforcement,"
            " group_shifts) VALUES (%s, %s, %s, %s)",
            (name, name, enforcement, shifts),
        )

    def shift(self, shift_id: str, start: str, length: str, weekdays: str = "0123456") -> None:
        self.db.sql(
            "INSERT INTO vicidial_shifts (shift_id, shift_name, shift_start_time, shift_length,"
            " shift_weekdays) VALUES (%s, %s, %s, %s, %s)",
            (shift_id, shift_id, start, length, weekdays),
        )

    def live_agent(
        self,
        user: str,
        extension: str,
        *,
        server_ip: str = SERVER,
        conf_exten: str = "8600051",
        status: str = "INCALL",
        lead_id: int = 4242,
        campaign: str = "TESTCAMP",
        updated: str = "2024-05-06 10:00:00",
    ) -> None:
        self.db.sql(
            "INSERT INTO vicidial_live_agents (user, server_ip, conf_exten, extension, status,"
            " lead_id, campaign_id, last_update_time) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (user, server_ip, conf_exten, extension, status, lead_id, campaign, updated),
        )

    def grant(
        self,
        supervisor: str,
        modes: str = "monitor,whisper,private_whisper,barge",
        *,
        agent_groups: str | None = None,
        campaigns: str | None = None,
    ) -> None:
        self.db.sql(
            "INSERT INTO coachd_grants (supervisor, modes, agent_groups, campaigns, created_at)"
            " VALUES (%s, %s, %s, %s, NOW(3))",
            (supervisor, modes, agent_groups, campaigns),
        )


@pytest.fixture
def seed(vicidial_db: VicidialDb) -> Seed:
    return Seed(vicidial_db)


@dataclass
class FakeAri:
    """Endpoints ("PJSIP/1042") and their channels: what the resolvers look up."""

    endpoints: dict[str, list[str]] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)

    def call(self, endpoint: str, channel_id: str, state: str = "Up") -> None:
        self.endpoints.setdefault(endpoint, []).append(channel_id)
        self.channels[channel_id] = Channel(channel_id, endpoint + "-0001", state, "", "")

    def idle(self, endpoint: str) -> None:
        self.endpoints.setdefault(endpoint, [])

    async def get_endpoint(self, technology: str, resource: str) -> Endpoint:
        name = technology + "/" + resource
        self.lookups.append(name)
        if name not in self.endpoints:
            raise AriNotFound(404, "Endpoint not found", method="GET", path="/endpoints/" + name)
        return Endpoint(technology, resource, "online", tuple(self.endpoints[name]))

    async def get_channel(self, channel_id: str) -> Channel:
        if channel_id not in self.channels:
            raise AriNotFound(404, "Channel not found", method="GET", path="/channels")
        return self.channels[channel_id]


@pytest.fixture
def ari() -> Iterator[FakeAri]:
    yield FakeAri()


def vicidial_engine(pool: MysqlPool, ari: object) -> tuple[Directory, Engine]:
    """An engine authorizing from the VICIdial tables (on ``SERVER``), on ``ari``
    (a fake ARI), publishing nowhere: what the HTTP tests put behind the API."""
    directory = Directory(pool, server_ip=SERVER)
    resolver = VicidialAgentResolver(
        directory,
        ari,  # type: ignore[arg-type]
        fallback=EndpointResolver(ari, ("PJSIP",)),  # type: ignore[arg-type]
    )
    engine = Engine(
        ari=ari,  # type: ignore[arg-type]
        app="coachd",
        registry=Registry(),
        authorizer=VicidialAuthorizer(directory, resolver),
        sink=FanOut(),
    )
    return directory, engine
