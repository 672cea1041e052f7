"""Multi-server coaching on the sandbox: a supervisor on pbx coaches an agent on pbx2.

Two coachd instances, one per PBX, share a cluster (directory on MQTT, a
signed grant in the trunk call). The customer calls agent 1301 on pbx2; the
supervisor's phone 2001 dials ``*2231301`` on pbx. Audio is proven as in
test_coaching.py: each party sends its own tone and what each one hears is
analysed per 20 ms frame, plus wire taps on what pbx2 sends to the caller.
Calls that reach pbx2's cluster trunk without a valid grant are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from coachd.ari.client import AriClient
from coachd.ari.errors import AriError
from coachd.cluster.signing import issue
from coachd.core.modes import Mode
from tests.integration.conftest import wait_no_leftovers
from tests.sandbox.callcenter import (
    DETECTOR,
    TONES,
    Call,
    Party,
    check_routing,
    settle,
    supervisor_dials,
    wire_taps,
)
from tests.sandbox.daemon import REPO, Daemon
from tests.sandbox.phones import HARNESS_PASSWORD, HARNESS_USER, PBX2_ARI_URL, Phones

SECRET = "sandbox-cluster-secret-0123456789abcdef"
PBX2_CONFIG = REPO / "sandbox" / "coachd-pbx2.toml"
AGENT = "1301"


@pytest.fixture(scope="module")
def nodes() -> Iterator[tuple[Daemon, Daemon]]:
    """coachd on pbx (the supervisors' node) and on pbx2 (the agents'), one cluster."""
    prefix = f"coachd-cluster-test-{uuid.uuid4().hex[:8]}"
    home = Daemon(
        env={
            "COACHD_CLUSTER__ENABLED": "true",
            "COACHD_CLUSTER__NODE": "pbx",
            "COACHD_CLUSTER__SECRET": SECRET,
            "COACHD_CLUSTER__TOPIC_PREFIX": prefix,
            "COACHD_CLUSTER__TRUNK_ENDPOINTS": "PJSIP/coachd-pbx2",
            "COACHD_CLUSTER__DIRECTORY_INTERVAL": "0.3",
        },
        name="cluster-pbx",
    )
    remote = Daemon(PBX2_CONFIG, env={"COACHD_CLUSTER__TOPIC_PREFIX": prefix}, name="cluster-pbx2")
    with home.running(), remote.running():
        yield home, remote


@pytest.fixture
async def pbx2() -> AsyncIterator[AriClient]:
    async with AriClient(url=PBX2_ARI_URL, username=HARNESS_USER, password=HARNESS_PASSWORD) as ari:
        try:
            await ari.info()
        except AriError as exc:
            pytest.fail(f"the sandbox's pbx2 is not answering ({exc}); run: scripts/sandbox up")
        yield ari


async def call_on_pbx2(phones: Phones) -> Call:
    """A customer calls agent 1301 on pbx2 (the phones' carrier2 trunk); both talk."""
    calling = asyncio.create_task(phones.call("carrier2", AGENT))
    agent_leg = await phones.answer(AGENT)
    caller_leg = await calling
    call = Call(
        caller=Party("caller", caller_leg, await caller_leg.listen(DETECTOR)),
        agent=Party("agent", agent_leg, await agent_leg.listen(DETECTOR)),
    )
    await caller_leg.say_tone(TONES["caller"])
    await agent_leg.say_tone(TONES["agent"])
    await call.agent.ear.wait_for("caller", timeout=5)
    await call.caller.ear.wait_for("agent", timeout=5)
    return call


async def listed(home: Daemon, agent: str, *, on_call: bool = True, timeout: float = 10.0) -> None:
    """Wait until the supervisors' node knows whether ``agent`` is on a call on
    pbx2: its latest directory record says so, after pbx2 had the time to look
    again (a previous test's call of the same agent may just have been cleared)."""
    await asyncio.sleep(0.8)
    deadline = time.monotonic() + timeout
    while True:
        seen = [
            r.get("on_call")
            for r in home.records()
            if r.get("event") == "cluster_directory"
            and r.get("agent") == agent
            and r.get("node") == "pbx2"
        ]
        if seen and seen[-1] is on_call:
            return
        assert time.monotonic() < deadline, f"pbx never heard that {agent} on_call={on_call}"
        await asyncio.sleep(0.05)


def handed_off(home: Daemon) -> list[dict[str, object]]:
    return [
        r for r in home.records(since_checkpoint=True) if r.get("event") == "session_handed_off"
    ]


async def test_supervisor_on_pbx_coaches_agent_on_pbx2_across_the_trunk(
    phones: Phones, pbx: AriClient, pbx2: AriClient, nodes: tuple[Daemon, Daemon]
) -> None:
    home, remote = nodes
    home.checkpoint()
    remote.checkpoint()
    call = await call_on_pbx2(phones)
    wire = await wire_taps(pbx2, AGENT)
    await listed(home, AGENT)

    dialled = await supervisor_dials(phones, "2001", "*223" + AGENT)
    sup = dialled.party
    started = await remote.wait_event("session_started", timeout=10)
    assert (started["supervisor"], started["agent"], started["mode"]) == (
        "sup1",
        AGENT,
        "whisper",
    )
    assert started["endpoint"] == "PJSIP/2001"
    (handed,) = handed_off(home)
    assert handed["node"] == "pbx2"
    assert handed["session_id"] == started["session_id"]  # one session id end to end
    assert home.session_events() == []  # the session is pbx2's

    # Whisper: the agent hears the supervisor, the caller never does.
    t = await settle(call, sup, "whisper", after=dialled.answered_at, timeout=5.0)
    problems = await check_routing(call, sup, "whisper", t + 0.1, t + 2.1)
    assert not problems, problems

    # DTMF on the supervisor's phone (on pbx) switches modes on pbx2.
    switched: dict[str, float] = {}
    for digit, mode in (("4", "monitor"), ("6", "barge"), ("5", "whisper")):
        sent = time.monotonic()
        switched[mode] = sent
        await sup.leg.dtmf(digit)
        changed = await remote.wait_event(
            "mode_changed", timeout=5, where=lambda r, m=mode: r["after"] == m
        )
        assert changed["source"] == "dtmf"
        t = await settle(call, sup, mode, after=sent, timeout=5.0)
        problems = await check_routing(call, sup, mode, t + 0.1, t + 1.6)
        assert not problems, (mode, problems)
        remote.checkpoint()

    # Outside barge, not one frame of the supervisor reached the caller, on the
    # wire either; in barge the caller heard the supervisor.
    await asyncio.sleep(1.0)
    before_barge = (dialled.answered_at, switched["barge"])
    assert wire["caller"].capture.count_with("supervisor", *before_barge) == 0
    assert call.caller.ear.capture.count_with("supervisor", *before_barge) == 0
    assert wire["caller"].capture.count_with("supervisor", switched["barge"]) > 0
    assert wire["caller"].capture.count_with("supervisor", t + 0.2) == 0
    assert call.caller.ear.capture.count_with("supervisor", t + 0.2) == 0

    await sup.leg.dtmf("*")
    ended = await remote.wait_event("session_ended", timeout=5)
    assert ended["reason"] == "supervisor_ended"
    assert await wait_no_leftovers(pbx2, within=2.0) == []
    assert await wait_no_leftovers(pbx, within=2.0) == []
    # The customer's call goes on.
    t1 = time.monotonic()
    await asyncio.sleep(0.5)
    assert call.caller.ear.capture.fraction_with("agent", t1, t1 + 0.5) > 0.9


async def test_the_caller_never_hears_a_cross_server_whisper(
    phones: Phones, pbx2: AriClient, nodes: tuple[Daemon, Daemon]
) -> None:
    home, remote = nodes
    home.checkpoint()
    remote.checkpoint()
    call = await call_on_pbx2(phones)
    wire = await wire_taps(pbx2, AGENT)
    await listed(home, AGENT)
    dialled = await supervisor_dials(phones, "2001", "*223" + AGENT)
    sup = dialled.party
    t = await settle(call, sup, "whisper", after=dialled.answered_at, timeout=5.0)
    await asyncio.sleep(3.0)
    assert wire["caller"].capture.count_with("supervisor", dialled.answered_at) == 0
    assert wire["caller"].capture.fraction_with("agent", t, t + 3.0) > 0.95
    assert call.caller.ear.capture.count_with("supervisor", dialled.answered_at) == 0
    assert call.agent.ear.capture.fraction_with("supervisor", t + 0.1, t + 3.0) > 0.95
    await sup.leg.hangup()
    ended = await remote.wait_event("session_ended", timeout=5)
    assert ended["reason"] == "supervisor_hangup"
    assert await wait_no_leftovers(pbx2, within=2.0) == []
    # The call ends: the agent leaves the directory.
    home.checkpoint()
    await call.agent.leg.hangup()
    await listed(home, AGENT, on_call=False)


async def test_permissions_are_checked_on_the_supervisors_node(
    phones: Phones, nodes: tuple[Daemon, Daemon]
) -> None:
    home, remote = nodes
    home.checkpoint()
    remote.checkpoint()
    await call_on_pbx2(phones)
    await listed(home, AGENT)
    # sup2 may not barge: refused on pbx, nothing reaches pbx2.
    await supervisor_dials(phones, "2002", "*224" + AGENT)
    refused = await home.wait_event("session_refused", timeout=5)
    assert refused["reason"] == "not_permitted"
    await asyncio.sleep(0.5)
    assert remote.session_events() == []


async def forged_call(phones: Phones, grant: str | None) -> None:
    """A call on pbx2's cluster trunk that did not come from coachd on pbx: the
    phones' ``forger`` endpoint has the trunk's From user, so pbx2 takes it for the
    trunk; ``grant`` is put in X-Coachd-Grant as is."""
    variables = {} if grant is None else {"PJSIP_HEADER(add,X-Coachd-Grant)": grant}
    cid = f"forger-{uuid.uuid4().hex[:8]}"
    phones.channels.append(cid)
    await phones.start_and_wait(
        cid,
        phones.ari.originate(
            endpoint="PJSIP/coachd@forger",
            app="phones",
            app_args="outgoing",
            channel_id=cid,
            variables=variables,
        ),
    )


def grant_for_pbx2(*, secret: str = SECRET, ttl: float = 10.0, now: float | None = None) -> str:
    _, token = issue(
        secret=secret.encode(),
        issuer="pbx",
        audience="pbx2",
        supervisor="sup1",
        endpoint="PJSIP/2001",
        agent=AGENT,
        mode=Mode.BARGE,
        modes=list(Mode),
        session_id=uuid.uuid4().hex[:12],
        ttl=ttl,
        now=now,
    )
    return token


async def test_forged_unsigned_and_replayed_grants_are_refused(
    phones: Phones, pbx2: AriClient, nodes: tuple[Daemon, Daemon]
) -> None:
    _, remote = nodes
    remote.checkpoint()
    await call_on_pbx2(phones)
    valid = grant_for_pbx2()
    cases = [
        (None, "malformed"),  # no grant at all
        ("v1.eyJzdXAiOiJzdXAxIn0.AAAA", "bad_signature"),  # made up
        (grant_for_pbx2(secret="another-secret-of-at-least-32-chars!!"), "bad_signature"),
        (grant_for_pbx2(now=time.time() - 60), "expired"),
    ]
    for grant, reason in cases:
        await forged_call(phones, grant)
        refused = await remote.wait_event("session_refused", timeout=5)
        assert refused["reason"] == "not_permitted"
        assert reason in refused["detail"], (reason, refused)
        remote.checkpoint()

    # A genuine grant works once...
    await forged_call(phones, valid)
    started = await remote.wait_event("session_started", timeout=5)
    assert (started["supervisor"], started["mode"]) == ("sup1", "barge")
    # ... and not twice.
    remote.checkpoint()
    await forged_call(phones, valid)
    refused = await remote.wait_event("session_refused", timeout=5)
    assert "replayed" in refused["detail"]
    with contextlib.suppress(AriError):
        for cid in list(phones.channels):
            if cid.startswith("forger-"):
                await phones.ari.hangup(cid)
    assert await wait_no_leftovers(pbx2, within=3.0) == []
