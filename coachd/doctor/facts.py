"""What ``coachd doctor`` collected: plain data, judged by :mod:`coachd.doctor.checks`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

Settings = Mapping[str, str]
"""A PJSIP object's attributes as ARI's dynamic configuration returns them."""


@dataclass(frozen=True, slots=True)
class AriAccess:
    """``GET /ari/asterisk/info`` with coachd's own credentials."""

    url: str
    """``ari.url``, password masked."""
    username: str
    error: str | None = None
    """``None``: reachable and authenticated."""
    status: int = 0
    """The HTTP status of the failed request (0: no answer)."""
    can_write: bool | None = None
    """``False``: the user is ``read_only``; ``None``: could not tell."""


@dataclass(frozen=True, slots=True)
class Probe:
    """A service coachd connects to (MQTT broker, database)."""

    target: str | None
    """Where (secrets masked); ``None``: not configured."""
    error: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class EndpointFacts:
    name: str
    """``TECH/resource``, e.g. ``PJSIP/1042``."""
    supervisor: str | None
    """The supervisor (``user``) whose endpoint this is; ``None`` for an agent's."""
    present: bool
    """The endpoint exists on this Asterisk."""
    settings: Settings | None = None
    """PJSIP endpoint attributes; ``None`` when not read (other technology, or ``error``)."""
    error: str | None = None
    """Why the settings could not be read."""

    @property
    def technology(self) -> str:
        return self.name.partition("/")[0]

    @property
    def resource(self) -> str:
        return self.name.partition("/")[2]


@dataclass(frozen=True, slots=True)
class DialplanFile:
    """A dialplan file given with ``--dialplan`` (ARI cannot read the dialplan)."""

    path: str
    text: str | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Facts:
    app: str
    """``ari.app``: coachd's Stasis application."""
    technologies: tuple[str, ...]
    """``ari.endpoint_technologies``."""
    ari: AriAccess
    mqtt: Probe
    database: Probe
    version: str | None = None
    """Asterisk's ``system.version``."""
    modules: Mapping[str, str] | None = None
    """Loaded modules, name without ``.so`` -> status (``Running``); ``None``: not listed."""
    modules_error: str | None = None
    applications: frozenset[str] | None = None
    """Stasis applications registered right now; ``None``: not listed."""
    endpoints: tuple[EndpointFacts, ...] = ()
    aors: Mapping[str, Settings] = field(default_factory=dict)
    """PJSIP AORs of the endpoints, by id (those that could be read)."""
    transports: Mapping[str, Settings] = field(default_factory=dict)
    """PJSIP transports of the endpoints, by id (those that could be read)."""
    dialplan: tuple[DialplanFile, ...] | None = None
    """``None``: no ``--dialplan`` given."""
