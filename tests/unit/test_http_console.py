"""The browser console's server side: pages, cookie logins, CSRF, rate limits, and the
routes it reads (agents on calls, coverage), with a fake ARI and engine.

The cookie is one more way to be a supervisor on the same handlers as bearer
tokens: these tests check it sees and acts on that supervisor's sessions only,
and that the bearer-token API behaves exactly as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from coachd import passwords
from coachd.ari.client import Channel, Endpoint
from coachd.ari.errors import AriNotFound
from coachd.authorize import ConfigAuthorizer, EndpointResolver
from coachd.config import Config, parse_config
from coachd.core import commands as c
from coachd.http.api import Api
from coachd.http.coverage import Coverage
from coachd.http.feed import EventFeed
from coachd.http.sessions_store import ConsoleSessions, LoginLimiter
from coachd.reports.compute import ModePeriod

ADMIN = {"Authorization": "Bearer admin-token-0123456789"}
SUP1_TOKEN = {"Authorization": "Bearer sup1-token-0123456789"}
PASSWORD = {"sup1": "sup1-correct-horse", "sup2": "sup2-battery-staple", "low": "low-level-pw"}
HASHES = {
    u: passwords.hash_password(p, iterations=passwords.MIN_ITERATIONS) for u, p in PASSWORD.items()
}
NOW = datetime.now(UTC).replace(microsecond=0)


def ari_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def make_config(**console: Any) -> Config:
    return parse_config(
        {
            "ari": {"url": "http://127.0.0.1:8088", "username": "u", "password": "p"},
            "http": {
                "listen": "127.0.0.1:8089",
                "tokens": [
                    {"token": ADMIN["Authorization"][7:], "role": "admin"},
                    {
                        "token": SUP1_TOKEN["Authorization"][7:],
                        "role": "supervisor",
                        "user": "sup1",
                    },
                ],
            },
            "console": {"enabled": True, **console},
            "supervisors": [
                {
                    "user": "sup1",
                    "endpoints": ["PJSIP/2001"],
                    "user_level": 8,
                    "password_hash": HASHES["sup1"],
                },
                {
                    "user": "sup2",
                    "endpoints": ["PJSIP/2002"],
                    "user_level": 8,
                    "modes": ["monitor", "whisper"],
                    "password_hash": HASHES["sup2"],
                },
                {"user": "nohash", "endpoints": ["PJSIP/2003"], "user_level": 8},
                {
                    "user": "low",
                    "endpoints": ["PJSIP/2004"],
                    "user_level": 3,
                    "password_hash": HASHES["low"],
                },
            ],
        },
        {},
    )


@dataclass
class FakeAri:
    """Endpoints and channels, as ARI lists them; originate only records."""

    channels: dict[str, Channel] = field(default_factory=dict)
    endpoints: dict[str, list[str]] = field(default_factory=dict)
    rung: list[str] = field(default_factory=list)
    listings: int = 0

    def call(self, endpoint: str, cid: str, state: str = "Up", age: float = 60.0) -> None:
        self.endpoints.setdefault(endpoint, []).append(cid)
        created = ari_time(datetime.now(UTC) - timedelta(seconds=age))
        self.channels[cid] = Channel(
            cid, endpoint + "-00000001", state, "", "", creationtime=created
        )

    async def list_channels(self) -> list[Channel]:
        self.listings += 1
        return list(self.channels.values())

    async def get_endpoint(self, technology: str, resource: str) -> Endpoint:
        name = technology + "/" + resource
        if name not in self.endpoints:
            raise AriNotFound(404, "Endpoint not found", method="GET", path="/endpoints")
        return Endpoint(technology, resource, "online", tuple(self.endpoints[name]))

    async def get_channel(self, channel_id: str) -> Channel:
        if channel_id not in self.channels:
            raise AriNotFound(404, "Channel not found", method="GET", path="/channels")
        return self.channels[channel_id]


class FakeEngine:
    """What the HTTP handlers ask of the engine; sessions live in the feed only."""

    def __init__(self, ari: FakeAri, config: Config, feed: EventFeed) -> None:
        self.ari = ari
        self.authorizer = ConfigAuthorizer(config, EndpointResolver(ari, ("PJSIP",)))  # type: ignore[arg-type]
        self.feed = feed
        self.requested: list[tuple[str, str, str]] = []
        self.ended: list[str] = []
        self.cluster = None  # one node

    async def ring_supervisor(
        self, *, session_id: str, endpoint: str, agent: str, mode: Any
    ) -> None:
        self.ari.rung.append(endpoint)

    def request_mode(self, session_id: str, supervisor: str, mode: str, source: str) -> str | None:
        self.requested.append((session_id, supervisor, mode))
        view = self.feed.sessions[session_id]
        data = {**view, "before": view["mode"], "after": mode}
        asyncio.get_running_loop().create_task(
            self.feed.publish(None, c.Publish("mode_changed", 2, data))  # type: ignore[arg-type]
        )
        return None

    def end_session(self, session_id: str, reason: str) -> bool:
        self.ended.append(session_id)
        return True

    def node_refusal(self, verdict: object) -> None:
        return None  # one node: every agent is here


async def start(
    feed: EventFeed, sid: str, supervisor: str, agent: str, mode: str = "monitor"
) -> None:
    data = {"session_id": sid, "agent": agent, "supervisor": supervisor, "mode": mode}
    await feed.publish(None, c.Publish("session_started", 1, data))  # type: ignore[arg-type]


@dataclass
class Console:
    client: TestClient[Any, Any]
    api: Api
    ari: FakeAri
    engine: FakeEngine
    feed: EventFeed

    async def login(self, user: str = "sup1", password: str | None = None) -> dict[str, Any]:
        response = await self.client.post(
            "/v1/console/login", json={"user": user, "password": password or PASSWORD[user]}
        )
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body


async def console_for(config: Config) -> Console:
    ari = FakeAri()
    ari.call("PJSIP/1042", "chan-1042", age=125)
    ari.call("PJSIP/1043", "chan-1043", age=10)
    ari.call("PJSIP/1044", "chan-1044", state="Ringing")
    ari.call("PJSIP/2001", "chan-2001")  # a supervisor on a call: not an agent
    ari.call("PJSIP/1042", "coachd-abc-ear")  # coachd's own snoop
    feed = EventFeed("t")
    engine = FakeEngine(ari, config, feed)
    api = Api(config=config, engine=engine, feed=feed, ready=lambda: True)  # type: ignore[arg-type]
    client: TestClient[Any, Any] = TestClient(TestServer(api.app()))
    await client.start_server()
    return Console(client, api, ari, engine, feed)


@pytest.fixture
async def console() -> AsyncIterator[Console]:
    made = await console_for(make_config())
    yield made
    await made.client.close()


def csrf(me: dict[str, Any]) -> dict[str, str]:
    return {"X-CSRF-Token": me["csrf_token"]}


async def error(response: Any) -> tuple[int, str]:
    return response.status, (await response.json())["error"]["code"]


# --- pages ---------------------------------------------------------------------


async def test_the_pages_are_served_by_coachd_with_security_headers(console: Console) -> None:
    client = console.client
    page = await client.get("/console/")
    assert page.status == 200
    assert page.content_type == "text/html"
    html = await page.text()
    assert 'src="console.js"' in html and "aria-live" in html
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    script = await client.get("/console/console.js")
    assert (script.status, script.content_type) == (200, "text/javascript")
    style = await client.get("/console/console.css")
    assert (style.status, style.content_type) == (200, "text/css")
    moved = await client.get("/console", allow_redirects=False)
    assert (moved.status, moved.headers["Location"]) == (302, "console/")
    for path in ("/console/nope.js", "/console/..%2f..%2fconfig.py", "/console/__init__.py"):
        assert (await client.get(path)).status == 404, path


async def test_without_console_enabled_nothing_is_served_and_cookies_mean_nothing() -> None:
    made = await console_for(make_config(enabled=False))
    try:
        client = made.client
        assert (await client.get("/console/")).status == 404
        response = await client.post(
            "/v1/console/login", json={"user": "sup1", "password": PASSWORD["sup1"]}
        )
        assert response.status == 404
        client.session.cookie_jar.update_cookies({"coachd_console": "anything"})
        assert await error(await client.get("/v1/sessions")) == (401, "unauthorized")
        # The bearer API is unchanged, the new read-only routes included.
        assert (await client.get("/v1/agents", headers=ADMIN)).status == 200
    finally:
        await made.client.close()


# --- login -----------------------------------------------------------------------


async def test_a_login_sets_an_httponly_samesite_strict_cookie_and_gives_a_csrf_token(
    console: Console,
) -> None:
    response = await console.client.post(
        "/v1/console/login", json={"user": "sup1", "password": PASSWORD["sup1"]}
    )
    assert response.status == 200
    body = await response.json()
    assert (body["user"], body["role"]) == ("sup1", "supervisor")
    assert len(body["csrf_token"]) >= 40
    assert response.headers["Cache-Control"] == "no-store"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("coachd_console=")
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags and "samesite=strict" in flags and "path=/" in flags
    assert "secure" not in flags
    assert "max-age=43200" in flags
    me = await console.client.get("/v1/console/me")
    assert me.status == 200
    assert (await me.json())["endpoints"] == ["PJSIP/2001"]


async def test_behind_https_the_cookie_is_secure_and_host_only() -> None:
    made = await console_for(make_config(secure_cookie=True, session_ttl=600))
    try:
        response = await made.client.post(
            "/v1/console/login", json={"user": "sup1", "password": PASSWORD["sup1"]}
        )
        cookie = response.headers["Set-Cookie"]
        assert cookie.startswith("__Host-coachd_console=")
        flags = [part.strip().lower() for part in cookie.split(";")]
        assert "secure" in flags and "httponly" in flags and "max-age=600" in flags
        assert not any(f.startswith("domain") for f in flags)
    finally:
        await made.client.close()


@pytest.mark.parametrize(
    ("user", "password", "status", "code"),
    [
        ("sup1", "wrong", 401, "invalid_credentials"),
        ("SUP1", PASSWORD["sup1"], 401, "invalid_credentials"),
        ("ghost", "whatever", 401, "invalid_credentials"),
        ("nohash", "anything", 401, "invalid_credentials"),
        ("low", PASSWORD["low"], 403, "not_permitted"),
    ],
)
async def test_bad_logins_are_refused_without_a_cookie(
    console: Console, user: str, password: str, status: int, code: str
) -> None:
    response = await console.client.post(
        "/v1/console/login", json={"user": user, "password": password}
    )
    assert await error(response) == (status, code)
    assert "Set-Cookie" not in response.headers
    assert await error(await console.client.get("/v1/console/me")) == (401, "unauthorized")


async def test_login_needs_a_json_body_with_both_fields(console: Console) -> None:
    client = console.client
    form = await client.post("/v1/console/login", data={"user": "sup1", "password": "x"})
    assert await error(form) == (415, "unsupported_media_type")
    missing = await client.post("/v1/console/login", json={"user": "sup1"})
    assert await error(missing) == (422, "invalid_field")
    long = await client.post("/v1/console/login", json={"user": "sup1", "password": "x" * 300})
    assert await error(long) == (422, "invalid_field")


async def test_five_failures_a_minute_lock_the_user_out_even_with_the_right_password(
    console: Console,
) -> None:
    now = [1000.0]
    console.api.console.limiter = LoginLimiter(clock=lambda: now[0])
    client = console.client
    for _ in range(5):
        bad = await client.post("/v1/console/login", json={"user": "sup1", "password": "nope"})
        assert bad.status == 401
    limited = await client.post(
        "/v1/console/login", json={"user": "Sup1", "password": PASSWORD["sup1"]}
    )
    assert await error(limited) == (429, "too_many_attempts")
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    # Another user is not locked out by sup1's failures.
    await console.login("sup2")
    now[0] += 61
    await console.login("sup1")


async def test_a_burst_of_parallel_guesses_gets_no_more_than_five_tries(
    console: Console,
) -> None:
    client = console.client
    guesses = [
        client.post("/v1/console/login", json={"user": "sup1", "password": f"guess-{i}"})
        for i in range(12)
    ]
    statuses = sorted(r.status for r in await asyncio.gather(*guesses))
    assert statuses == [401] * 5 + [429] * 7


def test_the_limiter_counts_per_user_and_per_address() -> None:
    now = [0.0]
    limiter = LoginLimiter(failures=2, window=60, per_address=3, clock=lambda: now[0])
    limiter.failed("a", "10.1.1.1")
    assert limiter.retry_after("a", "10.1.1.1") == 0
    limiter.failed("A", "10.1.1.2")
    assert limiter.retry_after("a", "10.9.9.9") == 60
    limiter.failed("b", "10.1.1.1")
    limiter.failed("c", "10.1.1.1")
    assert limiter.retry_after("d", "10.1.1.1") > 0  # the address is out of tries
    assert limiter.retry_after("d", "10.1.1.3") == 0
    now[0] = 30
    limiter.succeeded("a")
    assert limiter.retry_after("a", "10.1.1.3") == 0
    now[0] = 61
    assert limiter.retry_after("d", "10.1.1.1") == 0


# --- the cookie as a supervisor ---------------------------------------------------


async def test_a_console_login_sees_only_its_supervisors_sessions(console: Console) -> None:
    await start(console.feed, "aaaaaaaaaaa1", "sup1", "1042")
    await start(console.feed, "bbbbbbbbbbb2", "sup2", "1043")
    await console.login("sup1")
    client = console.client
    listed = await (await client.get("/v1/sessions")).json()
    assert [s["session_id"] for s in listed["sessions"]] == ["aaaaaaaaaaa1"]
    assert (await client.get("/v1/sessions/aaaaaaaaaaa1")).status == 200
    assert await error(await client.get("/v1/sessions/bbbbbbbbbbb2")) == (404, "not_found")
    # The event stream too.
    stream = await client.get("/v1/events")
    assert stream.status == 200
    seen = b""
    while b"aaaaaaaaaaa1" not in seen:
        seen += await asyncio.wait_for(stream.content.readany(), 2)
    stream.close()
    assert b"bbbbbbbbbbb2" not in seen


async def read_until_closed(stream: Any, within: float) -> bytes:
    """Everything the stream sends until the server ends it (TimeoutError if it
    does not within ``within`` seconds)."""
    seen = b""
    async with asyncio.timeout(within):
        while chunk := await stream.content.readany():
            seen += chunk
    return seen


async def test_a_console_logins_event_stream_ends_when_the_login_expires() -> None:
    made = await console_for(make_config(session_ttl=1.5))
    try:
        await made.login("sup1")
        stream = await made.client.get("/v1/events")
        assert stream.status == 200
        await read_until_closed(stream, 4.0)  # ended by the server at 1.5 s
        # A bearer token's stream is not a login's: it goes on.
        token_stream = await made.client.get("/v1/events", headers=SUP1_TOKEN)
        with pytest.raises(TimeoutError):
            await read_until_closed(token_stream, 1.0)
        token_stream.close()
    finally:
        await made.client.close()


async def test_after_logout_the_stream_sends_nothing_more(console: Console) -> None:
    me = await console.login("sup1")
    client = console.client
    stream = await client.get("/v1/events")
    logout = await client.post("/v1/console/logout", headers=csrf(me))
    assert logout.status in (200, 204)
    await start(console.feed, "aaaaaaaaaaa1", "sup1", "1042")  # sup1's own session
    assert b"aaaaaaaaaaa1" not in await read_until_closed(stream, 2.0)


async def test_changes_need_the_csrf_token_of_the_login(console: Console) -> None:
    await start(console.feed, "aaaaaaaaaaa1", "sup1", "1042")
    await console.login("sup1")
    client = console.client
    body = {"supervisor": "sup1", "agent": "1043", "mode": "whisper"}
    for headers in ({}, {"X-CSRF-Token": "not-the-token"}, {"X-CSRF-Token": ""}):
        response = await client.post("/v1/sessions", json=body, headers=headers)
        assert await error(response) == (403, "csrf_failed")
        patch = await client.patch(
            "/v1/sessions/aaaaaaaaaaa1", json={"mode": "barge"}, headers=headers
        )
        assert await error(patch) == (403, "csrf_failed")
        delete = await client.delete("/v1/sessions/aaaaaaaaaaa1", headers=headers)
        assert await error(delete) == (403, "csrf_failed")
        logout = await client.post("/v1/console/logout", headers=headers)
        assert await error(logout) == (403, "csrf_failed")
    assert console.ari.rung == [] and console.engine.requested == [] and console.engine.ended == []


async def test_a_supervisor_rings_their_own_phone_switches_and_ends_their_session(
    console: Console,
) -> None:
    me = await console.login("sup1")
    client = console.client
    response = await client.post(
        "/v1/sessions",
        json={"supervisor": "sup1", "agent": "1043", "mode": "whisper"},
        headers=csrf(me),
    )
    assert response.status == 202, await response.text()
    sid = (await response.json())["session_id"]
    assert console.ari.rung == ["PJSIP/2001"]
    await start(console.feed, sid, "sup1", "1043", "whisper")
    patched = await client.patch(f"/v1/sessions/{sid}", json={"mode": "barge"}, headers=csrf(me))
    assert patched.status == 200, await patched.text()
    assert (await patched.json())["mode"] == "barge"
    assert console.engine.requested == [(sid, "sup1", "barge")]
    ended = await client.delete(f"/v1/sessions/{sid}", headers=csrf(me))
    assert ended.status == 202
    assert console.engine.ended == [sid]


async def test_a_supervisor_cannot_act_on_another_supervisors_session_or_for_them(
    console: Console,
) -> None:
    await start(console.feed, "bbbbbbbbbbb2", "sup2", "1043")
    me = await console.login("sup1")
    client = console.client
    for_other = await client.post(
        "/v1/sessions",
        json={"supervisor": "sup2", "agent": "1042", "mode": "monitor"},
        headers=csrf(me),
    )
    assert await error(for_other) == (403, "forbidden")
    patch = await client.patch(
        "/v1/sessions/bbbbbbbbbbb2", json={"mode": "barge"}, headers=csrf(me)
    )
    assert await error(patch) == (404, "not_found")
    delete = await client.delete("/v1/sessions/bbbbbbbbbbb2", headers=csrf(me))
    assert await error(delete) == (404, "not_found")
    assert console.ari.rung == [] and console.engine.requested == [] and console.engine.ended == []


async def test_the_authorizer_is_asked_before_anyone_is_rung(console: Console) -> None:
    me = await console.login("sup2")  # monitor and whisper only
    client = console.client
    barge = await client.post(
        "/v1/sessions",
        json={"supervisor": "sup2", "agent": "1042", "mode": "barge"},
        headers=csrf(me),
    )
    assert await error(barge) == (403, "not_permitted")
    ringing = await client.post(
        "/v1/sessions",
        json={"supervisor": "sup2", "agent": "1044", "mode": "monitor"},
        headers=csrf(me),
    )
    assert await error(ringing) == (409, "agent_not_on_call")
    assert console.ari.rung == []


async def test_the_bearer_token_api_is_unchanged(console: Console) -> None:
    await start(console.feed, "aaaaaaaaaaa1", "sup1", "1042")
    await start(console.feed, "bbbbbbbbbbb2", "sup2", "1043")
    me = await console.login("sup2")
    client = console.client
    # A bad Authorization header is judged alone, even beside a good cookie.
    bad = {"Authorization": "Bearer not-a-token-at-all-xxxx", **csrf(me)}
    assert await error(await client.get("/v1/sessions", headers=bad)) == (401, "unauthorized")
    admin = await (await client.get("/v1/sessions", headers=ADMIN)).json()
    assert len(admin["sessions"]) == 2
    mine = await (await client.get("/v1/sessions", headers=SUP1_TOKEN)).json()
    assert [s["session_id"] for s in mine["sessions"]] == ["aaaaaaaaaaa1"]
    # Tokens need no CSRF header.
    ended = await client.delete("/v1/sessions/aaaaaaaaaaa1", headers=SUP1_TOKEN)
    assert ended.status == 202
    me_token = await (await client.get("/v1/console/me", headers=ADMIN)).json()
    assert (me_token["role"], me_token["csrf_token"]) == ("admin", None)


async def test_logout_ends_the_login_for_good(console: Console) -> None:
    me = await console.login("sup1")
    client = console.client
    token = client.session.cookie_jar.filter_cookies(client.make_url("/"))["coachd_console"].value
    response = await client.post("/v1/console/logout", headers=csrf(me))
    assert response.status == 204
    assert "max-age=0" in response.headers["Set-Cookie"].lower()
    assert await error(await client.get("/v1/console/me")) == (401, "unauthorized")
    client.session.cookie_jar.update_cookies({"coachd_console": token})  # replayed
    assert await error(await client.get("/v1/console/me")) == (401, "unauthorized")


async def test_logins_expire_and_a_new_login_replaces_the_old_cookie(console: Console) -> None:
    now = [0.0]
    console.api.console.sessions = ConsoleSessions(100, clock=lambda: now[0])
    client = console.client
    await console.login("sup1")
    first = client.session.cookie_jar.filter_cookies(client.make_url("/"))["coachd_console"].value
    await console.login("sup1")
    assert await error(await client.get("/v1/console/me", cookies={"coachd_console": first})) == (
        401,
        "unauthorized",
    )
    assert (await client.get("/v1/console/me")).status == 200
    now[0] = 100
    assert await error(await client.get("/v1/console/me")) == (401, "unauthorized")
    assert len(console.api.console.sessions) == 0


# --- agents on calls and coverage ---------------------------------------------------


async def test_agents_on_calls_are_the_answered_agent_endpoints_with_the_modes_allowed(
    console: Console,
) -> None:
    await start(console.feed, "bbbbbbbbbbb2", "sup2", "1042", "whisper")
    await console.login("sup1")
    body = await (await console.client.get("/v1/agents")).json()
    agents = {a["agent"]: a for a in body["agents"]}
    assert sorted(agents) == ["1042", "1043"]  # not ringing 1044, not supervisor 2001
    a1042 = agents["1042"]
    assert a1042["endpoint"] == "PJSIP/1042"
    assert 124 <= a1042["seconds"] <= 140
    assert a1042["modes"] == ["monitor", "whisper", "private_whisper", "barge"]
    assert a1042["coached"] is True
    assert a1042["sessions"] == []  # sup2's session is not sup1's to see
    assert agents["1043"]["coached"] is False


async def test_agents_for_an_admin_token_and_a_narrowed_supervisor(console: Console) -> None:
    await start(console.feed, "bbbbbbbbbbb2", "sup2", "1042", "whisper")
    admin = await (await console.client.get("/v1/agents", headers=ADMIN)).json()
    assert [(a["agent"], a["modes"]) for a in admin["agents"]] == [("1042", None), ("1043", None)]
    assert [s["session_id"] for s in admin["agents"][0]["sessions"]] == ["bbbbbbbbbbb2"]
    await console.login("sup2")
    sup2 = await (await console.client.get("/v1/agents")).json()
    assert {a["agent"]: a["modes"] for a in sup2["agents"]} == {
        "1042": ["monitor", "whisper"],
        "1043": ["monitor", "whisper"],
    }
    assert [s["session_id"] for s in sup2["agents"][0]["sessions"]] == ["bbbbbbbbbbb2"]
    assert console.ari.listings == 1  # one ARI listing serves consoles polling together


async def test_agent_endpoint_patterns_narrow_the_list() -> None:
    made = await console_for(make_config(agent_endpoints=["PJSIP/1043"]))
    try:
        body = await (await made.client.get("/v1/agents", headers=ADMIN)).json()
        assert [a["agent"] for a in body["agents"]] == ["1043"]
    finally:
        await made.client.close()


async def test_coverage_counts_todays_log_and_running_sessions(console: Console) -> None:
    midnight = NOW.replace(hour=0, minute=0, second=0)
    now = max(NOW, midnight + timedelta(hours=1))
    log = [
        # 10 minutes of whisper today, and a period that began yesterday (10 min today).
        ModePeriod(
            "s1", "sup1", "whisper", now - timedelta(minutes=30), now - timedelta(minutes=20)
        ),
        ModePeriod(
            "s0",
            "sup1",
            "monitor",
            midnight - timedelta(minutes=5),
            midnight + timedelta(minutes=10),
        ),
        ModePeriod("s2", "sup2", "barge", now - timedelta(minutes=50), now - timedelta(minutes=45)),
        ModePeriod(
            "old", "sup2", "monitor", now - timedelta(minutes=59), None
        ),  # a crash's leftover
    ]

    async def periods(since: datetime, until: datetime) -> list[ModePeriod]:
        assert since == midnight
        return log

    console.api.console.coverage = Coverage(
        periods, console.feed, zone=UTC, target_minutes=60, now=lambda: now
    )
    await start(console.feed, "aaaaaaaaaaa1", "sup1", "1042", "monitor")
    console.feed.sessions["aaaaaaaaaaa1"]["mode_since"] = (now - timedelta(minutes=2)).isoformat()
    await console.login("sup1")
    mine = await (await console.client.get("/v1/coverage")).json()
    assert mine["day"] == now.date().isoformat() and mine["log_available"] is True
    assert [s["supervisor"] for s in mine["supervisors"]] == ["sup1"]
    row = mine["supervisors"][0]
    assert row["minutes"] == 22.0
    assert row["by_mode"] == {
        "monitor": 12.0,
        "whisper": 10.0,
        "private_whisper": 0.0,
        "barge": 0.0,
    }
    assert (row["running_sessions"], row["percent_of_target"]) == (1, 36.7)
    everyone = await (await console.client.get("/v1/coverage", headers=ADMIN)).json()
    assert {s["supervisor"]: s["minutes"] for s in everyone["supervisors"]} == {
        "sup1": 22.0,
        "sup2": 5.0,
    }


async def test_coverage_without_the_log_counts_running_sessions_only(console: Console) -> None:
    async def broken(since: datetime, until: datetime) -> list[ModePeriod]:
        raise OSError("disk gone")

    console.api.console.coverage = Coverage(broken, console.feed, zone=None, target_minutes=0)
    body = await (await console.client.get("/v1/coverage", headers=SUP1_TOKEN)).json()
    assert body["log_available"] is False
    assert body["supervisors"] == [
        {
            "supervisor": "sup1",
            "minutes": 0.0,
            "by_mode": {"monitor": 0.0, "whisper": 0.0, "private_whisper": 0.0, "barge": 0.0},
            "running_sessions": 0,
            "percent_of_target": None,
        }
    ]
