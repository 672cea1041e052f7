"""The [cluster] section: off by default, strict when on, the secret never shown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from coachd.config import parse_config
from coachd.errors import ConfigError

SECRET = "s" * 40


def data(**cluster: Any) -> dict[str, Any]:
    return {
        "instance": "pbx",
        "ari": {"url": "http://127.0.0.1:8088", "username": "coachd", "password": "pw"},
        "mqtt": {"url": "mqtt://127.0.0.1:1883"},
        "cluster": cluster,
    }


def error_for(d: dict[str, Any], environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(d, environ or {})
    return info.value


def test_off_by_default() -> None:
    config = parse_config(data(), {})
    assert not config.cluster.enabled
    assert config.cluster.node_name(config.instance) == "pbx"
    assert config.cluster.trunk_for("pbx2") == "PJSIP/coachd@coachd-pbx2"


def test_enabled_needs_a_secret_and_mqtt() -> None:
    assert error_for(data(enabled=True)).key == "cluster.secret"
    no_mqtt = data(enabled=True, secret=SECRET)
    del no_mqtt["mqtt"]
    assert error_for(no_mqtt).key == "cluster.enabled"


def test_short_secret_is_refused_without_echoing_it() -> None:
    err = error_for(data(enabled=True, secret="short-secret"))
    assert err.key == "cluster.secret"
    assert "short-secret" not in str(err)


def test_secret_from_credentials_and_masked(tmp_path: Path) -> None:
    (tmp_path / "cluster.secret").write_text(SECRET + "\n")
    config = parse_config(data(enabled=True), {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert config.cluster.secret == SECRET
    assert SECRET not in json.dumps(config.redacted())


def test_secret_from_the_environment() -> None:
    config = parse_config(data(enabled=True), {"COACHD_CLUSTER__SECRET": SECRET})
    assert config.cluster.secret == SECRET


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("node", "pbx/2"),
        ("trunk", "PJSIP/coachd@pbx2"),
        ("trunk", "PJSIP/{node},30"),
        ("topic_prefix", "coachd/#"),
        ("grant_ttl", 0),
        ("directory_interval", -1),
        ("trunk_endpoints", ["coachd-pbx"]),
        ("agent_endpoints", ["13*"]),
        ("unknown", 1),
    ],
)
def test_bad_values_name_their_key(key: str, value: object) -> None:
    assert error_for(data(**{key: value})).key == "cluster." + key


def test_the_directory_prefix_is_not_the_instance_prefix() -> None:
    d = data(enabled=True, secret=SECRET, topic_prefix="coachd")
    assert error_for(d).key == "cluster.topic_prefix"


def test_an_instance_name_that_cannot_be_a_node_needs_a_node() -> None:
    d = data(enabled=True, secret=SECRET)
    d["instance"] = "call center 1"
    assert error_for(d).key == "cluster.node"
    d["cluster"]["node"] = "cc1"
    assert parse_config(d, {}).cluster.node_name("call center 1") == "cc1"
