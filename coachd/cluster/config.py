"""The ``[cluster]`` section: coaching across Asterisk servers (off by default).

Kept here like :mod:`coachd.alerts.config`: only :mod:`coachd.config_checks`
and :mod:`coachd.errors` are imported, so :mod:`coachd.config` can import it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coachd import config_checks as chk
from coachd.errors import ConfigError

if TYPE_CHECKING:
    from coachd.config import Config

MIN_SECRET_LENGTH = 32
_NODE_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _node(value: str) -> None:
    if value and not _NODE_RE.fullmatch(value):
        raise ValueError(f"must match [A-Za-z0-9_.-]{{1,64}}, got {value!r}")


def _secret(value: str) -> None:
    if len(value) < MIN_SECRET_LENGTH:
        raise ValueError(f"needs at least {MIN_SECRET_LENGTH} characters")


def _trunk(value: str) -> None:
    chk.nonempty(value)
    if "{node}" not in value or "/" not in value or "," in value:
        raise ValueError(
            f"expected a Dial() target with {{node}}, e.g. 'PJSIP/coachd@coachd-{{node}}', "
            f"got {value!r}"
        )


def _patterns(value: tuple[str, ...]) -> None:
    for pattern in value:
        if "/" not in pattern:
            raise ValueError(f"expected TECH/pattern (e.g. 'PJSIP/13*'), got {pattern!r}")


def _f(default: Any, check: Any = None, redact: Any = None) -> Any:
    return field(default=default, metadata={"check": check, "redact": redact})


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """A supervisor on one node coaches an agent on another (README "Multi-server")."""

    enabled: bool = False
    node: str = _f("", _node)
    """This node's name in the cluster; empty: the ``instance`` name."""
    secret: str | None = _f(None, _secret, chk.mask)
    """Shared by every node: signs the grants (HMAC-SHA256). A credential."""
    topic_prefix: str = _f("coachd-cluster", chk.topic_prefix)
    """Shared by every node: the directory lives under it."""
    trunk: str = _f("PJSIP/coachd@coachd-{node}", _trunk)
    """Where a supervisor's call is sent for an agent on ``{node}`` (a Dial() target)."""
    trunk_endpoints: tuple[str, ...] = _f((), chk.endpoints)
    """This node's endpoints of the trunks from the other nodes: calls from them
    are never agents' calls, and only they may carry a grant."""
    agent_endpoints: tuple[str, ...] = _f((), _patterns)
    """Endpoints published as agents (fnmatch, ``PJSIP/13*``); () any that is
    not a supervisor's or a trunk's."""
    grant_ttl: float = _f(15.0, chk.positive)
    """Seconds a signed grant may be used for (the trunk call must arrive by then)."""
    directory_interval: float = _f(1.0, chk.positive)
    """Seconds between two looks at the agents on calls here."""

    def node_name(self, instance: str) -> str:
        return self.node or instance

    def trunk_for(self, node: str) -> str:
        return self.trunk.replace("{node}", node)


def check_cluster(config: Config) -> None:
    cluster = config.cluster
    if not cluster.enabled:
        return
    if cluster.secret is None:
        raise ConfigError(
            "the cluster's shared secret is required (a credential: cluster.secret)",
            key="cluster.secret",
        )
    if config.vicidial.enabled:
        raise ConfigError(
            "not supported with vicidial.enabled yet (agents are found by endpoint)",
            key="cluster.enabled",
        )
    if not config.mqtt.enabled:
        raise ConfigError("the cluster's directory is on MQTT: set mqtt.url", key="cluster.enabled")
    if not cluster.node and not _NODE_RE.fullmatch(config.instance):
        raise ConfigError(
            "the instance name cannot be a node name: set cluster.node", key="cluster.node"
        )
    if cluster.topic_prefix == config.mqtt.topic_prefix:
        raise ConfigError(
            "must differ from mqtt.topic_prefix (shared by the nodes, that one is not)",
            key="cluster.topic_prefix",
        )
