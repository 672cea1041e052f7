"""Session set-up: the supervisor's call answered to the first frame of call audio
in the supervisor's ear, coachd (``*222``) against ``ChanSpy(...,q)`` (``*888``)."""

from __future__ import annotations

from typing import Any

from bench.stats import summary
from coachd.ari.client import AriClient
from tests.integration.conftest import wait_no_leftovers
from tests.sandbox.callcenter import connect_call, supervisor_dials
from tests.sandbox.phones import Phones

CODES = {"coachd": "*2221042", "chanspy": "*8881042"}


async def run(rounds: int, phones: Phones, pbx: AriClient) -> dict[str, Any]:
    call = await connect_call(phones)
    times: dict[str, list[float]] = {name: [] for name in CODES}
    for _ in range(rounds):
        for name, code in CODES.items():  # alternating, so drift hits both alike
            dialled = await supervisor_dials(phones, "2001", code)
            heard = await dialled.party.ear.wait_for("caller", 3.0, after=dialled.answered_at)
            times[name].append(heard - dialled.answered_at)
            await dialled.party.leg.hangup()
            await wait_no_leftovers(pbx, within=3.0)
    await call.caller.leg.hangup()
    result: dict[str, Any] = {
        name + "_answer_to_call_audio_ms": summary(t, 1000) for name, t in times.items()
    }
    medians = [result[n + "_answer_to_call_audio_ms"]["median"] for n in CODES]
    result["ratio_coachd_to_chanspy_median"] = round(medians[0] / medians[1], 2)
    return result
