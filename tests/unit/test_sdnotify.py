"""The systemd notify protocol against a fake NOTIFY_SOCKET."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from coachd.sdnotify import Notifier


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    yield path, sock
    sock.close()


def received(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


def test_ready_and_stopping_reach_the_notify_socket(
    notify_socket: tuple[str, socket.socket],
) -> None:
    path, sock = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": path})
    notifier.ready("coaching on coachd")
    notifier.stopping()
    assert received(sock) == ["READY=1\nSTATUS=coaching on coachd", "STOPPING=1\nSTATUS=stopping"]


def test_without_systemd_nothing_is_sent_and_nothing_fails() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    notifier.ready("x")


def test_abstract_socket_names_are_understood() -> None:
    name = "coachd-test-" + str(os.getpid())
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.setblocking(False)
    try:
        Notifier({"NOTIFY_SOCKET": "@" + name}).ready("ok")
        assert received(sock) == ["READY=1\nSTATUS=ok"]
    finally:
        sock.close()


def test_watchdog_interval_comes_from_watchdog_usec_for_this_process_only() -> None:
    assert Notifier({"WATCHDOG_USEC": "10000000"}).watchdog_seconds == 10.0
    mine = {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
    assert Notifier(mine).watchdog_seconds == 2.0
    other = {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert Notifier(other).watchdog_seconds is None
    assert Notifier({"WATCHDOG_USEC": "0"}).watchdog_seconds is None


async def test_the_watchdog_is_pinged_at_half_the_interval(
    notify_socket: tuple[str, socket.socket],
) -> None:
    path, sock = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"})
    task = asyncio.create_task(notifier.watchdog())
    await asyncio.sleep(0.22)
    task.cancel()
    pings = received(sock)
    assert pings.count("WATCHDOG=1") >= 3
