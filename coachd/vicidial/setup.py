"""VICIdial mode's parts, built from the configuration (used by :mod:`coachd.app`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from coachd.ari.client import AriClient
from coachd.authorize import EndpointResolver
from coachd.config import Config
from coachd.storage.mysql import MysqlPool, MysqlTarget
from coachd.vicidial.context import ContextBook
from coachd.vicidial.directory import Directory
from coachd.vicidial.monitor_log import MonitorLog
from coachd.vicidial.permissions import Policy, VicidialAgentResolver, VicidialAuthorizer

SPOOL_NAME = "vicidial-monitor-log.spool.jsonl"


@dataclass(frozen=True, slots=True)
class VicidialParts:
    pool: MysqlPool
    directory: Directory
    authorizer: VicidialAuthorizer
    monitor_log: MonitorLog


def build(config: Config, ari: AriClient, coaching_spool: Path) -> VicidialParts:
    """The authorizer and monitor log of VICIdial mode, on ``[database] url``.

    The monitor log's spool sits next to the coaching log's (``coaching_spool``).
    """
    vc = config.vicidial
    assert config.database.url is not None  # checked with the configuration
    pool = MysqlPool(MysqlTarget.from_url(config.database.url), timeout=vc.timeout, size=4)
    technologies = config.ari.endpoint_technologies
    directory = Directory(pool, technologies=technologies, server_ip=vc.server_ip)
    contexts = ContextBook()
    resolver = VicidialAgentResolver(
        directory,
        ari,
        fallback=EndpointResolver(ari, technologies),
        technologies=technologies,
    )
    authorizer = VicidialAuthorizer(
        directory,
        resolver,
        policy=Policy(vc.min_user_level, vc.require_api_access, vc.zone),
        contexts=contexts,
    )
    monitor_log = MonitorLog(
        pool, contexts=contexts, spool_path=coaching_spool.with_name(SPOOL_NAME), zone=vc.zone
    )
    return VicidialParts(pool, directory, authorizer, monitor_log)
