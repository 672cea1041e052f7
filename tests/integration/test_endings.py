"""How sessions end and how they are refused, on real calls: what each party hears,
what coachd reports, and that nothing of coachd's is left in Asterisk."""

from __future__ import annotations

import asyncio
import time

import pytest

from coachd.ari.client import AriClient
from tests.integration.conftest import wait_no_leftovers
from tests.sandbox.callcenter import connect_call, loudest, settle, supervisor_dials
from tests.sandbox.daemon import Daemon
from tests.sandbox.phones import Phones


async def test_agent_hangup_plays_the_end_tone_and_hangs_up_the_supervisor(
    phones: Phones, pbx: AriClient, coachd: Daemon
) -> None:
    call = await connect_call(phones)
    dialled = await supervisor_dials(phones, "2001", "*2221042")
    sup = dialled.party
    await settle(call, sup, "monitor", after=dialled.answered_at)

    hung_up = time.monotonic()
    await call.caller.leg.hangup()
    await asyncio.wait_for(sup.leg.hung_up.wait(), 5)
    gone = time.monotonic()

    assert sup.ear.capture.count_with("end_tone", hung_up, gone) >= 5, sup.ear.capture.describe(
        hung_up - 0.2, gone, origin=hung_up
    )
    ended = await coachd.wait_event("session_ended", where=lambda r: r["endpoint"] == "PJSIP/2001")
    assert ended["reason"] == "agent_hangup"
    assert await wait_no_leftovers(pbx, within=1.0) == []


async def test_star_ends_the_session_and_the_call_goes_on(
    phones: Phones, pbx: AriClient, coachd: Daemon
) -> None:
    call = await connect_call(phones)
    dialled = await supervisor_dials(phones, "2001", "*2231042")
    sup = dialled.party
    await settle(call, sup, "whisper", after=dialled.answered_at)

    await sup.leg.dtmf("*")
    await asyncio.wait_for(sup.leg.hung_up.wait(), 5)
    ended = await coachd.wait_event("session_ended", where=lambda r: r["endpoint"] == "PJSIP/2001")
    assert ended["reason"] == "supervisor_ended"
    assert await wait_no_leftovers(pbx, within=1.0) == []

    t = time.monotonic()
    await asyncio.sleep(1.0)
    assert call.caller.ear.capture.fraction_with("agent", t, t + 0.9) > 0.95
    assert call.agent.ear.capture.fraction_with("caller", t, t + 0.9) > 0.95
    assert call.agent.ear.capture.count_with("supervisor", t, t + 0.9) == 0


REFUSALS = [
    pytest.param("2001", "*2229999", "unknown_agent", id="unknown-agent"),
    pytest.param("2001", "*2221043", "agent_not_on_call", id="agent-not-on-a-call"),
    pytest.param("2001", "*2222001", "own_endpoint", id="own-endpoint"),
    pytest.param("2003", "*2221042", "not_permitted", id="user-level-6"),
    pytest.param("2004", "*2221042", "not_permitted", id="unknown-supervisor"),
    pytest.param("2002", "*2241042", "not_permitted", id="mode-not-granted"),
]


@pytest.mark.parametrize(("phone", "code", "reason"), REFUSALS)
async def test_refusals_are_heard_reported_and_leave_nothing(
    phone: str, code: str, reason: str, phones: Phones, pbx: AriClient, coachd: Daemon
) -> None:
    call = await connect_call(phones)
    dialled = await supervisor_dials(phones, phone, code)
    sup = dialled.party

    await asyncio.wait_for(sup.leg.hung_up.wait(), 12)
    refused = await coachd.wait_event(
        "session_refused", where=lambda r: r["endpoint"] == "PJSIP/" + phone
    )
    assert refused["reason"] == reason
    # The supervisor heard why (a recorded prompt), not silence.
    assert loudest(sup.ear, dialled.answered_at) > 1000
    # Nobody else heard anything of it.
    assert call.caller.ear.capture.count_with("supervisor", dialled.answered_at) == 0
    assert call.agent.ear.capture.count_with("supervisor", dialled.answered_at) == 0
    assert not coachd.session_events(event_type="session_started", endpoint="PJSIP/" + phone)
    assert await wait_no_leftovers(pbx, within=1.0) == []


async def test_a_mode_not_granted_is_refused_and_the_session_stays_as_it_was(
    phones: Phones, pbx: AriClient, coachd: Daemon
) -> None:
    call = await connect_call(phones)
    dialled = await supervisor_dials(phones, "2002", "*2221042")
    sup = dialled.party
    await settle(call, sup, "monitor", after=dialled.answered_at)

    pressed = time.monotonic()
    await sup.leg.dtmf("6")  # barge: sup2 may only monitor and whisper
    refused = await coachd.wait_event("mode_refused", where=lambda r: r["endpoint"] == "PJSIP/2002")
    assert refused["requested"] == "barge"
    assert refused["reason"] == "not_permitted"
    await asyncio.sleep(1.0)
    assert call.caller.ear.capture.count_with("supervisor", pressed) == 0
    assert call.agent.ear.capture.count_with("supervisor", pressed) == 0
    # The error tone is short: the supervisor is back on the call right after it.
    assert sup.ear.capture.fraction_with("caller", pressed + 0.6, pressed + 1.0) > 0.9
    assert sup.ear.capture.longest_gap("caller", pressed, pressed + 1.0) <= 20
    await sup.leg.hangup()
    assert await wait_no_leftovers(pbx, within=1.0) == []


async def test_only_one_supervisor_talks_to_an_agent_at_a_time(
    phones: Phones, pbx: AriClient, coachd: Daemon
) -> None:
    call = await connect_call(phones)
    first = await supervisor_dials(phones, "2001", "*2231042")
    await settle(call, first.party, "whisper", after=first.answered_at)

    # A second supervisor may not start whispering...
    second = await supervisor_dials(phones, "2002", "*2231042", name="supervisor2")
    await asyncio.wait_for(second.party.leg.hung_up.wait(), 12)
    refused = await coachd.wait_event(
        "session_refused", where=lambda r: r["endpoint"] == "PJSIP/2002"
    )
    assert refused["reason"] == "another_supervisor_talking"

    # ...but may listen, and may not switch to whisper while the first talks.
    third = await supervisor_dials(phones, "2002", "*2221042", name="supervisor2")
    await coachd.wait_event("session_started", where=lambda r: r["endpoint"] == "PJSIP/2002")
    await third.party.leg.dtmf("5")
    blocked = await coachd.wait_event("mode_refused", where=lambda r: r["endpoint"] == "PJSIP/2002")
    assert blocked["reason"] == "another_supervisor_talking"

    # Once the first goes back to monitor, the second may whisper.
    await first.party.leg.dtmf("4")
    await coachd.wait_event(
        "mode_changed",
        where=lambda r: r["endpoint"] == "PJSIP/2001" and r["after"] == "monitor",
    )
    await third.party.leg.dtmf("5")
    switched = await coachd.wait_event(
        "mode_changed",
        where=lambda r: r["endpoint"] == "PJSIP/2002" and r["after"] == "whisper",
    )
    assert switched["before"] == "monitor"
    t = time.monotonic()
    await call.agent.ear.wait_for("supervisor2", 3, after=t - 0.5)
    assert call.caller.ear.capture.count_with("supervisor2", third.answered_at) == 0

    await first.party.leg.hangup()
    await third.party.leg.hangup()
    assert await wait_no_leftovers(pbx, within=1.0) == []
