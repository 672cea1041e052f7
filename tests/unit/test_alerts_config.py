"""The [alerts] section: defaults, strict validation, overrides, and the example file."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from coachd.alerts.config import BusinessHours, alerts_url
from coachd.alerts.job import Settings
from coachd.config import load_config, parse_config
from coachd.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "coachd.toml"
VICI_DB = "mysql://coachd:pw@127.0.0.1:3306/asterisk"


def data(alerts: dict[str, Any] | None = None, **sections: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ari": {"url": "http://127.0.0.1:8088", "username": "coachd", "password": "pw"},
        **sections,
    }
    if alerts is not None:
        out["alerts"] = alerts
    return out


def vicidial(**alerts: Any) -> dict[str, Any]:
    return data(
        {"enabled": True, **alerts},
        database={"url": VICI_DB},
        vicidial={"enabled": True, "timezone": "America/New_York"},
    )


def error_for(raw: dict[str, Any], environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, environ or {})
    return info.value


def test_off_by_default_with_the_guides_defaults() -> None:
    a = parse_config(data(), {}).alerts
    assert not a.enabled and a.url is None
    assert (a.interval, a.window_hours, a.min_calls, a.below_conversion) == (1800, 4, 15, 3)
    assert a.business_hours == "09:00-18:00"
    assert a.business_days == ("mon", "tue", "wed", "thu", "fri")
    assert (a.campaigns, a.sale_statuses, a.cooldown, a.timezone) == ((), (), 7200, None)


def test_vicidial_mode_supplies_the_database_and_time_zone() -> None:
    config = parse_config(vicidial(campaigns=["B2B"], sale_statuses=["SALE", "XSALE"]), {})
    assert alerts_url(config) == VICI_DB
    settings = Settings.from_config(config)
    assert settings.schedule.zone == ZoneInfo("America/New_York")
    assert settings.schedule.weekdays == frozenset(range(5))
    assert settings.schedule.interval == timedelta(minutes=30)
    assert settings.criteria.cooldown == timedelta(hours=2)
    assert (settings.campaigns, settings.sale_statuses) == (("B2B",), ("SALE", "XSALE"))


def test_its_own_url_and_zone_work_without_vicidial_mode() -> None:
    url = "mysql://readonly:pw@10.0.0.9/asterisk"
    config = parse_config(
        data({"enabled": True, "url": url, "timezone": "Europe/Paris", "business_days": ["Sat"]}),
        {},
    )
    assert alerts_url(config) == url
    assert config.alerts.weekdays == frozenset({5})
    assert Settings.from_config(config).schedule.zone == ZoneInfo("Europe/Paris")
    assert config.redacted()["alerts"]["url"] == "mysql://readonly:********@10.0.0.9/asterisk"  # type: ignore[index]


def test_enabled_needs_a_database() -> None:
    assert error_for(data({"enabled": True})).key == "alerts.url"


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"url": "sqlite:///tmp/x.db"}, "alerts.url"),
        ({"url": "http://db"}, "alerts.url"),
        ({"interval": 5}, "alerts.interval"),
        ({"business_hours": "9-17"}, "alerts.business_hours"),
        ({"business_hours": "09:00-09:00"}, "alerts.business_hours"),
        ({"business_hours": "25:00-26:00"}, "alerts.business_hours"),
        ({"business_hours": "09:60-17:00"}, "alerts.business_hours"),
        ({"business_hours": "24:00-06:00"}, "alerts.business_hours"),
        ({"business_days": []}, "alerts.business_days"),
        ({"business_days": ["mon", "mon"]}, "alerts.business_days"),
        ({"business_days": ["monday"]}, "alerts.business_days[0]"),
        ({"timezone": "Mars/Olympus"}, "alerts.timezone"),
        ({"window_hours": 0}, "alerts.window_hours"),
        ({"window_hours": 200}, "alerts.window_hours"),
        ({"min_calls": 0}, "alerts.min_calls"),
        ({"min_calls": 1.5}, "alerts.min_calls"),
        ({"below_conversion": 0}, "alerts.below_conversion"),
        ({"below_conversion": 101}, "alerts.below_conversion"),
        ({"campaigns": ["B2B", "b2b"]}, "alerts.campaigns"),
        ({"campaigns": ["two words"]}, "alerts.campaigns"),
        ({"sale_statuses": [""]}, "alerts.sale_statuses"),
        ({"cooldown": -1}, "alerts.cooldown"),
        ({"cooldown_minutes": 5}, "alerts.cooldown_minutes"),
    ],
)
def test_bad_values_are_named(values: dict[str, Any], key: str) -> None:
    assert error_for(vicidial(**values)).key == key


def test_environment_overrides() -> None:
    config = parse_config(
        vicidial(),
        {
            "COACHD_ALERTS__CAMPAIGNS": "B2B,OTHER",
            "COACHD_ALERTS__BELOW_CONVERSION": "2.5",
            "COACHD_ALERTS__BUSINESS_DAYS": "mon,wed",
        },
    )
    assert config.alerts.campaigns == ("B2B", "OTHER")
    assert config.alerts.below_conversion == 2.5
    assert config.alerts.business_days == ("mon", "wed")
    assert error_for(vicidial(), {"COACHD_ALERTS__INTERVAL": "1"}).key == "alerts.interval"


def test_business_hours_parse() -> None:
    assert BusinessHours.parse("08:00-18:00") == BusinessHours(time(8), time(18))
    assert BusinessHours.parse("22:00-06:30").overnight
    assert BusinessHours.parse(" 00:00-24:00 ") == BusinessHours(time(0), None)
    assert str(BusinessHours.parse("00:00-24:00")) == "00:00-24:00"


def test_the_example_file_documents_every_key() -> None:
    text = EXAMPLE.read_text()
    section = text[text.index("[alerts]") :]
    for key in (
        "enabled",
        "url",
        "interval",
        "business_hours",
        "business_days",
        "timezone",
        "window_hours",
        "min_calls",
        "below_conversion",
        "campaigns",
        "sale_statuses",
        "cooldown",
    ):
        assert f"\n{key} = " in section or f"\n# {key} = " in section, key
    assert load_config(EXAMPLE, {}).alerts.enabled is False
