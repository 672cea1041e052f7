"""Collect :class:`~coachd.doctor.facts.Facts`: Asterisk over ARI, MQTT, the database.

Everything is read with coachd's own configuration and credentials. The only
request that is not a GET is ``DELETE /ari/channels/<random id>`` on a
channel that cannot exist: 404 shows the ARI user may write, 403 that it is
``read_only``.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pymysql

from coachd.ari.client import AriClient
from coachd.ari.errors import AriError, AriNotFound
from coachd.config import Config, DatabaseConfig, MqttConfig
from coachd.config_checks import mask_url
from coachd.doctor.facts import AriAccess, DialplanFile, EndpointFacts, Facts, Probe, Settings
from coachd.mqtt.publisher import Broker, probe
from coachd.storage.store import (
    MysqlStore,
    MysqlTarget,
    SqliteStore,
    StoreError,
    describe,
    open_store,
)

_NO_SCHEMA = 1146  # MySQL: table doesn't exist


async def gather(
    config: Config, *, agents: Sequence[str] = (), dialplan: Sequence[Path] | None = None
) -> Facts:
    """``agents``: endpoints to check as agents' (``TECH/resource`` or a bare resource);
    empty: every endpoint of ``ari.endpoint_technologies`` that is no supervisor's."""
    timeout = config.ari.connect_timeout
    mqtt = asyncio.create_task(probe_mqtt(config.mqtt, timeout))
    database = asyncio.create_task(probe_database(config.database, timeout))
    try:
        asterisk = await _asterisk(config, agents)
    finally:
        await asyncio.wait([mqtt, database])  # each bounded by ``timeout``
    files = None if dialplan is None else tuple(read_dialplan(p) for p in dialplan)
    return replace(asterisk, mqtt=mqtt.result(), database=database.result(), dialplan=files)


async def _asterisk(config: Config, agents: Sequence[str]) -> Facts:
    cfg = config.ari
    access = AriAccess(url=mask_url(cfg.url), username=cfg.username)
    facts = Facts(
        app=cfg.app,
        technologies=cfg.endpoint_technologies,
        ari=access,
        mqtt=Probe(None),
        database=Probe(None),
    )
    async with AriClient(
        url=cfg.url, username=cfg.username, password=cfg.password, timeout=cfg.request_timeout
    ) as ari:
        try:
            info = await ari.info()
        except AriError as exc:
            return replace(facts, ari=replace(access, error=exc.message, status=exc.status))
        try:
            listed = await ari.request("GET", "/asterisk/modules")
            modules: dict[str, str] | None = {
                str(m["name"]).removesuffix(".so"): str(m.get("status", "")) for m in listed
            }
            modules_error = None
        except AriError as exc:
            modules, modules_error = None, str(exc)
        endpoints = await _endpoints(ari, config, agents)
        aors, transports = await _pjsip_objects(ari, endpoints)
        return replace(
            facts,
            ari=replace(access, can_write=await _can_write(ari)),
            version=str((info.get("system") or {}).get("version", "")) or None,
            modules=modules,
            modules_error=modules_error,
            applications=await _applications(ari),
            endpoints=endpoints,
            aors=aors,
            transports=transports,
        )


async def _can_write(ari: AriClient) -> bool | None:
    try:
        await ari.request("DELETE", "/channels/coachd-doctor-probe-" + uuid.uuid4().hex)
    except AriNotFound:
        return True
    except AriError as exc:
        return False if exc.status == 403 else None
    return None


async def _applications(ari: AriClient) -> frozenset[str] | None:
    try:
        return frozenset(str(a["name"]) for a in await ari.request("GET", "/applications"))
    except AriError:
        return None


async def _endpoints(
    ari: AriClient, config: Config, agents: Sequence[str]
) -> tuple[EndpointFacts, ...]:
    technologies = config.ari.endpoint_technologies
    owners = {e: s.user for s in config.supervisors for e in s.endpoints}
    wanted = [a if "/" in a else f"{technologies[0]}/{a}" for a in agents]
    techs = sorted({*technologies, *(n.partition("/")[0] for n in (*owners, *wanted))})
    listings = await asyncio.gather(*(_resources(ari, t) for t in techs))
    on_asterisk = {
        f"{t}/{r}" for t, resources in zip(techs, listings, strict=True) for r in resources
    }
    if not agents:
        wanted = sorted(n for n in on_asterisk if n.partition("/")[0] in technologies)
    names = dict.fromkeys([*owners, *(n for n in wanted if n not in owners)])
    return tuple(
        await asyncio.gather(*(_endpoint(ari, n, owners.get(n), n in on_asterisk) for n in names))
    )


async def _resources(ari: AriClient, technology: str) -> list[str]:
    try:
        listed = await ari.request("GET", "/endpoints/" + quote(technology, safe=""))
    except AriNotFound:  # "invalid tech": no channel driver of that name loaded
        return []
    return [str(e.get("resource", "")) for e in listed]


async def _endpoint(
    ari: AriClient, name: str, supervisor: str | None, present: bool
) -> EndpointFacts:
    endpoint = EndpointFacts(name=name, supervisor=supervisor, present=present)
    if not present or endpoint.technology != "PJSIP":
        return endpoint
    try:
        settings = await _pjsip(ari, "endpoint", endpoint.resource)
    except AriError as exc:
        return replace(endpoint, error=exc.message)
    return replace(endpoint, settings=settings)


async def _pjsip(ari: AriClient, kind: str, object_id: str) -> Settings:
    """A res_pjsip object's attributes from ARI's dynamic configuration."""
    path = f"/asterisk/config/dynamic/res_pjsip/{kind}/{quote(object_id, safe='')}"
    attributes: list[dict[str, Any]] = await ari.request("GET", path)
    return {str(a["attribute"]): str(a.get("value", "")) for a in attributes}


async def _pjsip_objects(
    ari: AriClient, endpoints: Iterable[EndpointFacts]
) -> tuple[dict[str, Settings], dict[str, Settings]]:
    """The AORs and transports the endpoints use, by id (those that could be read)."""
    settings = [e.settings for e in endpoints if e.settings is not None]
    aor_ids = sorted({a.strip() for s in settings for a in s.get("aors", "").split(",")} - {""})
    transport_ids = sorted({s.get("transport", "") for s in settings} - {""})
    aors, transports = await asyncio.gather(
        _objects(ari, "aor", aor_ids), _objects(ari, "transport", transport_ids)
    )
    return aors, transports


async def _objects(ari: AriClient, kind: str, ids: Sequence[str]) -> dict[str, Settings]:
    results = await asyncio.gather(*(_pjsip(ari, kind, i) for i in ids), return_exceptions=True)
    found: dict[str, Settings] = {}
    for object_id, result in zip(ids, results, strict=True):
        if isinstance(result, AriError):
            continue
        if isinstance(result, BaseException):
            raise result
        found[object_id] = result
    return found


def read_dialplan(path: Path) -> DialplanFile:
    try:
        return DialplanFile(str(path), path.read_text(encoding="utf-8", errors="replace"))
    except OSError as exc:
        return DialplanFile(str(path), None, exc.strerror or str(exc))


# --- coachd's own connections --------------------------------------------------------


async def probe_mqtt(config: MqttConfig, timeout: float) -> Probe:
    """Connect and disconnect, under a client id of its own (never the daemon's)."""
    if config.url is None:
        return Probe(None)
    broker = Broker.from_config(config)
    error = await probe(broker, f"coachd-doctor-{os.getpid()}", timeout)
    if error is not None:
        return Probe(mask_url(config.url), error=error)
    return Probe(mask_url(config.url))


async def probe_database(config: DatabaseConfig, timeout: float) -> Probe:
    """MariaDB/MySQL: connect and read the schema version. SQLite: not opened (that
    would create the file), only whether it exists."""
    url = config.url
    if url is None:
        return Probe(None, detail="coachd keeps its coaching log in an embedded SQLite file")
    if not url.startswith("mysql://"):
        store = open_store(url)
        assert isinstance(store, SqliteStore)
        exists = "exists" if store.path.exists() else "is created at start"
        return Probe(describe(store), detail=f"SQLite file {exists} (not opened)")
    try:
        mysql = MysqlStore(MysqlTarget.from_url(url), timeout=timeout)
    except ValueError as exc:
        return Probe(mask_url(url), error=str(exc))
    try:
        version = await mysql.version()
    except StoreError as exc:
        if not _missing_schema(exc):
            return Probe(describe(mysql), error=str(exc))
        return Probe(describe(mysql), detail="reachable; no tables yet (coachd run creates them)")
    finally:
        await mysql.close()
    return Probe(describe(mysql), detail=f"reachable, schema version {version}")


def _missing_schema(exc: StoreError) -> bool:
    cause = exc.__cause__
    return isinstance(cause, pymysql.err.MySQLError) and cause.args[:1] == (_NO_SCHEMA,)
