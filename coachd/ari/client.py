"""A small typed ARI REST client on aiohttp.

Only the calls coachd (and its test harness) need. Every method raises an
:class:`~coachd.ari.errors.AriError` subclass carrying Asterisk's message.
Credentials travel in the ``Authorization`` header and never appear in errors
or logs.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import quote

import aiohttp

from coachd.ari.errors import AriUnavailable, error_for_status

Direction = Literal["none", "both", "out", "in"]
MuteDirection = Literal["both", "in", "out"]
Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    name: str
    state: str
    caller_number: str
    dialplan_exten: str
    dialplan_app: str = ""
    dialplan_app_data: str = ""
    creationtime: str = ""
    """As ARI gives it (``2024-05-06T10:00:00.123+0000``), "" when absent."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Channel:
        caller = data.get("caller") or {}
        dialplan = data.get("dialplan") or {}
        return cls(
            id=str(data["id"]),
            name=str(data.get("name", "")),
            state=str(data.get("state", "")),
            caller_number=str(caller.get("number", "")),
            dialplan_exten=str(dialplan.get("exten", "")),
            dialplan_app=str(dialplan.get("app_name", "")),
            dialplan_app_data=str(dialplan.get("app_data", "")),
            creationtime=str(data.get("creationtime", "")),
        )

    def in_stasis_app(self, app: str) -> bool:
        """Sent to ``Stasis(app,...)`` by the dialplan (what the feature codes do)."""
        return self.dialplan_app == "Stasis" and self.dialplan_app_data.split(",", 1)[0] == app

    @property
    def technology(self) -> str:
        return self.name.split("/", 1)[0]


@dataclass(frozen=True, slots=True)
class Bridge:
    id: str
    technology: str
    bridge_type: str
    name: str
    channels: tuple[str, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Bridge:
        return cls(
            id=str(data["id"]),
            technology=str(data.get("technology", "")),
            bridge_type=str(data.get("bridge_type", "")),
            name=str(data.get("name", "")),
            channels=tuple(str(c) for c in data.get("channels", [])),
        )


@dataclass(frozen=True, slots=True)
class Endpoint:
    technology: str
    resource: str
    state: str
    channel_ids: tuple[str, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Endpoint:
        return cls(
            technology=str(data.get("technology", "")),
            resource=str(data.get("resource", "")),
            state=str(data.get("state", "")),
            channel_ids=tuple(str(c) for c in data.get("channel_ids", [])),
        )


def basic_auth_header(username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return "Basic " + token


def _q(segment: str) -> str:
    return quote(segment, safe="")


class AriClient:
    """``async with AriClient(url=..., username=..., password=...) as ari:``"""

    def __init__(
        self,
        *,
        url: str,
        username: str,
        password: str,
        timeout: float = 5.0,
    ) -> None:
        self.base_url = url.rstrip("/") + "/ari"
        self._headers = {"Authorization": basic_auth_header(username, password)}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def auth_headers(self) -> Mapping[str, str]:
        return self._headers

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(
            headers=self._headers,
            timeout=self._timeout,
            connector=aiohttp.TCPConnector(limit=64),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("AriClient used outside 'async with'")
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Json | None = None,
    ) -> Any:
        url = self.base_url + path
        try:
            async with self.session.request(
                method,
                url,
                params=params,
                data=None if body is None else json.dumps(body),
                headers=None if body is None else {"Content-Type": "application/json"},
            ) as resp:
                text = await resp.text()
                if resp.status >= 300:
                    raise error_for_status(resp.status, _message(text), method=method, path=path)
                if not text:
                    return None
                return json.loads(text)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AriUnavailable(
                0, type(exc).__name__ + ": " + str(exc), method=method, path=path
            ) from exc

    # --- asterisk ---------------------------------------------------------

    async def info(self) -> Json:
        result: Json = await self.request("GET", "/asterisk/info")
        return result

    # --- channels ---------------------------------------------------------

    async def list_channels(self) -> list[Channel]:
        return [Channel.from_json(c) for c in await self.request("GET", "/channels")]

    async def get_channel(self, channel_id: str) -> Channel:
        return Channel.from_json(await self.request("GET", "/channels/" + _q(channel_id)))

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", "/channels/" + _q(channel_id) + "/answer")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self.request("DELETE", "/channels/" + _q(channel_id), params={"reason": reason})

    async def continue_in_dialplan(
        self, channel_id: str, *, context: str = "", extension: str = "", priority: int = 0
    ) -> None:
        """Leave Stasis: where the channel was, or at ``context``/``extension``/``priority``."""
        params: dict[str, str | int] = {}
        if context:
            params["context"] = context
        if extension:
            params["extension"] = extension
        if priority:
            params["priority"] = priority
        await self.request("POST", "/channels/" + _q(channel_id) + "/continue", params=params)

    async def snoop(
        self,
        channel_id: str,
        *,
        app: str,
        snoop_id: str,
        spy: Direction = "none",
        whisper: Direction = "none",
        app_args: str = "",
    ) -> Channel:
        params: dict[str, str | int] = {
            "app": app,
            "spy": spy,
            "whisper": whisper,
            "snoopId": snoop_id,
        }
        if app_args:
            params["appArgs"] = app_args
        return Channel.from_json(
            await self.request("POST", "/channels/" + _q(channel_id) + "/snoop", params=params)
        )

    async def mute(self, channel_id: str, direction: MuteDirection) -> None:
        await self.request(
            "POST", "/channels/" + _q(channel_id) + "/mute", params={"direction": direction}
        )

    async def unmute(self, channel_id: str, direction: MuteDirection) -> None:
        await self.request(
            "DELETE", "/channels/" + _q(channel_id) + "/mute", params={"direction": direction}
        )

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        await self.request(
            "POST",
            "/channels/" + _q(channel_id) + "/variable",
            params={"variable": variable, "value": value},
        )

    async def send_dtmf(
        self, channel_id: str, dtmf: str, *, duration_ms: int = 100, between_ms: int = 100
    ) -> None:
        await self.request(
            "POST",
            "/channels/" + _q(channel_id) + "/dtmf",
            params={"dtmf": dtmf, "duration": duration_ms, "between": between_ms},
        )

    async def originate(
        self,
        *,
        endpoint: str,
        app: str,
        channel_id: str,
        app_args: str = "",
        caller_id: str = "",
        timeout: int = 30,
        variables: Mapping[str, str] | None = None,
    ) -> Channel:
        params: dict[str, str | int] = {
            "endpoint": endpoint,
            "app": app,
            "channelId": channel_id,
            "timeout": timeout,
        }
        if app_args:
            params["appArgs"] = app_args
        if caller_id:
            params["callerId"] = caller_id
        body = {"variables": dict(variables)} if variables else None
        return Channel.from_json(await self.request("POST", "/channels", params=params, body=body))

    async def external_media(
        self,
        *,
        app: str,
        channel_id: str,
        external_host: str,
        fmt: str = "ulaw",
        direction: Literal["both", "in", "out"] = "both",
    ) -> Channel:
        return Channel.from_json(
            await self.request(
                "POST",
                "/channels/externalMedia",
                params={
                    "app": app,
                    "channelId": channel_id,
                    "external_host": external_host,
                    "format": fmt,
                    "direction": direction,
                },
            )
        )

    async def play_on_channel(self, channel_id: str, media: str, playback_id: str) -> None:
        await self.request(
            "POST",
            "/channels/" + _q(channel_id) + "/play/" + _q(playback_id),
            params={"media": media},
        )

    # --- bridges ----------------------------------------------------------

    async def list_bridges(self) -> list[Bridge]:
        return [Bridge.from_json(b) for b in await self.request("GET", "/bridges")]

    async def create_bridge(
        self, bridge_id: str, *, name: str = "", bridge_type: str = "mixing"
    ) -> Bridge:
        params: dict[str, str | int] = {"type": bridge_type}
        if name:
            params["name"] = name
        return Bridge.from_json(
            await self.request("POST", "/bridges/" + _q(bridge_id), params=params)
        )

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.request("DELETE", "/bridges/" + _q(bridge_id))

    async def add_channels(self, bridge_id: str, channel_ids: list[str]) -> None:
        await self.request(
            "POST",
            "/bridges/" + _q(bridge_id) + "/addChannel",
            params={"channel": ",".join(channel_ids)},
        )

    async def remove_channel(self, bridge_id: str, channel_id: str) -> None:
        await self.request(
            "POST",
            "/bridges/" + _q(bridge_id) + "/removeChannel",
            params={"channel": channel_id},
        )

    async def play_on_bridge(self, bridge_id: str, media: str, playback_id: str) -> None:
        await self.request(
            "POST",
            "/bridges/" + _q(bridge_id) + "/play/" + _q(playback_id),
            params={"media": media},
        )

    async def stop_playback(self, playback_id: str) -> None:
        await self.request("DELETE", "/playbacks/" + _q(playback_id))

    # --- endpoints --------------------------------------------------------

    async def get_endpoint(self, technology: str, resource: str) -> Endpoint:
        return Endpoint.from_json(
            await self.request("GET", "/endpoints/" + _q(technology) + "/" + _q(resource))
        )


def _message(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:200]
    if isinstance(data, dict) and "message" in data:
        return str(data["message"])
    return text.strip()[:200]
