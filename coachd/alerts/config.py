"""The ``[alerts]`` section: who-to-coach alerts from ``vicidial_log``.

Kept out of :mod:`coachd.config` (which lists it among its sections) so the
alerts' settings, their checks and their parsed forms stay together. Only
:mod:`coachd.config_checks` and :mod:`coachd.errors` are imported here, so
:mod:`coachd.config` can import this module.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import time
from typing import TYPE_CHECKING, Any, Literal, get_args

from coachd import config_checks as chk
from coachd.errors import ConfigError

if TYPE_CHECKING:
    from coachd.config import Config

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)

MIN_INTERVAL = 10.0
"""Seconds: the shortest interval between two runs (each one queries vicidial_log)."""
MAX_WINDOW_HOURS = 168.0
"""A week: the longest look-back (``vicidial_log`` is large)."""

_HOURS_RE = re.compile(r"([0-9]{2}):([0-9]{2})-([0-9]{2}):([0-9]{2})")
_NAME_RE = re.compile(r"[^\s,]{1,20}")


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """``start`` to ``end`` (local wall-clock, ``end`` excluded); ``end`` at or
    before ``start`` crosses midnight, and ``None`` as ``end`` is midnight
    (``"08:00-24:00"``)."""

    start: time
    end: time | None

    @classmethod
    def parse(cls, text: str) -> BusinessHours:
        """``"HH:MM-HH:MM"`` (24-hour clock; ``24:00`` only as the end)."""
        match = _HOURS_RE.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"expected HH:MM-HH:MM (e.g. '08:00-18:00'), got {text!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if not (h1 < 24 and m1 < 60 and (h2 < 24 or (h2, m2) == (24, 0)) and m2 < 60):
            raise ValueError(f"not a time of day in {text!r}")
        start = time(h1, m1)
        end = None if h2 == 24 else time(h2, m2)
        if end == start:
            raise ValueError(f"{text!r} is empty (use 00:00-24:00 for the whole day)")
        return cls(start, end)

    @property
    def overnight(self) -> bool:
        return self.end is not None and self.end < self.start

    def __str__(self) -> str:
        end = "24:00" if self.end is None else self.end.strftime("%H:%M")
        return f"{self.start.strftime('%H:%M')}-{end}"


def _check_hours(value: str) -> None:
    BusinessHours.parse(value)


def _check_days(value: tuple[str, ...]) -> None:
    chk.modes(value)  # not empty, no duplicates


def _check_names(value: tuple[str, ...]) -> None:
    for name in value:
        if not _NAME_RE.fullmatch(name):
            raise ValueError(f"expected VICIdial ids (1-20 characters, no spaces), got {name!r}")
    seen = {name.upper() for name in value}
    if len(seen) != len(value):
        raise ValueError("the same id is given twice (ids compare case-insensitively)")


def _check_interval(value: float) -> None:
    if value < MIN_INTERVAL:
        raise ValueError(f"must be at least {MIN_INTERVAL:g} seconds, got {value:g}")


def _check_window(value: float) -> None:
    if not 0 < value <= MAX_WINDOW_HOURS:
        raise ValueError(f"must be more than 0 and at most {MAX_WINDOW_HOURS:g} hours")


def _check_min_calls(value: int) -> None:
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")


def _check_percent(value: float) -> None:
    if not 0 < value <= 100:
        raise ValueError(f"must be a percentage above 0 and at most 100, got {value:g}")


def _check_mysql_url(value: str) -> None:
    chk.database_url(value)
    if not value.startswith("mysql://"):
        raise ValueError("expected VICIdial's database as mysql://user:password@host/db")


def _field(
    default: Any,
    *,
    check: Callable[[Any], None] | None = None,
    redact: Callable[[Any], object] | None = None,
) -> Any:
    return field(default=default, metadata={"check": check, "redact": redact})


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    """Who-to-coach alerts: a job that, every ``interval`` seconds within business
    hours, lists the agents whose conversion over the last ``window_hours`` is
    below ``below_conversion`` % on at least ``min_calls`` calls (README
    "Who-to-coach alerts")."""

    enabled: bool = False
    url: str | None = _field(None, check=_check_mysql_url, redact=chk.mask_url)
    """VICIdial's database (read only); None: ``[database] url`` of VICIdial mode."""
    interval: float = _field(1800.0, check=_check_interval)
    business_hours: str = _field("09:00-18:00", check=_check_hours)
    business_days: tuple[Weekday, ...] = _field(WEEKDAYS[:5], check=_check_days)
    timezone: str | None = _field(None, check=chk.timezone)
    """Zone of the business hours and of ``call_date``; None: ``[vicidial] timezone``."""
    window_hours: float = _field(4.0, check=_check_window)
    min_calls: int = _field(15, check=_check_min_calls)
    below_conversion: float = _field(3.0, check=_check_percent)
    campaigns: tuple[str, ...] = _field((), check=_check_names)
    """Campaign ids whose calls count; empty: every campaign."""
    sale_statuses: tuple[str, ...] = _field((), check=_check_names)
    """Statuses that are sales; empty: VICIdial's ``sale='Y'`` flags (else SALE)."""
    cooldown: float = _field(7200.0, check=chk.non_negative)
    """Seconds before an agent already alerted is alerted again."""

    @property
    def hours(self) -> BusinessHours:
        return BusinessHours.parse(self.business_hours)

    @property
    def weekdays(self) -> frozenset[int]:
        """The business days as ``date.weekday()`` numbers (Monday 0)."""
        return frozenset(WEEKDAYS.index(d) for d in self.business_days)


def check_alerts(config: Config) -> None:
    """Cross-section checks of ``[alerts]`` (the fields are checked one by one)."""
    alerts = config.alerts
    if not alerts.enabled or alerts.url is not None:
        return
    if not config.vicidial.enabled:
        raise ConfigError(
            "alerts.enabled needs VICIdial's database: turn on [vicidial] (its"
            " [database] url) or give alerts.url = mysql://...",
            key="alerts.url",
        )


def alerts_url(config: Config) -> str:
    """The database the alerts read: ``alerts.url``, else ``[database] url``."""
    url = config.alerts.url or config.database.url
    if url is None:  # check_alerts refuses this
        raise ConfigError("no database for the alerts", key="alerts.url")
    return url
