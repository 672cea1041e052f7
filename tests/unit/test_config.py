"""Configuration loading: schema, overrides, credentials, redaction."""

import dataclasses
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from coachd.config import MODES, Config, load_config, parse_config
from coachd.errors import CoachdError, ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "coachd.toml"


def minimal(**sections: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ari": {"url": "http://127.0.0.1:8088", "username": "coachd", "password": "pw"}
    }
    for name, values in sections.items():
        data.setdefault(name, {})
        if isinstance(values, dict):
            data[name] = {**data[name], **values}
        else:
            data[name] = values
    return data


def sup(user: str, *endpoints: str, **extra: Any) -> dict[str, Any]:
    return {"user": user, "endpoints": list(endpoints), "user_level": 8, **extra}


def error_for(data: dict[str, Any], environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(data, environ or {})
    return info.value


# --- the example file and defaults -------------------------------------------------


def test_example_file_validates() -> None:
    config = load_config(EXAMPLE, {})
    assert config.ari.url == "http://127.0.0.1:8088"
    assert config.ari.username == "coachd"
    assert [s.user for s in config.supervisors] == ["sup1", "sup2"]
    assert config.supervisors[0].modes == MODES
    assert config.supervisors[1].modes == ("monitor", "whisper")
    assert config.supervisors[1].user_level == 7


def test_minimal_config_gets_documented_defaults() -> None:
    config = parse_config(minimal(), {})
    assert config.instance == socket.gethostname()
    assert config.ari.app == "coachd"
    assert config.ari.endpoint_technologies == ("PJSIP",)
    assert config.ari.connect_timeout == 5.0
    assert config.ari.request_timeout == 5.0
    assert config.mqtt.url is None
    assert not config.mqtt.enabled
    assert config.mqtt.topic_prefix == "coachd"
    assert config.mqtt.queue_size == 10000
    assert config.database.url is None
    assert config.http.listen is None
    assert config.http.address is None
    p = config.policy
    assert (p.beep_supervisor, p.notify_agent, p.single_talker, p.end_tone) == (
        False,
        False,
        True,
        True,
    )
    assert (p.keymap, p.min_user_level) == ("chanspy", 7)
    assert (config.logging.level, config.logging.format) == ("info", "auto")
    assert config.supervisors == ()


def test_config_is_immutable() -> None:
    config = parse_config(minimal(), {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.ari.url = "http://other"  # type: ignore[misc]


def test_integer_accepted_for_float_field() -> None:
    config = parse_config(minimal(ari={"connect_timeout": 2}), {})
    assert config.ari.connect_timeout == 2.0
    assert isinstance(config.ari.connect_timeout, float)


def test_choice_fields_are_case_insensitive() -> None:
    config = parse_config(minimal(logging={"level": "DEBUG"}), {})
    assert config.logging.level == "debug"


def test_http_listen_is_split_into_host_and_port() -> None:
    assert parse_config(minimal(http={"listen": "0.0.0.0:8089"}), {}).http.address == (
        "0.0.0.0",
        8089,
    )
    assert parse_config(minimal(http={"listen": "[::1]:9000"}), {}).http.address == ("::1", 9000)


# --- errors name the key -----------------------------------------------------------


def test_config_error_is_a_coachd_error_and_formats_key() -> None:
    err = ConfigError("not an http(s) URL: 'ftp://x'", key="ari.url")
    assert isinstance(err, CoachdError)
    assert err.key == "ari.url"
    assert str(err) == "ari.url: not an http(s) URL: 'ftp://x'"
    assert str(ConfigError("no file")) == "no file"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        (minimal(ari={"pasword": "x"}), "ari.pasword"),
        ({**minimal(), "colour": "blue"}, "colour"),
        (minimal(policy={"single_talker": True, "talkers": 2}), "policy.talkers"),
        (
            {**minimal(), "supervisors": [{**sup("a", "PJSIP/1"), "level": 1}]},
            "supervisors[0].level",
        ),
    ],
)
def test_unknown_key_is_named(data: dict[str, Any], key: str) -> None:
    err = error_for(data)
    assert err.key == key
    assert str(err) == f"{key}: unknown key"


def test_bad_ari_url_is_named() -> None:
    err = error_for(minimal(ari={"url": "ftp://x"}))
    assert str(err) == "ari.url: not an http(s) URL: 'ftp://x'"


@pytest.mark.parametrize(
    ("section", "values", "key"),
    [
        ("ari", {"url": "http://"}, "ari.url"),
        ("ari", {"url": "127.0.0.1:8088"}, "ari.url"),
        ("ari", {"app": "has space"}, "ari.app"),
        ("ari", {"app": "x" * 65}, "ari.app"),
        ("ari", {"endpoint_technologies": []}, "ari.endpoint_technologies"),
        ("ari", {"connect_timeout": 0}, "ari.connect_timeout"),
        ("ari", {"request_timeout": -1.5}, "ari.request_timeout"),
        ("mqtt", {"url": "mqtt://broker"}, "mqtt.url"),
        ("mqtt", {"url": "http://broker:1883"}, "mqtt.url"),
        ("mqtt", {"queue_size": 0}, "mqtt.queue_size"),
        ("mqtt", {"topic_prefix": "a/#"}, "mqtt.topic_prefix"),
        ("database", {"url": "postgres://u:p@h/db"}, "database.url"),
        ("http", {"listen": "localhost"}, "http.listen"),
        ("http", {"listen": "localhost:0"}, "http.listen"),
        ("http", {"listen": "localhost:65536"}, "http.listen"),
        ("policy", {"keymap": "asterisk"}, "policy.keymap"),
        ("logging", {"format": "xml"}, "logging.format"),
    ],
)
def test_invalid_value_is_named(section: str, values: dict[str, Any], key: str) -> None:
    assert error_for(minimal(**{section: values})).key == key


def test_bad_database_url_error_does_not_leak_password() -> None:
    err = error_for(minimal(database={"url": "postgres://u:hunter2@h/db"}))
    assert err.key == "database.url"
    assert "hunter2" not in str(err)


@pytest.mark.parametrize(
    ("section", "values", "key", "expected"),
    [
        ("ari", {"connect_timeout": "5"}, "ari.connect_timeout", "expected float, got string"),
        ("policy", {"single_talker": 1}, "policy.single_talker", "expected boolean, got integer"),
        ("mqtt", {"queue_size": True}, "mqtt.queue_size", "expected integer, got boolean"),
        ("ari", {"username": 7}, "ari.username", "expected string, got integer"),
        (
            "ari",
            {"endpoint_technologies": "PJSIP"},
            "ari.endpoint_technologies",
            "expected array of string, got string",
        ),
        (
            "ari",
            {"endpoint_technologies": ["PJSIP", 5]},
            "ari.endpoint_technologies[1]",
            "expected string, got integer",
        ),
    ],
)
def test_wrong_type_is_named(section: str, values: dict[str, Any], key: str, expected: str) -> None:
    assert str(error_for(minimal(**{section: values}))) == f"{key}: {expected}"


def test_section_that_is_not_a_table_is_named() -> None:
    assert str(error_for({**minimal(), "policy": 3})) == "policy: expected a table"


@pytest.mark.parametrize("key", ["url", "username", "password"])
def test_missing_required_ari_key_is_named(key: str) -> None:
    data = minimal()
    del data["ari"][key]
    assert str(error_for(data)) == f"ari.{key}: required key missing"


def test_missing_ari_section_names_first_required_key() -> None:
    assert error_for({}).key == "ari.url"


@pytest.mark.parametrize("key", ["user", "endpoints", "user_level"])
def test_missing_required_supervisor_key_is_named(key: str) -> None:
    entry = sup("a", "PJSIP/2001")
    del entry[key]
    assert str(error_for({**minimal(), "supervisors": [entry]})) == (
        f"supervisors[0].{key}: required key missing"
    )


# --- supervisors -----------------------------------------------------------------


def test_duplicate_endpoint_across_supervisors_is_refused() -> None:
    data = {**minimal(), "supervisors": [sup("a", "PJSIP/2001"), sup("b", "PJSIP/2001")]}
    err = error_for(data)
    assert err.key == "supervisors[1].endpoints[0]"
    assert "'a'" in err.message


def test_duplicate_supervisor_user_is_refused() -> None:
    data = {**minimal(), "supervisors": [sup("a", "PJSIP/2001"), sup("a", "PJSIP/2002")]}
    assert error_for(data).key == "supervisors[1].user"


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        (sup("a"), "supervisors[0].endpoints"),
        (sup("a", "2001"), "supervisors[0].endpoints"),
        (sup("a", "PJSIP/20 01"), "supervisors[0].endpoints"),
        (sup("a", "PJSIP/2001", "PJSIP/2001"), "supervisors[0].endpoints"),
        (sup("a", "PJSIP/2001", modes=["spy"]), "supervisors[0].modes[0]"),
        (sup("a", "PJSIP/2001", modes=[]), "supervisors[0].modes"),
        (sup("a", "PJSIP/2001", user_level="8"), "supervisors[0].user_level"),
    ],
)
def test_invalid_supervisor_entry_is_named(entry: dict[str, Any], key: str) -> None:
    assert error_for({**minimal(), "supervisors": [entry]}).key == key


def test_supervisors_must_be_array_of_tables() -> None:
    assert error_for({**minimal(), "supervisors": {"user": "a"}}).key == "supervisors"
    assert error_for({**minimal(), "supervisors": ["a"]}).key == "supervisors[0]"


def test_supervisor_for_endpoint_is_case_sensitive() -> None:
    config = load_config(EXAMPLE, {})
    found = config.supervisor_for_endpoint("PJSIP/2002")
    assert found is not None
    assert found.user == "sup2"
    assert config.supervisor_for_endpoint("pjsip/2002") is None
    assert config.supervisor_for_endpoint("PJSIP/9999") is None


# --- environment overrides --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("FALSE", False), ("1", True), ("0", False), ("yes", True), ("No", False)],
)
def test_env_override_parses_booleans(text: str, expected: bool) -> None:
    config = parse_config(minimal(), {"COACHD_POLICY__SINGLE_TALKER": text})
    assert config.policy.single_talker is expected


def test_env_override_rejects_bad_boolean_naming_key_and_variable() -> None:
    err = error_for(minimal(), {"COACHD_POLICY__END_TONE": "maybe"})
    assert err.key == "policy.end_tone"
    assert "COACHD_POLICY__END_TONE" in str(err)


@pytest.mark.parametrize("text", ["PJSIP,IAX2", " PJSIP , IAX2 ,", '["PJSIP", "IAX2"]'])
def test_env_override_parses_lists(text: str) -> None:
    config = parse_config(minimal(), {"COACHD_ARI__ENDPOINT_TECHNOLOGIES": text})
    assert config.ari.endpoint_technologies == ("PJSIP", "IAX2")


def test_env_override_rejects_malformed_json_list() -> None:
    err = error_for(minimal(), {"COACHD_ARI__ENDPOINT_TECHNOLOGIES": '["PJSIP"'})
    assert err.key == "ari.endpoint_technologies"


def test_env_override_parses_numbers_and_strings() -> None:
    config = parse_config(
        minimal(),
        {
            "COACHD_MQTT__QUEUE_SIZE": "50",
            "COACHD_ARI__CONNECT_TIMEOUT": "2.5",
            "COACHD_ARI__PASSWORD": "from-env",
            "COACHD_DATABASE__URL": "sqlite:///tmp/x.db",
            "COACHD_INSTANCE": "east",
        },
    )
    assert config.mqtt.queue_size == 50
    assert config.ari.connect_timeout == 2.5
    assert config.ari.password == "from-env"
    assert config.database.url == "sqlite:///tmp/x.db"
    assert config.instance == "east"


def test_env_override_bad_number_is_named() -> None:
    assert error_for(minimal(), {"COACHD_MQTT__QUEUE_SIZE": "lots"}).key == "mqtt.queue_size"


def test_env_override_names_are_case_insensitive() -> None:
    config = parse_config(
        minimal(), {"COACHD_Ari__Password": "x", "coachd_policy__keymap": "vicidial"}
    )
    assert config.ari.password == "x"
    assert config.policy.keymap == "vicidial"


def test_env_override_supplies_required_key() -> None:
    data = minimal()
    del data["ari"]["password"]
    assert parse_config(data, {"COACHD_ARI__PASSWORD": "pw2"}).ari.password == "pw2"


def test_empty_env_override_unsets_optional_key() -> None:
    config = parse_config(minimal(mqtt={"url": "mqtt://h:1883"}), {"COACHD_MQTT__URL": ""})
    assert config.mqtt.url is None


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("COACHD_ARI__PASWORD", "ari.pasword"),
        ("COACHD_FOO__BAR", "foo.bar"),
        ("COACHD_SUPERVISORS__USER", "supervisors.user"),
    ],
)
def test_unknown_env_override_is_refused(name: str, key: str) -> None:
    err = error_for(minimal(), {name: "x"})
    assert err.key == key
    assert name in err.message


def test_non_override_coachd_variables_are_ignored() -> None:
    config = parse_config(minimal(), {"COACHD_CONFIG": "/etc/coachd.toml", "OTHER__X": "1"})
    assert config.ari.password == "pw"


# --- systemd credentials -----------------------------------------------------------


def test_credentials_supply_secrets_with_trailing_newline_stripped(tmp_path: Path) -> None:
    (tmp_path / "ari.password").write_text("cred-pw\n")
    (tmp_path / "database.url").write_text("mysql://u:dbpw@db/asterisk\n")
    data = minimal()
    del data["ari"]["password"]
    config = parse_config(data, {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert config.ari.password == "cred-pw"
    assert config.database.url == "mysql://u:dbpw@db/asterisk"


def test_precedence_is_file_then_credentials_then_environment(tmp_path: Path) -> None:
    (tmp_path / "ari.password").write_text("cred-pw")
    (tmp_path / "ari.username").write_text("cred-user")
    environ = {"CREDENTIALS_DIRECTORY": str(tmp_path), "COACHD_ARI__PASSWORD": "env-pw"}
    config = parse_config(minimal(), environ)
    assert config.ari.password == "env-pw"  # environment beats credentials
    assert config.ari.username == "cred-user"  # credentials beat the file
    assert config.ari.url == "http://127.0.0.1:8088"  # file value kept


def test_credentials_for_other_services_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "tls.key").write_text("-----BEGIN-----")
    (tmp_path / "token").write_text("x")
    assert parse_config(minimal(), {"CREDENTIALS_DIRECTORY": str(tmp_path)}).ari.password == "pw"


def test_credential_with_unknown_key_in_known_section_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ari.pasword").write_text("x")
    err = error_for(minimal(), {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert err.key == "ari.pasword"


def test_missing_credentials_directory_is_an_error(tmp_path: Path) -> None:
    err = error_for(minimal(), {"CREDENTIALS_DIRECTORY": str(tmp_path / "nope")})
    assert "CREDENTIALS_DIRECTORY" in str(err)


# --- redaction -------------------------------------------------------------------


def test_redaction_masks_passwords_and_only_the_database_password() -> None:
    data = minimal(
        mqtt={"url": "mqtts://broker:8883", "username": "m", "password": "mqtt-secret"},
        database={"url": "mysql://coachd:db-secret@db.example:3306/asterisk"},
    )
    config = parse_config(data, {})
    redacted = config.redacted()
    text = json.dumps(redacted)
    assert "pw" not in json.dumps(redacted["ari"])
    assert "mqtt-secret" not in text
    assert "db-secret" not in text
    ari = redacted["ari"]
    assert isinstance(ari, dict)
    assert ari["password"] == "********"
    assert ari["username"] == "coachd"
    assert redacted["database"] == {
        "url": "mysql://coachd:********@db.example:3306/asterisk",
        "spool": None,
    }
    assert redacted["mqtt"] == {
        "url": "mqtts://broker:8883",
        "topic_prefix": "coachd",
        "username": "m",
        "password": "********",
        "client_id": None,
        "queue_size": 10000,
        "control": False,
    }


def test_redaction_keeps_password_free_database_url() -> None:
    config = parse_config(minimal(database={"url": "sqlite:///var/lib/coachd.db"}), {})
    assert config.redacted()["database"] == {"url": "sqlite:///var/lib/coachd.db", "spool": None}


def test_redacted_config_is_json_serialisable_and_complete() -> None:
    redacted = load_config(EXAMPLE, {}).redacted()
    assert list(redacted) == [
        "instance",
        "ari",
        "mqtt",
        "database",
        "http",
        "policy",
        "limits",
        "cues",
        "logging",
        "daemon",
        "vicidial",
        "console",
        "alerts",
        "cluster",
        "supervisors",
    ]
    assert json.loads(json.dumps(redacted)) == redacted


# --- files ---------------------------------------------------------------------


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml", {})


def test_toml_syntax_error_reports_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[ari]\nurl = "http://x"\nusername = \n')
    with pytest.raises(ConfigError, match=r"line 3, column") as info:
        load_config(path, {})
    assert str(path) in str(info.value)


def test_no_file_means_environment_only() -> None:
    environ = {
        "COACHD_ARI__URL": "https://pbx.example:8089",
        "COACHD_ARI__USERNAME": "u",
        "COACHD_ARI__PASSWORD": "p",
    }
    config = load_config(None, environ)
    assert isinstance(config, Config)
    assert config.ari.url == "https://pbx.example:8089"


# --- HTTP API tokens ---------------------------------------------------------------

SUPERVISORS = [{"user": "sup1", "endpoints": ["PJSIP/2001"], "user_level": 8}]


def with_tokens(*tokens: dict[str, Any]) -> dict[str, Any]:
    data = minimal(http={"listen": "127.0.0.1:8089", "tokens": list(tokens)})
    data["supervisors"] = SUPERVISORS
    return data


def test_tokens_bind_to_admin_or_to_a_configured_supervisor(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("a-token-read-from-a-file\n")
    config = parse_config(
        with_tokens(
            {"token": "admin-token-0123456789", "role": "admin"},
            {"token_file": str(secret), "role": "supervisor", "user": "sup1"},
        ),
        {},
    )
    assert [(t.role, t.user) for t in config.tokens] == [("admin", None), ("supervisor", "sup1")]
    assert config.tokens[1].token == "a-token-read-from-a-file"
    shown = config.redacted()["http"]
    assert isinstance(shown, dict)
    assert {t["token"] for t in shown["tokens"]} == {"********"}


@pytest.mark.parametrize(
    ("token", "key"),
    [
        ({"token": "short", "role": "admin"}, "http.tokens[0].token"),
        ({"token": "long-enough-token-0001", "role": "supervisor", "user": "nobody"}, "user"),
        ({"token": "long-enough-token-0001", "role": "root"}, "role"),
        ({"role": "admin"}, "http.tokens[0]"),
        ({"token": "long-enough-token-0001", "role": "admin", "scope": "x"}, "scope"),
        ({"token_file": "/nonexistent/token", "role": "admin"}, "token_file"),
    ],
)
def test_bad_tokens_are_refused_naming_the_key(token: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(with_tokens(token), {})
    assert key in str(info.value)


def test_the_same_token_twice_is_refused() -> None:
    same = {"token": "long-enough-token-0001", "role": "admin"}
    with pytest.raises(ConfigError, match="twice"):
        parse_config(with_tokens(same, same), {})


def test_limits_default_to_the_guides_fifteen_minute_whisper_warning_only() -> None:
    limits = parse_config(minimal(), {}).limits
    assert limits.for_mode("whisper") == (900.0, 0.0)
    assert limits.for_mode("private_whisper") == (900.0, 0.0)
    assert limits.for_mode("monitor") == (0.0, 0.0)
    assert limits.for_mode("barge") == (0.0, 0.0)


def test_limits_come_from_the_environment_and_refuse_negative_seconds() -> None:
    env = {"COACHD_LIMITS__BARGE_LIMIT": "120", "COACHD_LIMITS__BARGE_WARNING": "90.5"}
    assert parse_config(minimal(), env).limits.for_mode("barge") == (90.5, 120.0)
    with pytest.raises(ConfigError, match=r"limits\.whisper_limit"):
        parse_config(minimal(limits={"whisper_limit": -1}), {})


# --- VICIdial mode -----------------------------------------------------------------

VICIDIAL_DB = {"url": "mysql://coachd:pw@127.0.0.1/asterisk"}


def vicidial(**values: Any) -> dict[str, Any]:
    return minimal(database=VICIDIAL_DB, vicidial={"enabled": True, **values})


def test_vicidial_mode_is_off_by_default_with_documented_defaults() -> None:
    v = parse_config(minimal(), {}).vicidial
    assert not v.enabled
    assert (v.min_user_level, v.require_api_access, v.timezone, v.server_ip) == (
        7,
        True,
        None,
        None,
    )
    assert v.timeout == 3.0
    assert v.zone is None


def test_vicidial_mode_reads_its_settings_and_time_zone() -> None:
    config = parse_config(
        vicidial(
            min_user_level=8,
            require_api_access=False,
            timezone="America/New_York",
            server_ip="10.0.0.5",
            timeout=1.5,
        ),
        {},
    )
    v = config.vicidial
    assert (v.enabled, v.min_user_level, v.require_api_access, v.server_ip) == (
        True,
        8,
        False,
        "10.0.0.5",
    )
    assert v.zone is not None and v.zone.key == "America/New_York"
    assert config.redacted()["vicidial"] == {
        "enabled": True,
        "min_user_level": 8,
        "require_api_access": False,
        "timezone": "America/New_York",
        "server_ip": "10.0.0.5",
        "timeout": 1.5,
    }


def test_vicidial_settings_come_from_the_environment_too() -> None:
    config = parse_config(
        minimal(database=VICIDIAL_DB),
        {"COACHD_VICIDIAL__ENABLED": "yes", "COACHD_VICIDIAL__TIMEZONE": "Europe/Paris"},
    )
    assert config.vicidial.enabled and config.vicidial.timezone == "Europe/Paris"


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "vicidial.timezone"),
        ({"timezone": "../../etc/passwd"}, "vicidial.timezone"),
        ({"server_ip": "pbx.example"}, "vicidial.server_ip"),
        ({"server_ip": "10.0.0.256"}, "vicidial.server_ip"),
        ({"min_user_level": -1}, "vicidial.min_user_level"),
        ({"timeout": 0}, "vicidial.timeout"),
        ({"shift_enforcement": False}, "vicidial.shift_enforcement"),
    ],
)
def test_bad_vicidial_settings_are_named(values: dict[str, Any], key: str) -> None:
    assert error_for(vicidial(**values)).key == key


@pytest.mark.parametrize(
    "database", [{}, {"url": "sqlite:///var/lib/coachd.db"}], ids=["default", "sqlite"]
)
def test_vicidial_mode_needs_vicidials_mysql_database(database: dict[str, Any]) -> None:
    err = error_for(minimal(database=database, vicidial={"enabled": True}))
    assert err.key == "database.url"
    assert "mysql://" in err.message


def test_vicidial_mode_refuses_configured_supervisors() -> None:
    data = vicidial()
    data["supervisors"] = [sup("sup1", "PJSIP/2001")]
    assert error_for(data).key == "supervisors"


def test_vicidial_mode_refuses_the_policy_user_level_it_would_ignore() -> None:
    data = vicidial()
    data["policy"] = {"min_user_level": 8}
    assert error_for(data).key == "policy.min_user_level"


def test_vicidial_mode_lets_supervisor_tokens_name_vicidial_users() -> None:
    data = vicidial()
    data["http"] = {
        "listen": "127.0.0.1:8089",
        "tokens": [{"token": "long-enough-token-0001", "role": "supervisor", "user": "6666"}],
    }
    assert [(t.role, t.user) for t in parse_config(data, {}).tokens] == [("supervisor", "6666")]
    data["http"]["tokens"][0]["user"] = " "
    assert error_for(data).key == "http.tokens[0].user"


def test_supervisor_tokens_outside_vicidial_mode_still_need_a_configured_supervisor() -> None:
    data = minimal(
        http={
            "listen": "127.0.0.1:8089",
            "tokens": [{"token": "long-enough-token-0001", "role": "supervisor", "user": "x"}],
        }
    )
    assert error_for(data).key == "http.tokens[0].user"


def test_cue_digits_play_named_cues_on_digits_the_modes_do_not_use() -> None:
    config = parse_config(minimal(cues={"digits": ["1:slow-down", "7:ask-for-close"]}), {})
    assert config.cues.digit_map == (("1", "slow-down"), ("7", "ask-for-close"))
    assert "price-objection" in config.cues.names


@pytest.mark.parametrize(
    "digits",
    [["5:slow-down"], ["#:slow-down"], ["1:slow-down", "1:ask-for-close"], ["1"], ["12:slow-down"]],
)
def test_cue_digits_that_clash_or_are_malformed_are_errors(digits: list[str]) -> None:
    with pytest.raises(ConfigError, match=r"cues\.digits"):
        parse_config(minimal(cues={"digits": digits}), {})


def test_a_cue_digit_must_name_a_known_cue() -> None:
    with pytest.raises(ConfigError, match=r"not in cues\.names"):
        parse_config(minimal(cues={"digits": ["1:made-up"]}), {})


# --- the browser console -----------------------------------------------------------

HASH = "pbkdf2_sha256$100000$Y29hY2hkLXRlc3Qtc2FsdA==$" + "A" * 43 + "="


def console_data(console: dict[str, Any], **supervisor: Any) -> dict[str, Any]:
    data = minimal(http={"listen": "127.0.0.1:8089"}, console=console)
    data["supervisors"] = [sup("sup1", "PJSIP/2001", **supervisor)]
    return data


def test_the_console_is_off_by_default_with_documented_defaults() -> None:
    console = parse_config(minimal(), {}).console
    assert (console.enabled, console.secure_cookie, console.session_ttl) == (False, False, 43200.0)
    assert (console.agent_endpoints, console.target_minutes) == ((), 180.0)


def test_a_supervisors_password_hash_is_read_and_masked() -> None:
    config = parse_config(console_data({"enabled": True}, password_hash=HASH), {})
    assert config.supervisors[0].password_hash == HASH
    shown = config.redacted()["supervisors"]
    assert isinstance(shown, list)
    assert shown[0]["password_hash"] == "********"
    assert HASH not in json.dumps(config.redacted())


@pytest.mark.parametrize(
    "bad",
    [
        "secret",  # a password, not a hash
        "pbkdf2_sha1$100000$Y29hY2hkLXRlc3Qtc2FsdA==$" + "A" * 43 + "=",
        "pbkdf2_sha256$1000$Y29hY2hkLXRlc3Qtc2FsdA==$" + "A" * 43 + "=",  # too few iterations
        "pbkdf2_sha256$100000$c2FsdA==$" + "A" * 43 + "=",  # salt too short
        "pbkdf2_sha256$100000$Y29hY2hkLXRlc3Qtc2FsdA==$AAAA",  # key too short
        "pbkdf2_sha256$100000$not base64!$" + "A" * 43 + "=",
        "pbkdf2_sha256$x$Y29hY2hkLXRlc3Qtc2FsdA==$" + "A" * 43 + "=",
    ],
)
def test_a_malformed_password_hash_is_named_without_echoing_it(bad: str) -> None:
    error = error_for(console_data({"enabled": False}, password_hash=bad))
    assert error.key == "supervisors[0].password_hash"
    assert bad not in str(error)


@pytest.mark.parametrize(
    ("data", "key", "message"),
    [
        (minimal(console={"enabled": True}), "console.enabled", "http.listen"),
        (console_data({"enabled": True}), "console.enabled", "password_hash"),
        (console_data({"session_ttl": 0}), "console.session_ttl", "greater than 0"),
        (console_data({"target_minutes": -1}), "console.target_minutes", "negative"),
        (console_data({"agent_endpoints": ["1042"]}), "console.agent_endpoints", "TECH/"),
        (console_data({"cookie": "x"}), "console.cookie", "unknown key"),
    ],
)
def test_bad_console_settings_are_named(data: dict[str, Any], key: str, message: str) -> None:
    error = error_for(data)
    assert (error.key, message in str(error)) == (key, True)


def test_console_settings_come_from_the_environment_too() -> None:
    environ = {
        "COACHD_CONSOLE__ENABLED": "yes",
        "COACHD_CONSOLE__SECURE_COOKIE": "true",
        "COACHD_CONSOLE__AGENT_ENDPOINTS": "PJSIP/10*,PJSIP/11*",
    }
    config = parse_config(console_data({}, password_hash=HASH), environ)
    assert config.console.enabled and config.console.secure_cookie
    assert config.console.agent_endpoints == ("PJSIP/10*", "PJSIP/11*")


def test_in_vicidial_mode_vicidial_users_log_in_and_agent_endpoints_do_not_apply() -> None:
    vici = minimal(
        database={"url": "mysql://coachd:pw@127.0.0.1:3306/asterisk"},
        vicidial={"enabled": True},
        http={"listen": "127.0.0.1:8089"},
        console={"enabled": True},
    )
    assert parse_config(vici, {}).console.enabled
    vici["console"]["agent_endpoints"] = ["PJSIP/10*"]
    assert error_for(vici).key == "console.agent_endpoints"
