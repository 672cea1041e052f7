"""The sandbox's two-node cluster: coachd on pbx (the supervisors' node) and on
pbx2 (the agents'), for tests/integration/test_cluster.py and bench/cluster.py."""

from __future__ import annotations

from tests.sandbox.daemon import REPO, Daemon

SECRET = "sandbox-cluster-secret-0123456789abcdef"
"""sandbox/coachd-pbx2.toml has the same one."""
PBX2_CONFIG = REPO / "sandbox" / "coachd-pbx2.toml"


def nodes(prefix: str, home_env: dict[str, str] | None = None) -> tuple[Daemon, Daemon]:
    """Both nodes under cluster topic prefix ``prefix`` (not started)."""
    home = Daemon(
        env={
            "COACHD_CLUSTER__ENABLED": "true",
            "COACHD_CLUSTER__NODE": "pbx",
            "COACHD_CLUSTER__SECRET": SECRET,
            "COACHD_CLUSTER__TOPIC_PREFIX": prefix,
            "COACHD_CLUSTER__TRUNK_ENDPOINTS": "PJSIP/coachd-pbx2",
            "COACHD_CLUSTER__DIRECTORY_INTERVAL": "0.3",
            **(home_env or {}),
        },
        name="cluster-pbx",
    )
    remote = Daemon(PBX2_CONFIG, env={"COACHD_CLUSTER__TOPIC_PREFIX": prefix}, name="cluster-pbx2")
    return home, remote
