"""Typed coachd configuration.

Sources, lowest precedence first: the TOML file, systemd credentials (files
named ``<section>.<key>`` in ``$CREDENTIALS_DIRECTORY``), then environment
variables ``COACHD_<SECTION>__<KEY>`` / ``COACHD_INSTANCE``.

The schema is the dataclasses below: each field's type hint drives type
checking and string parsing, and its optional metadata carries a
validator (``check``) and a redactor (``redact``) from
:mod:`coachd.config_checks`.
"""

import os
import socket
import tomllib
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_type_hints

from coachd import config_checks as chk
from coachd import passwords
from coachd.alerts.config import AlertsConfig, check_alerts
from coachd.cluster.config import ClusterConfig, check_cluster
from coachd.config_sources import Override, credential_overrides, environment_overrides
from coachd.config_types import coerce, from_text
from coachd.cues import LIBRARY as CUE_LIBRARY
from coachd.errors import ConfigError

Mode = Literal["monitor", "whisper", "private_whisper", "barge"]
MODES: tuple[Mode, ...] = get_args(Mode)
Keymap = Literal["chanspy", "vicidial"]
LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["auto", "json", "console"]


def _field(
    default: Any = MISSING,
    *,
    check: Callable[[Any], None] | None = None,
    redact: Callable[[Any], object] | None = None,
) -> Any:
    return field(default=default, metadata={"check": check, "redact": redact})


@dataclass(frozen=True, slots=True)
class AriConfig:
    url: str = _field(check=chk.http_url, redact=chk.mask_url)
    username: str = _field(check=chk.nonempty)
    password: str = _field(check=chk.nonempty, redact=chk.mask)
    app: str = _field("coachd", check=chk.app_name)
    endpoint_technologies: tuple[str, ...] = _field(("PJSIP",), check=chk.technologies)
    connect_timeout: float = _field(5.0, check=chk.positive)
    request_timeout: float = _field(5.0, check=chk.positive)


@dataclass(frozen=True, slots=True)
class MqttConfig:
    url: str | None = _field(None, check=chk.mqtt_url, redact=chk.mask_url)
    topic_prefix: str = _field("coachd", check=chk.topic_prefix)
    username: str | None = _field(None, check=chk.nonempty)
    password: str | None = _field(None, redact=chk.mask)
    client_id: str | None = _field(None, check=chk.nonempty)
    queue_size: int = _field(10000, check=chk.positive)
    control: bool = False

    @property
    def enabled(self) -> bool:
        return self.url is not None


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    url: str | None = _field(None, check=chk.database_url, redact=chk.mask_url)
    spool: str | None = _field(None, check=chk.nonempty)


@dataclass(frozen=True, slots=True)
class HttpConfig:
    listen: str | None = _field(None, check=chk.listen)

    @property
    def address(self) -> tuple[str, int] | None:
        """``(host, port)`` to bind, or ``None`` when the HTTP server is off."""
        return None if self.listen is None else chk.split_listen(self.listen)


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    beep_supervisor: bool = False
    notify_agent: bool = False
    notify_agent_media: str = _field("sound:beep", check=chk.nonempty)
    single_talker: bool = True
    keymap: Keymap = "chanspy"
    min_user_level: int = _field(7, check=chk.non_negative)
    end_tone: bool = True


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    """Seconds a session may stay in one mode without a switch (0: no limit):
    ``<mode>_warning`` plays a short tone to the supervisor, ``<mode>_limit``
    ends the session (reason ``time_limit``). Default: the guide's "don't
    whisper-coach for more than 15 minutes", as a warning only."""

    monitor_warning: float = _field(0.0, check=chk.non_negative)
    monitor_limit: float = _field(0.0, check=chk.non_negative)
    whisper_warning: float = _field(900.0, check=chk.non_negative)
    whisper_limit: float = _field(0.0, check=chk.non_negative)
    private_whisper_warning: float = _field(900.0, check=chk.non_negative)
    private_whisper_limit: float = _field(0.0, check=chk.non_negative)
    barge_warning: float = _field(0.0, check=chk.non_negative)
    barge_limit: float = _field(0.0, check=chk.non_negative)

    def for_mode(self, mode: Mode) -> tuple[float, float]:
        """``(warning, limit)`` seconds for ``mode``."""
        return getattr(self, mode + "_warning"), getattr(self, mode + "_limit")


@dataclass(frozen=True, slots=True)
class CuesConfig:
    """Whisper cues: short prompts played into the agent's ear (never the caller's)."""

    names: tuple[str, ...] = _field(tuple(CUE_LIBRARY), check=chk.cue_names)
    """Cues the HTTP API may play (``POST /v1/sessions/{id}/cues``)."""
    digits: tuple[str, ...] = _field((), check=chk.cue_digits)
    """``"<digit>:<cue>"``: keys that play a cue during a session (not 4, 5, 6, *, #)."""
    media_prefix: str = _field("sound:coachd-cues/", check=chk.nonempty)

    @property
    def digit_map(self) -> tuple[tuple[str, str], ...]:
        return tuple((d.split(":", 1)[0], d.split(":", 1)[1]) for d in self.digits)


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    shutdown_timeout: float = _field(5.0, check=chk.positive)


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: LogLevel = "info"
    format: LogFormat = "auto"


@dataclass(frozen=True, slots=True)
class VicidialConfig:
    """VICIdial mode: supervisors, permissions and shifts from VICIdial's tables
    (in the database of ``[database] url``), sessions in its monitoring log."""

    enabled: bool = False
    min_user_level: int = _field(7, check=chk.non_negative)
    require_api_access: bool = True
    """HTTP-started sessions need vdc_agent_api_access and blind_monitor allowed."""
    timezone: str | None = _field(None, check=chk.timezone)
    """IANA zone of VICIdial's wall-clock times (shifts, log rows); None: the host's."""
    server_ip: str | None = _field(None, check=chk.ipv4)
    """This Asterisk's ``servers.server_ip``: phones and agents are looked up on it."""
    timeout: float = _field(3.0, check=chk.positive)
    """Seconds a permission lookup may take before the session is refused."""

    @property
    def zone(self) -> zoneinfo.ZoneInfo | None:
        return None if self.timezone is None else zoneinfo.ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True)
class SupervisorConfig:
    user: str = _field(check=chk.nonempty)
    endpoints: tuple[str, ...] = _field(check=chk.endpoints)
    user_level: int = _field(check=chk.non_negative)
    modes: tuple[Mode, ...] = _field(MODES, check=chk.modes)
    password_hash: str | None = _field(None, check=passwords.check_hash, redact=chk.mask)
    """For the browser console's login (``coachd hash-password``); None: no console login."""


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    """The supervisors' browser console at ``/console/`` (see :mod:`coachd.http.console`)."""

    enabled: bool = False
    secure_cookie: bool = False
    """Mark the session cookie ``Secure`` (coachd behind an https reverse proxy)."""
    session_ttl: float = _field(43200.0, check=chk.positive)
    """Seconds a console login lasts (default 12 hours)."""
    agent_endpoints: tuple[str, ...] = _field((), check=chk.endpoints)
    """Endpoints listed as agents, as patterns (``PJSIP/10*``); () any that is not a
    supervisor's. Without VICIdial mode only (there, agents are VICIdial's)."""
    target_minutes: float = _field(180.0, check=chk.non_negative)
    """Daily coaching minutes the coverage counter aims at (the guide's three hours)."""


@dataclass(frozen=True, slots=True)
class TokenConfig:
    """An HTTP API bearer token (``[[http.tokens]]``) and who it speaks for."""

    token: str
    role: Literal["admin", "supervisor"]
    user: str | None = None


@dataclass(frozen=True, slots=True)
class Config:
    instance: str
    ari: AriConfig
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    cues: CuesConfig = field(default_factory=CuesConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    vicidial: VicidialConfig = field(default_factory=VicidialConfig)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    supervisors: tuple[SupervisorConfig, ...] = ()
    tokens: tuple[TokenConfig, ...] = ()

    def supervisor_for_endpoint(self, endpoint: str) -> SupervisorConfig | None:
        """The supervisor owning ``endpoint`` ("TECH/resource", case-sensitive)."""
        for supervisor in self.supervisors:
            if endpoint in supervisor.endpoints:
                return supervisor
        return None

    def redacted(self) -> dict[str, object]:
        """The effective configuration as plain data, secrets masked."""
        result: dict[str, object] = {"instance": self.instance}
        for name in SECTIONS:
            result[name] = _redact(getattr(self, name))
        result["supervisors"] = [_redact(s) for s in self.supervisors]
        http = result["http"]
        assert isinstance(http, dict)
        http["tokens"] = [
            {"token": "********", "role": t.role, "user": t.user} for t in self.tokens
        ]
        return result


SECTIONS: dict[str, type[Any]] = {
    "ari": AriConfig,
    "mqtt": MqttConfig,
    "database": DatabaseConfig,
    "http": HttpConfig,
    "policy": PolicyConfig,
    "limits": LimitsConfig,
    "cues": CuesConfig,
    "logging": LoggingConfig,
    "daemon": DaemonConfig,
    "vicidial": VicidialConfig,
    "console": ConsoleConfig,
    "alerts": AlertsConfig,
    "cluster": ClusterConfig,
}
_TOP_LEVEL = frozenset({"instance", "supervisors", *SECTIONS})


def load_config(path: Path | None, environ: Mapping[str, str] = os.environ) -> Config:
    """Read ``path`` (TOML; ``None`` = no file), apply overrides, validate."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    config = parse_config(data, environ)
    check_supported(config)
    return config


# Keys this version accepts in the schema but cannot act on yet: setting one is
# an error rather than a silent no-op.
NOT_YET_SUPPORTED: tuple[tuple[str, Callable[[Config], bool]], ...] = ()


def check_supported(config: Config) -> None:
    """Raise ConfigError for a feature that is configured but not in this version."""
    for key, is_set in NOT_YET_SUPPORTED:
        if is_set(config):
            raise ConfigError("not supported by this version of coachd yet; unset it", key=key)


def parse_config(data: Mapping[str, object], environ: Mapping[str, str]) -> Config:
    """Validate already-parsed TOML ``data`` plus overrides from ``environ``."""
    for key in data:
        if key not in _TOP_LEVEL:
            raise ConfigError("unknown key", key=key)
    overrides = _overrides(environ)
    instance = _instance(data, overrides.get("instance"))
    tables = {name: dict(_table(data.get(name, {}), name)) for name in SECTIONS}
    tokens_raw = tables["http"].pop("tokens", [])
    sections = {name: _build(cls, name, tables[name], overrides) for name, cls in SECTIONS.items()}
    supervisors = _supervisors(data.get("supervisors", []))
    vicidial: VicidialConfig = sections["vicidial"]
    users = None if vicidial.enabled else {s.user for s in supervisors}
    tokens = _tokens(tokens_raw, users)
    config = Config(instance=instance, supervisors=supervisors, tokens=tokens, **sections)
    if vicidial.enabled:
        _check_vicidial_mode(config)
    _check_console(config)
    check_alerts(config)
    check_cluster(config)
    for digit, cue in config.cues.digit_map:
        if cue not in config.cues.names:
            raise ConfigError(
                "digit " + digit + " plays " + cue + ", not in cues.names", key="cues.digits"
            )
    return config


def _check_vicidial_mode(config: Config) -> None:
    """Settings that VICIdial mode replaces may not be set beside it."""
    url = config.database.url
    if url is None or not url.startswith("mysql://"):
        raise ConfigError(
            "vicidial.enabled needs VICIdial's MariaDB/MySQL database here (mysql://...)",
            key="database.url",
        )
    if config.supervisors:
        raise ConfigError(
            "with vicidial.enabled, supervisors are VICIdial users: remove [[supervisors]]",
            key="supervisors",
        )
    if config.policy.min_user_level != PolicyConfig().min_user_level:
        raise ConfigError(
            "applies to [[supervisors]] only: with vicidial.enabled set vicidial.min_user_level",
            key="policy.min_user_level",
        )


def _check_console(config: Config) -> None:
    """The console needs the HTTP API and someone who can log in."""
    console = config.console
    if console.agent_endpoints and config.vicidial.enabled:
        raise ConfigError(
            "with vicidial.enabled, agents are VICIdial's logged-in agents: remove it",
            key="console.agent_endpoints",
        )
    if not console.enabled:
        return
    if config.http.listen is None:
        raise ConfigError(
            "the console is served by the HTTP API: set http.listen", key="console.enabled"
        )
    if not config.vicidial.enabled and not any(s.password_hash for s in config.supervisors):
        raise ConfigError(
            "nobody can log in: give [[supervisors]] a password_hash (coachd hash-password)",
            key="console.enabled",
        )


def _tokens(raw: object, users: set[str] | None) -> tuple[TokenConfig, ...]:
    """``[[http.tokens]]``; a supervisor's token names one of ``users`` (None: any user,
    checked when used, as in VICIdial mode)."""
    if not isinstance(raw, list):
        raise ConfigError("expected an array of tables ([[http.tokens]])", key="http.tokens")
    tokens: list[TokenConfig] = []
    for i, item in enumerate(raw):
        key = f"http.tokens[{i}]"
        table = dict(_table(item, key))
        unknown = sorted(set(table) - {"token", "token_file", "role", "user"})
        if unknown:
            raise ConfigError("unknown key", key=f"{key}.{unknown[0]}")
        if ("token" in table) == ("token_file" in table):
            raise ConfigError("give exactly one of token and token_file", key=key)
        if "token_file" in table:
            path = Path(str(table["token_file"]))
            try:
                secret = path.read_text().strip()
            except OSError as exc:
                raise ConfigError(
                    f"cannot read {path}: {exc.strerror}", key=f"{key}.token_file"
                ) from None
        else:
            secret = table["token"]  # type: ignore[assignment]
        if not isinstance(secret, str) or len(secret) < 16:
            raise ConfigError("a token needs at least 16 characters", key=f"{key}.token")
        role, user = table.get("role"), table.get("user")
        if role == "admin" and user is None:
            tokens.append(TokenConfig(secret, "admin"))
        elif role == "supervisor" and isinstance(user, str) and _names(user, users):
            tokens.append(TokenConfig(secret, "supervisor", user))
        elif role == "supervisor" and users is None:
            raise ConfigError("must name a VICIdial user", key=f"{key}.user")
        elif role == "supervisor":
            raise ConfigError("must name a user of [[supervisors]]", key=f"{key}.user")
        else:
            raise ConfigError('role is "admin" (no user) or "supervisor"', key=f"{key}.role")
    if len({t.token for t in tokens}) != len(tokens):
        raise ConfigError("the same token is given twice", key="http.tokens")
    return tuple(tokens)


def _names(user: str, users: set[str] | None) -> bool:
    return bool(user.strip()) if users is None else user in users


def _overrides(environ: Mapping[str, str]) -> dict[str, Override]:
    result: dict[str, Override] = {}
    directory = environ.get("CREDENTIALS_DIRECTORY")
    if directory:
        for dotted, override in credential_overrides(Path(directory)).items():
            # The credentials directory may hold other credentials; only
            # names in our sections are ours.
            if dotted == "instance" or dotted.partition(".")[0] in SECTIONS:
                result[dotted] = _known(dotted, override)
    for dotted, override in environment_overrides(environ).items():
        result[dotted] = _known(dotted, override)
    return result


def _known(dotted: str, override: Override) -> Override:
    section, _, key = dotted.partition(".")
    if dotted == "instance":
        return override
    if section == "supervisors":
        raise ConfigError(f"cannot be set from the {override.source}", key=dotted)
    if section not in SECTIONS:
        raise ConfigError(f"unknown section {section!r} ({override.source})", key=dotted)
    if key not in _field_map(SECTIONS[section]):
        raise ConfigError(f"unknown key ({override.source})", key=dotted)
    return override


def _field_map(cls: type[Any]) -> dict[str, tuple[Field[Any], Any]]:
    hints = get_type_hints(cls)
    return {f.name: (f, hints[f.name]) for f in fields(cls)}


def _table(value: object, key: str) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise ConfigError("expected a table", key=key)
    return value


def _build(
    cls: type[Any], prefix: str, table: Mapping[str, object], overrides: Mapping[str, Override]
) -> Any:
    spec = _field_map(cls)
    for key in table:
        if key not in spec:
            raise ConfigError("unknown key", key=f"{prefix}.{key}")
    values: dict[str, Any] = {}
    for name, (fld, hint) in spec.items():
        dotted = f"{prefix}.{name}"
        override = overrides.get(dotted)
        if override is not None or name in table:
            values[name] = _value(table.get(name), override, fld, hint, dotted)
        elif fld.default is MISSING:
            raise ConfigError("required key missing", key=dotted)
    return cls(**values)


def _value(raw: object, src: Override | None, fld: Field[Any], hint: Any, dotted: str) -> Any:
    """Parse (if from an override), type-check and validate one value."""
    try:
        if src is not None:
            raw = from_text(src.text, hint, dotted)
        value = coerce(raw, hint, dotted)
        check = fld.metadata.get("check")
        if check is not None and value is not None:
            check(value)
    except (ConfigError, ValueError) as exc:
        message = exc.message if isinstance(exc, ConfigError) else str(exc)
        key = exc.key if isinstance(exc, ConfigError) else dotted
        suffix = f" ({src.source})" if src is not None else ""
        raise ConfigError(message + suffix, key=key) from None
    return value


def _instance(data: Mapping[str, object], override: Override | None) -> str:
    raw = override.text if override is not None else data.get("instance", socket.gethostname())
    value: str = coerce(raw, str, "instance")
    if not value.strip():
        suffix = f" ({override.source})" if override is not None else ""
        raise ConfigError("must not be empty" + suffix, key="instance")
    return value


def _supervisors(raw: object) -> tuple[SupervisorConfig, ...]:
    if not isinstance(raw, list):
        raise ConfigError("expected an array of tables ([[supervisors]])", key="supervisors")
    supervisors = tuple(
        _build(SupervisorConfig, f"supervisors[{i}]", _table(t, f"supervisors[{i}]"), {})
        for i, t in enumerate(raw)
    )
    users: set[str] = set()
    owners: dict[str, str] = {}
    for i, sup in enumerate(supervisors):
        if sup.user in users:
            raise ConfigError(f"duplicate supervisor {sup.user!r}", key=f"supervisors[{i}].user")
        users.add(sup.user)
        for j, endpoint in enumerate(sup.endpoints):
            if endpoint in owners:
                raise ConfigError(
                    f"endpoint {endpoint!r} already belongs to supervisor {owners[endpoint]!r}",
                    key=f"supervisors[{i}].endpoints[{j}]",
                )
            owners[endpoint] = sup.user
    return supervisors


def _redact(section: object) -> dict[str, object]:
    result: dict[str, object] = {}
    for name, (fld, _hint) in _field_map(type(section)).items():
        value = getattr(section, name)
        redact = fld.metadata.get("redact")
        if value is not None and redact is not None:
            value = redact(value)
        result[name] = list(value) if isinstance(value, tuple) else value
    return result
