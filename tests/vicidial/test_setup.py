"""VICIdial mode as coachd.app builds it from the configuration."""

from __future__ import annotations

import asyncio
from pathlib import Path

from coachd.config import parse_config
from coachd.core import events as e
from coachd.core.commands import Publish
from coachd.core.modes import Mode
from coachd.vicidial.setup import build

from .conftest import SERVER, FakeAri, Seed, VicidialDb


async def test_the_built_authorizer_and_monitor_log_share_what_the_authorizer_saw(
    seed: Seed, ari: FakeAri, vicidial_db: VicidialDb, tmp_path: Path
) -> None:
    seed.user("sup9", 9, phone_login="sup9")
    seed.phone("2009", "sup9", protocol="SIP")
    seed.phone("2019", "other", server_ip="10.0.0.6")
    seed.grant("sup9", "monitor")
    seed.live_agent("1042", "SIP/1042", lead_id=7)
    ari.call("PJSIP/1042", "chan-1042")
    config = parse_config(
        {
            "ari": {"url": "http://127.0.0.1:8088", "username": "u", "password": "p"},
            "database": {"url": vicidial_db.url()},
            "vicidial": {"enabled": True, "server_ip": SERVER, "timezone": "Europe/Paris"},
        },
        {},
    )
    parts = build(config, ari, tmp_path / "coaching-log.spool.jsonl")  # type: ignore[arg-type]
    try:
        await parts.directory.check_schema()
        assert parts.monitor_log.spool_path == tmp_path / "vicidial-monitor-log.spool.jsonl"
        verdict = await parts.authorizer.authorize("PJSIP/2009", "1042", Mode.MONITOR)
        assert verdict == e.Authorized("sup9", frozenset({Mode.MONITOR}), "chan-1042")
        task = asyncio.create_task(parts.monitor_log.run())
        data = {"session_id": "0123456789ab", "agent": "1042", "endpoint": "PJSIP/2009"}
        parts.monitor_log.enqueue("0123456789ab", Publish("session_started", 1, data))
        await parts.monitor_log.stop(5.0)
        await task
    finally:
        await parts.pool.close()
    [row] = vicidial_db.monitor_rows()
    assert (row["manager_user"], row["lead_id"], row["monitor_type"]) == ("sup9", 7, "LISTEN")
