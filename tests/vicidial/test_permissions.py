"""VicidialAuthorizer against a VICIdial-shaped MariaDB: who may coach whom, exactly."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest

from coachd.authorize import EndpointResolver, Via
from coachd.core import events as e
from coachd.core.modes import Mode
from coachd.storage.errors import StoreError
from coachd.storage.mysql import MysqlPool
from coachd.vicidial.context import ContextBook, MonitorContext
from coachd.vicidial.directory import Directory
from coachd.vicidial.permissions import Policy, VicidialAgentResolver, VicidialAuthorizer
from tests.storage.conftest import TcpProxy

from .conftest import SERVER, FakeAri, Seed, VicidialDb

ALL = frozenset(Mode)
MONDAY_10 = datetime(2024, 5, 6, 10, 0)  # a Monday, inside a 09:00-17:00 weekday shift
MONDAY_18 = MONDAY_10.replace(hour=18)
SUNDAY_10 = MONDAY_10 - timedelta(days=1)


def fixed(now: datetime) -> Callable[[tzinfo | None], datetime]:
    return lambda zone: now


class World:
    """A VICIdial call center: supervisors at levels 9, 7 and 6, agent 1042 on a call."""

    def __init__(self, seed: Seed, ari: FakeAri, pool: MysqlPool) -> None:
        self.seed, self.ari, self.pool = seed, ari, pool
        self.contexts = ContextBook()
        seed.group("SUPERVISORS")
        seed.group("AGENTS")
        for user, level in (("sup9", 9), ("sup7", 7), ("sup6", 6)):
            seed.user(user, level, phone_login=user)
            seed.phone("20" + user[-1:].rjust(2, "0"), user)
        seed.grant("sup9")
        seed.grant("sup7", "monitor")
        seed.grant("sup6")
        seed.user("1042", 1, group="AGENTS", phone_login="a1042")
        seed.phone("1042", "a1042")
        seed.live_agent("1042", "PJSIP/1042", lead_id=4242, campaign="TESTCAMP")
        ari.call("PJSIP/1042", "chan-1042")

    def authorizer(
        self,
        *,
        now: datetime = MONDAY_10,
        technologies: tuple[str, ...] = ("PJSIP",),
        server_ip: str | None = SERVER,
        pool: MysqlPool | None = None,
        clock: Callable[[tzinfo | None], datetime] | None = None,
        **policy: object,
    ) -> VicidialAuthorizer:
        directory = Directory(pool or self.pool, technologies=technologies, server_ip=server_ip)
        resolver = VicidialAgentResolver(
            directory,
            self.ari,  # type: ignore[arg-type]
            fallback=EndpointResolver(self.ari, technologies),  # type: ignore[arg-type]
            technologies=technologies,
        )
        return VicidialAuthorizer(
            directory,
            resolver,
            policy=Policy(**policy),  # type: ignore[arg-type]
            contexts=self.contexts,
            clock=clock or fixed(now),
        )


@pytest.fixture
def world(seed: Seed, ari: FakeAri, pool: MysqlPool) -> World:
    return World(seed, ari, pool)


async def verdict(
    authorizer: VicidialAuthorizer,
    endpoint: str = "PJSIP/2009",
    agent: str = "1042",
    mode: Mode = Mode.MONITOR,
    via: Via = "dial",
) -> e.Authorized | e.Refused:
    return await authorizer.authorize(endpoint, agent, mode, via=via)


async def reason(authorizer: VicidialAuthorizer, **kwargs: object) -> str:
    result = await verdict(authorizer, **kwargs)  # type: ignore[arg-type]
    assert isinstance(result, e.Refused), result
    return result.reason


# --- supervisors: level, grants, identity ----------------------------------------------


async def test_a_level_9_supervisor_with_a_grant_may_coach_the_agent_on_a_call(
    world: World,
) -> None:
    assert await verdict(world.authorizer()) == e.Authorized("sup9", ALL, "chan-1042")


@pytest.mark.parametrize("mode", list(Mode))
async def test_a_level_7_supervisor_gets_exactly_the_granted_modes(
    world: World, mode: Mode
) -> None:
    result = await verdict(world.authorizer(), endpoint="PJSIP/2007", mode=mode)
    if mode is Mode.MONITOR:
        assert result == e.Authorized("sup7", frozenset({Mode.MONITOR}), "chan-1042")
    else:
        assert result == e.Refused("not_permitted", "mode " + mode.value + " not granted")


async def test_level_6_is_refused_even_with_a_grant(world: World) -> None:
    result = await verdict(world.authorizer(), endpoint="PJSIP/2006")
    assert result == e.Refused("not_permitted", "user level below the minimum")


async def test_the_minimum_user_level_is_configurable(world: World) -> None:
    assert await reason(world.authorizer(min_user_level=8), endpoint="PJSIP/2007") == (
        "not_permitted"
    )
    sup6 = await verdict(world.authorizer(min_user_level=6), endpoint="PJSIP/2006")
    assert isinstance(sup6, e.Authorized) and sup6.supervisor == "sup6"


async def test_a_supervisor_without_any_grant_is_refused(world: World, seed: Seed) -> None:
    seed.user("sup8", 8, phone_login="sup8")
    seed.phone("2008", "sup8")
    assert await verdict(world.authorizer(), endpoint="PJSIP/2008") == e.Refused(
        "not_permitted", "mode monitor not granted"
    )


async def test_grants_name_modes_case_and_space_insensitively_and_skip_unknown_ones(
    world: World, seed: Seed
) -> None:
    seed.user("sup8", 8, phone_login="sup8")
    seed.phone("2008", "sup8")
    seed.grant("sup8", " Monitor , BARGE,shout,")
    result = await verdict(world.authorizer(), endpoint="PJSIP/2008")
    assert result == e.Authorized("sup8", frozenset({Mode.MONITOR, Mode.BARGE}), "chan-1042")


async def test_an_inactive_user_is_refused(world: World, seed: Seed) -> None:
    seed.user("sup8", 8, phone_login="sup8", active="N")
    seed.phone("2008", "sup8")
    seed.grant("sup8")
    assert await verdict(world.authorizer(), endpoint="PJSIP/2008") == e.Refused(
        "not_permitted", "the VICIdial user is not active"
    )


async def test_an_endpoint_that_is_no_vicidial_phone_is_refused(world: World) -> None:
    assert await reason(world.authorizer(), endpoint="PJSIP/2999") == "not_permitted"
    assert await reason(world.authorizer(), endpoint="2009") == "not_permitted"


async def test_an_inactive_phone_names_nobody(world: World, seed: Seed) -> None:
    seed.user("sup8", 8, phone_login="sup8")
    seed.phone("2008", "sup8", active="N")
    seed.grant("sup8")
    assert await reason(world.authorizer(), endpoint="PJSIP/2008") == "not_permitted"


async def test_a_phone_two_active_users_claim_is_refused_as_ambiguous(
    world: World, seed: Seed
) -> None:
    seed.user("sup8", 8, phone_login="sup9")
    assert await verdict(world.authorizer()) == e.Refused(
        "not_permitted", "several VICIdial users have this phone"
    )


async def test_an_inactive_user_sharing_the_phone_does_not_make_it_ambiguous(
    world: World, seed: Seed
) -> None:
    seed.user("old9", 9, phone_login="sup9", active="N")
    result = await verdict(world.authorizer())
    assert isinstance(result, e.Authorized) and result.supervisor == "sup9"


async def test_sip_phones_are_pjsip_endpoints_unless_chan_sip_is_in_use(
    world: World, seed: Seed, ari: FakeAri
) -> None:
    seed.user("sup8", 8, phone_login="sup8")
    seed.phone("2008", "sup8", protocol="SIP")
    seed.grant("sup8")
    assert isinstance(await verdict(world.authorizer(), endpoint="PJSIP/2008"), e.Authorized)
    with_sip = world.authorizer(technologies=("SIP", "PJSIP"))
    assert await reason(with_sip, endpoint="PJSIP/2008") == "not_permitted"
    ari.call("SIP/1042", "chan-sip")  # not used: agent 1042's phone is PJSIP
    assert isinstance(await verdict(with_sip, endpoint="SIP/2008"), e.Authorized)


async def test_phones_on_another_server_are_not_this_servers_supervisors(
    world: World, seed: Seed
) -> None:
    seed.user("sup8", 8, phone_login="sup8")
    seed.phone("2008", "sup8", server_ip="10.0.0.6")
    seed.grant("sup8")
    assert await reason(world.authorizer(), endpoint="PJSIP/2008") == "not_permitted"
    anywhere = await verdict(world.authorizer(server_ip=None), endpoint="PJSIP/2008")
    assert isinstance(anywhere, e.Authorized)


async def test_the_same_extension_on_two_servers_for_two_users_is_ambiguous_without_server_ip(
    world: World, seed: Seed
) -> None:
    seed.user("sup8", 8, phone_login="sup8")
    seed.phone("2009", "sup8", server_ip="10.0.0.6")
    assert await reason(world.authorizer(server_ip=None)) == "not_permitted"
    assert isinstance(await verdict(world.authorizer()), e.Authorized)


async def test_endpoints_of_a_user_are_their_phones_on_this_server(
    world: World, seed: Seed
) -> None:
    seed.phone("3009", "sup9", protocol="SIP")
    seed.phone("4009", "sup9", server_ip="10.0.0.6")
    authorizer = world.authorizer()
    assert await authorizer.endpoints_of("sup9") == ("PJSIP/2009", "PJSIP/3009")
    assert await authorizer.endpoints_of("nobody") == ()


# --- the HTTP API: VICIdial's API permission ---------------------------------------------


async def test_api_sessions_need_vdc_agent_api_access(world: World, seed: Seed) -> None:
    seed.user("sup8", 8, phone_login="sup8", api_access="0")
    seed.phone("2008", "sup8")
    seed.grant("sup8")
    authorizer = world.authorizer()
    assert await verdict(authorizer, endpoint="PJSIP/2008", via="api") == e.Refused(
        "not_permitted", "vdc_agent_api_access is not enabled"
    )
    assert isinstance(await verdict(authorizer, endpoint="PJSIP/2008"), e.Authorized)
    lenient = world.authorizer(require_api_access=False)
    assert isinstance(await verdict(lenient, endpoint="PJSIP/2008", via="api"), e.Authorized)


@pytest.mark.parametrize(
    ("functions", "allowed"),
    [
        (" ALL_FUNCTIONS ", True),
        (" agent_status blind_monitor ", True),
        (" agent_status ", False),
        (" ALL ", False),  # VICIdial looks for ALL_FUNCTIONS
        ("blind_monitor", False),  # VICIdial matches / blind_monitor / with the spaces
        ("", False),
    ],
)
async def test_api_sessions_need_blind_monitor_in_api_allowed_functions(
    world: World, seed: Seed, functions: str, allowed: bool
) -> None:
    seed.user("sup8", 8, phone_login="sup8", api_functions=functions)
    seed.phone("2008", "sup8")
    seed.grant("sup8")
    result = await verdict(world.authorizer(), endpoint="PJSIP/2008", via="api")
    assert isinstance(result, e.Authorized) is allowed, result


# --- shifts --------------------------------------------------------------------------------


@pytest.fixture
def shifty(world: World, seed: Seed) -> Callable[..., None]:
    """sup8 in group SHIFTY, whose one shift is 09:00 + 8 h on weekdays."""
    seed.shift("DAY", "0900", "08:00", "12345")
    seed.grant("sup8")
    seed.phone("2008", "sup8")

    def make(enforcement: str = "ALL", override: str = "DISABLED", flag: str = "0") -> None:
        seed.group("SHIFTY", enforcement, "DAY")
        seed.user(
            "sup8",
            8,
            group="SHIFTY",
            phone_login="sup8",
            shift_override=override,
            shift_override_flag=flag,
        )

    return make


@pytest.mark.parametrize(
    ("enforcement", "override", "now", "allowed"),
    [
        ("ALL", "DISABLED", MONDAY_10, True),
        ("ALL", "DISABLED", MONDAY_18, False),
        ("ALL", "DISABLED", SUNDAY_10, False),
        ("START", "DISABLED", MONDAY_18, False),
        ("ADMIN_EXEMPT", "DISABLED", MONDAY_18, True),
        ("OFF", "DISABLED", MONDAY_18, True),
        ("ALL", "OFF", MONDAY_18, True),
        ("OFF", "ALL", MONDAY_18, False),
        ("OFF", "START", MONDAY_18, False),
        ("OFF", "START", MONDAY_10, True),
    ],
)
async def test_shift_enforcement_of_the_users_group(
    world: World,
    shifty: Callable[..., None],
    enforcement: str,
    override: str,
    now: datetime,
    allowed: bool,
) -> None:
    shifty(enforcement, override)
    result = await verdict(world.authorizer(now=now), endpoint="PJSIP/2008")
    if allowed:
        assert isinstance(result, e.Authorized), result
    else:
        assert result == e.Refused("outside_shift", "outside the shifts of the user group")


async def test_a_group_listing_no_existing_shift_is_always_outside(
    world: World, seed: Seed
) -> None:
    seed.group("NOSHIFT", "ALL", "GONE")
    seed.user("sup8", 8, group="NOSHIFT", phone_login="sup8")
    seed.phone("2008", "sup8")
    seed.grant("sup8")
    assert await reason(world.authorizer(), endpoint="PJSIP/2008") == "outside_shift"


async def test_the_managers_override_flag_does_not_exempt_a_supervisor(
    world: World, shifty: Callable[..., None]
) -> None:
    shifty("ALL", flag="1")
    assert await reason(world.authorizer(now=MONDAY_18), endpoint="PJSIP/2008") == "outside_shift"


async def test_shifts_are_read_in_the_configured_time_zone(
    world: World, shifty: Callable[..., None]
) -> None:
    shifty("ALL")
    instant = datetime(2024, 5, 6, 14, 0, tzinfo=UTC)  # Monday 10:00 in New York, 23:00 in Tokyo

    def clock(zone: tzinfo | None) -> datetime:
        return instant.astimezone(zone)

    for zone, allowed in (("America/New_York", True), ("Asia/Tokyo", False)):
        authorizer = world.authorizer(zone=ZoneInfo(zone), clock=clock)
        result = await verdict(authorizer, endpoint="PJSIP/2008")
        assert isinstance(result, e.Authorized) is allowed, zone


# --- agents ----------------------------------------------------------------------------------


async def test_the_agent_is_found_by_vicidial_user_and_the_context_is_kept(world: World) -> None:
    await verdict(world.authorizer())
    assert world.contexts.take("PJSIP/2009", "1042") == MonitorContext(
        manager_user="sup9",
        manager_phone="sup9",
        manager_server_ip=SERVER,
        agent_user="1042",
        agent_server_ip=SERVER,
        agent_status="INCALL",
        agent_session="8600051",
        lead_id=4242,
        campaign_id="TESTCAMP",
    )


async def test_a_vicidial_agent_name_need_not_be_the_extension(
    world: World, seed: Seed, ari: FakeAri
) -> None:
    seed.user("jdoe", 1, group="AGENTS")
    seed.live_agent("jdoe", "SIP/cc100", conf_exten="8600052")
    ari.call("PJSIP/cc100", "chan-cc100")
    assert await verdict(world.authorizer(), agent="jdoe") == e.Authorized(
        "sup9", ALL, "chan-cc100"
    )


async def test_an_agent_who_is_no_vicidial_user_is_found_as_an_endpoint(
    world: World, ari: FakeAri
) -> None:
    ari.call("PJSIP/1050", "chan-1050")
    assert await verdict(world.authorizer(), agent="1050") == e.Authorized("sup9", ALL, "chan-1050")


async def test_an_endpoint_agent_logged_in_to_vicidial_gets_its_login_context(
    world: World, seed: Seed, ari: FakeAri
) -> None:
    seed.live_agent("jdoe", "PJSIP/1051", conf_exten="8600053", lead_id=77)
    ari.call("PJSIP/1051", "chan-1051")
    await verdict(world.authorizer(), agent="1051")
    context = world.contexts.take("PJSIP/2009", "1051")
    assert context is not None and (context.agent_user, context.lead_id) == ("jdoe", 77)


async def test_an_agent_nobody_knows_is_refused(world: World) -> None:
    assert await verdict(world.authorizer(), agent="9999") == e.Refused(
        "unknown_agent", "no VICIdial agent or endpoint for agent"
    )


async def test_a_logged_in_agent_without_an_answered_channel_is_not_on_a_call(
    world: World, seed: Seed, ari: FakeAri
) -> None:
    seed.live_agent("idle", "PJSIP/1060")
    ari.call("PJSIP/1060", "chan-ringing", state="Ringing")
    assert await reason(world.authorizer(), agent="idle") == "agent_not_on_call"
    seed.live_agent("remote", "R/8001")  # a remote agent: no phone on this Asterisk
    assert await reason(world.authorizer(), agent="remote") == "agent_not_on_call"


async def test_agents_logged_in_on_another_server_are_not_this_servers(
    world: World, seed: Seed
) -> None:
    seed.live_agent("far", "PJSIP/1070", server_ip="10.0.0.6")
    assert await reason(world.authorizer(), agent="far") == "unknown_agent"


async def test_the_latest_login_of_an_agent_counts(world: World, seed: Seed, ari: FakeAri) -> None:
    seed.live_agent("twice", "PJSIP/1080", updated="2024-05-06 09:00:00")
    seed.live_agent("twice", "PJSIP/1081", updated="2024-05-06 09:30:00")
    ari.call("PJSIP/1080", "chan-1080")
    ari.call("PJSIP/1081", "chan-1081")
    result = await verdict(world.authorizer(), agent="twice")
    assert isinstance(result, e.Authorized) and result.agent_channel == "chan-1081"


async def test_a_supervisor_cannot_coach_their_own_phone_or_their_own_login(
    world: World, seed: Seed, ari: FakeAri
) -> None:
    ari.call("PJSIP/2009", "chan-2009")
    assert await reason(world.authorizer(), agent="2009") == "own_endpoint"
    seed.live_agent("SUP9", "PJSIP/1090")  # VICIdial user names compare case-insensitively
    ari.call("PJSIP/1090", "chan-1090")
    assert await reason(world.authorizer(), agent="sup9") == "own_endpoint"


@pytest.mark.parametrize(
    ("agent_groups", "campaigns", "allowed"),
    [
        ("AGENTS", None, True),
        ("other, agents", None, True),
        ("OTHER", None, False),
        ("", None, False),
        (None, "TESTCAMP", True),
        (None, "OTHERCAMP", False),
        ("AGENTS", "OTHERCAMP", False),
    ],
)
async def test_grants_can_be_limited_to_agent_groups_and_campaigns(
    world: World,
    seed: Seed,
    agent_groups: str | None,
    campaigns: str | None,
    allowed: bool,
) -> None:
    seed.user("sup8", 8, phone_login="sup8")
    seed.phone("2008", "sup8")
    seed.grant("sup8", "monitor", agent_groups=agent_groups, campaigns=campaigns)
    result = await verdict(world.authorizer(), endpoint="PJSIP/2008")
    if allowed:
        assert result == e.Authorized("sup8", frozenset({Mode.MONITOR}), "chan-1042")
    else:
        assert result == e.Refused(
            "not_permitted", "mode monitor not granted for this agent's group or campaign"
        )


async def test_limited_grants_do_not_cover_agents_vicidial_does_not_know(
    world: World, seed: Seed, ari: FakeAri
) -> None:
    seed.user("sup8", 8, phone_login="sup8")
    seed.phone("2008", "sup8")
    seed.grant("sup8", "monitor", agent_groups="AGENTS")
    seed.grant("sup8", "barge")
    ari.call("PJSIP/1050", "chan-1050")
    result = await verdict(world.authorizer(), endpoint="PJSIP/2008", agent="1050", mode=Mode.BARGE)
    assert result == e.Authorized("sup8", frozenset({Mode.BARGE}), "chan-1050")
    assert await reason(world.authorizer(), endpoint="PJSIP/2008", agent="1050") == (
        "not_permitted"
    )


# --- the database away: fail closed ------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_database_refuses_new_sessions(
    world: World, vicidial_db: VicidialDb
) -> None:
    dead = MysqlPool(vicidial_db.target(port=closed_port()), timeout=1.0)
    try:
        result = await verdict(world.authorizer(pool=dead))
    finally:
        await dead.close()
    assert result == e.Refused(
        "permission_store_unavailable", "the VICIdial database cannot be read"
    )


async def test_the_database_going_away_and_back_refuses_only_meanwhile(
    world: World, vicidial_db: VicidialDb, proxy: TcpProxy
) -> None:
    via_proxy = MysqlPool(vicidial_db.target(port=proxy.port), timeout=1.0)
    authorizer = world.authorizer(pool=via_proxy)
    try:
        assert isinstance(await verdict(authorizer), e.Authorized)
        await proxy.stop()
        assert await reason(authorizer) == "permission_store_unavailable"
        await proxy.start()
        assert isinstance(await verdict(authorizer), e.Authorized)
    finally:
        await via_proxy.close()


async def test_a_database_that_is_not_vicidials_refuses_and_fails_the_schema_check(
    world: World, fresh_vicidial_db: VicidialDb
) -> None:
    fresh_vicidial_db.sql("DROP TABLE phones")
    elsewhere = MysqlPool(fresh_vicidial_db.target(), timeout=2.0)
    try:
        assert await reason(world.authorizer(pool=elsewhere)) == "permission_store_unavailable"
        with pytest.raises(StoreError):
            await Directory(elsewhere).check_schema()
    finally:
        await elsewhere.close()


async def test_the_schema_check_passes_on_vicidials_tables(world: World) -> None:
    await Directory(world.pool).check_schema()


# --- hostile input ------------------------------------------------------------------------

HOSTILE_AGENTS = [
    "1042' OR '1'='1",
    "1042; DROP TABLE vicidial_users; --",
    '1042"',
    "agënt",
    "1042\x00",
    "x" * 10240,
    "",
]


@pytest.mark.parametrize("agent", HOSTILE_AGENTS, ids=range(len(HOSTILE_AGENTS)))
async def test_hostile_agent_names_are_refused_and_change_nothing(
    world: World, vicidial_db: VicidialDb, agent: str
) -> None:
    before = vicidial_db.sql("SELECT COUNT(*) FROM vicidial_users")
    assert await verdict(world.authorizer(), agent=agent) == e.Refused(
        "unknown_agent", "not an agent id"
    )
    assert vicidial_db.sql("SELECT COUNT(*) FROM vicidial_users") == before


HOSTILE_ENDPOINTS = [
    "PJSIP/2009' OR '1'='1",
    "PJSIP/2009' -- ",
    "PJSIP/%",
    "PJSIP/_009",
    "PJSIP/2009\\",
    "PJSIP/" + "9" * 10240,
    "PJSIP/ünïcödé",
]


@pytest.mark.parametrize("endpoint", HOSTILE_ENDPOINTS, ids=range(len(HOSTILE_ENDPOINTS)))
async def test_hostile_supervisor_endpoints_identify_nobody(
    world: World, vicidial_db: VicidialDb, endpoint: str
) -> None:
    assert await reason(world.authorizer(), endpoint=endpoint) == "not_permitted"
    assert vicidial_db.sql("SELECT COUNT(*) FROM phones") == [(4,)]


async def test_vicidial_names_with_quotes_and_unicode_are_used_verbatim(
    world: World, seed: Seed, ari: FakeAri
) -> None:
    odd = "o'hara\"; --ñ李"
    seed.user(odd, 9, phone_login="ohara")
    seed.phone("2010", "ohara")
    seed.grant(odd)
    seed.live_agent("agent_ü.1", "PJSIP/1100")
    ari.call("PJSIP/1100", "chan-1100")
    result = await verdict(world.authorizer(), endpoint="PJSIP/2010")
    assert result == e.Authorized(odd, ALL, "chan-1042")
    assert await reason(world.authorizer(), endpoint="PJSIP/2010", agent="agent_ü.1") == (
        "unknown_agent"  # AGENT_ID admits ASCII names only
    )
