"""Fixtures for tests against the real sandbox Asterisk (scripts/sandbox up).

These tests never skip: when the sandbox is not running they fail and say so.
`make test` brings the sandbox up before running them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from coachd.ari.client import AriClient
from coachd.ari.errors import AriError
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
