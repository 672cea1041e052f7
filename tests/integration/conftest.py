"""Fixtures for tests against the real sandbox Asterisk (scripts/sandbox up).

These tests never skip: when the sandbox is not running they fail and say so.
`make test` brings the sandbox up before running them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from coachd.ari.client import AriClient
from coachd.ari.errors import AriError
from tests.sandbox.daemon import Daemon
from tests.sandbox.phones import HARNESS_PASSWORD, HARNESS_USER, PBX_ARI_URL, Phones


@pytest.fixture
async def pbx() -> AsyncIterator[AriClient]:
    async with AriClient(url=PBX_ARI_URL, username=HARNESS_USER, password=HARNESS_PASSWORD) as ari:
        try:
            await ari.info()
        except AriError as exc:
            pytest.fail(f"the sandbox PBX is not answering ({exc}); run: scripts/sandbox up")
        yield ari


@pytest.fixture
async def phones(pbx: AriClient) -> AsyncIterator[Phones]:
    async with Phones.connect() as p:
        yield p


@pytest.fixture(scope="module")
def coachd_daemon() -> Iterator[Daemon]:
    """coachd running against the sandbox PBX with sandbox/coachd.toml."""
    with Daemon().running() as daemon:
        yield daemon


@pytest.fixture
def coachd(coachd_daemon: Daemon) -> Daemon:
    """The module's coachd; its events as seen by this test only."""
    coachd_daemon.checkpoint()
    return coachd_daemon


async def coachd_leftovers(pbx: AriClient) -> list[str]:
    channels = [c.id for c in await pbx.list_channels() if c.id.startswith("coachd-")]
    bridges = [b.id for b in await pbx.list_bridges() if b.id.startswith("coachd-")]
    return channels + bridges


async def wait_no_leftovers(pbx: AriClient, within: float) -> list[str]:
    """What coachd still holds in Asterisk after ``within`` seconds (empty is good)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        left = await coachd_leftovers(pbx)
        if not left or asyncio.get_running_loop().time() > deadline:
            return left
        await asyncio.sleep(0.05)


def _stray_daemons() -> list[int]:
    """coachd processes this pytest started and left running."""
    me = str(os.getpid())
    stray = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            ppid = (proc / "stat").read_text().rsplit(")", 1)[1].split()[1]
        except OSError:
            continue
        if ppid == me and b"coachd" in cmdline and b"run" in cmdline:
            stray.append(int(proc.name))
    return stray


@pytest.fixture(autouse=True, scope="session")
def no_stray_daemons() -> Iterator[None]:
    """A coachd left running by a test would take part in every later one."""
    yield
    stray = _stray_daemons()
    for pid in stray:
        os.kill(pid, 9)
    assert stray == [], f"tests left coachd running: {stray}"


async def call_json(
    http: aiohttp.ClientSession, method: str, path: str, **kwargs: Any
) -> tuple[int, Any]:
    """An HTTP API call: its status and JSON body."""
    async with http.request(method, path, **kwargs) as resp:
        return resp.status, await resp.json()
