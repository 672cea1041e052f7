"""mqtts:// and username/password, against a second Mosquitto with TLS and a password file.

The broker's certificate is signed by a throwaway CA; ``SSL_CERT_FILE`` makes
``ssl.create_default_context()`` (what the publisher uses) trust it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest
from structlog.testing import capture_logs

from coachd.config import MqttConfig
from coachd.mqtt.publisher import MqttPublisher
from tests.mqtt.conftest import lifecycle, session

USER = "coachd"
PASSWORD = "s3cret-Pa55"


@dataclass(frozen=True)
class TlsBroker:
    port: int
    ca: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    d = tmp_path_factory.mktemp("tls-broker")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    steps = [
        "req -x509 -keyout ca.key -out ca.pem -days 2 -subj /CN=coachd-test-ca",
        "req -keyout server.key -out server.csr -subj /CN=localhost",
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
        " -out server.pem -days 2 -extfile san.ext",
    ]
    for step in steps:
        args = step.split()
        if args[0] == "req":
            args += ec
        run("openssl", *args, cwd=d)
    run("mosquitto_passwd", "-c", "-b", "passwd", USER, PASSWORD, cwd=d)
    port = free_port()
    (d / "mosquitto.conf").write_text(
        f"user root\npersistence false\nlog_dest stderr\n"
        f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {d}/passwd\n"
        f"certfile {d}/server.pem\nkeyfile {d}/server.key\n"
    )
    proc = subprocess.Popen(
        ["mosquitto", "-c", str(d / "mosquitto.conf")],
        stderr=(d / "mosquitto.log").open("w"),
    )
    try:
        for _ in range(500):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if proc.poll() is not None:
                pytest.fail("TLS mosquitto exited: " + (d / "mosquitto.log").read_text())
            time.sleep(0.02)
        yield TlsBroker(port, d / "ca.pem")
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
async def tls_subscriber(tls_broker: TlsBroker) -> AsyncIterator[aiomqtt.Client]:
    context = ssl.create_default_context(cafile=str(tls_broker.ca))
    async with aiomqtt.Client(
        "localhost", tls_broker.port, username=USER, password=PASSWORD, tls_context=context
    ) as client:
        yield client


def make(tls_broker: TlsBroker, password: str, prefix: str = "coachd-tls") -> MqttPublisher:
    config = MqttConfig(
        url=f"mqtts://localhost:{tls_broker.port}",
        topic_prefix=prefix,
        username=USER,
        password=password,
    )
    return MqttPublisher(config, "tls", clear_stale=False)


async def test_events_over_tls_with_a_password(
    tls_broker: TlsBroker, tls_subscriber: aiomqtt.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_broker.ca))
    await tls_subscriber.subscribe("coachd-tls/events", qos=1)
    pub = make(tls_broker, PASSWORD)
    task = asyncio.create_task(pub.run())
    await asyncio.wait_for(pub.connected.wait(), 10)
    for event in lifecycle("s1"):
        await pub.publish(session("s1"), event)

    async def five() -> list[int]:
        seqs: list[int] = []
        async for message in tls_subscriber.messages:
            assert isinstance(message.payload, bytes)
            seqs.append(int(message.payload.split(b'"seq":')[1].split(b",")[0]))
            if len(seqs) == 5:
                return seqs
        return seqs

    assert await asyncio.wait_for(five(), 10) == [1, 2, 3, 4, 5]
    await pub.stop(2)
    await asyncio.wait_for(task, 3)


@pytest.mark.parametrize("case", ["wrong password", "untrusted certificate"])
async def test_refused_connections_retry_and_keep_secrets_out_of_logs(
    tls_broker: TlsBroker, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    if case == "wrong password":
        monkeypatch.setenv("SSL_CERT_FILE", str(tls_broker.ca))
        password = "not-the-" + PASSWORD
    else:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        password = PASSWORD
    pub = make(tls_broker, password)
    with capture_logs() as logs:
        task = asyncio.create_task(pub.run())
        await asyncio.sleep(1.0)
        assert not pub.connected.is_set()
        await pub.stop(0.5)
        await asyncio.wait_for(task, 2)
    failures = [e for e in logs if e["event"] == "mqtt_connection_failed"]
    assert len(failures) >= 2
    expected = "not authori" if case == "wrong password" else "certificate verify failed"
    assert expected in failures[0]["error"].lower()
    assert password not in repr(logs)
    assert PASSWORD not in repr(logs)
