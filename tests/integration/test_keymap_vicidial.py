"""policy.keymap = "vicidial": 4 monitor, 5 barge, 6 whisper (VICIdial's layout)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from coachd.ari.client import AriClient
from tests.integration.conftest import wait_no_leftovers
from tests.sandbox.callcenter import connect_call, settle, supervisor_dials
from tests.sandbox.daemon import Daemon
from tests.sandbox.phones import Phones


@pytest.fixture(scope="module")
def coachd_daemon() -> Iterator[Daemon]:
    with Daemon(env={"COACHD_POLICY__KEYMAP": "vicidial"}, name="vicidial").running() as daemon:
        yield daemon


async def test_vicidial_keymap_swaps_barge_and_whisper(
    phones: Phones, pbx: AriClient, coachd: Daemon
) -> None:
    call = await connect_call(phones)
    dialled = await supervisor_dials(phones, "2001", "*2221042")
    sup = dialled.party
    await settle(call, sup, "monitor", after=dialled.answered_at)

    await sup.leg.dtmf("5")
    changed = await coachd.wait_event("mode_changed", where=lambda r: r["after"] == "barge")
    t = await settle(call, sup, "barge", after=dialled.answered_at)
    assert changed["before"] == "monitor"

    await sup.leg.dtmf("6")
    await coachd.wait_event("mode_changed", where=lambda r: r["after"] == "whisper")
    t = await settle(call, sup, "whisper", after=t)

    await sup.leg.dtmf("4")
    await coachd.wait_event("mode_changed", where=lambda r: r["after"] == "monitor")
    await settle(call, sup, "monitor", after=t)

    await sup.leg.hangup()
    assert await wait_no_leftovers(pbx, within=1.0) == []
