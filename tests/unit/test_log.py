"""Structured logging: JSON lines, context variables, secret redaction."""

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from coachd.log import configure_logging


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_output_contains_bound_context_vars() -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    structlog.contextvars.bind_contextvars(
        session_id="s-1", agent="PJSIP/1001", supervisor="sup1", mode="whisper"
    )
    structlog.get_logger().info("session.started", channel="c-1")
    [event] = lines(out)
    assert event["event"] == "session.started"
    assert event["level"] == "info"
    assert event["channel"] == "c-1"
    assert (event["session_id"], event["agent"], event["supervisor"], event["mode"]) == (
        "s-1",
        "PJSIP/1001",
        "sup1",
        "whisper",
    )
    timestamp = event["timestamp"]
    assert isinstance(timestamp, str)
    assert timestamp.endswith("Z")


def test_json_output_redacts_secret_keys() -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    structlog.contextvars.bind_contextvars(token="ctx-hunter2")
    structlog.get_logger().info(
        "connecting",
        password="hunter2",
        Secret="hunter2",
        api_token="hunter2",
        headers={"Authorization": "Basic hunter2", "Accept": "json"},
        username="coachd",
    )
    text = out.getvalue()
    assert "hunter2" not in text
    [event] = lines(out)
    assert event["password"] == "********"
    assert event["token"] == "********"
    assert event["headers"] == {"Authorization": "********", "Accept": "json"}
    assert event["username"] == "coachd"


def test_level_filtering_drops_lower_levels() -> None:
    out = io.StringIO()
    configure_logging("warning", "json", stream=out)
    log = structlog.get_logger()
    log.info("quiet")
    log.warning("loud")
    assert [e["event"] for e in lines(out)] == ["loud"]


def test_stdlib_loggers_share_format_and_context() -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    structlog.contextvars.bind_contextvars(session_id="s-2")
    logging.getLogger("aiohttp.client").warning("retry %d", 3)
    [event] = lines(out)
    assert event["event"] == "retry 3"
    assert event["logger"] == "aiohttp.client"
    assert event["session_id"] == "s-2"


def test_reconfiguring_replaces_previous_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("info", "json", stream=first)
    configure_logging("info", "json", stream=second)
    logging.getLogger("x").warning("once")
    assert first.getvalue() == ""
    assert len(lines(second)) == 1


def test_exception_tracebacks_omit_local_variables() -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    password = "hunter2"
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        structlog.get_logger().exception("failed")
    assert password not in out.getvalue()
    [event] = lines(out)
    assert "exception" in event


def test_auto_format_is_json_when_not_a_tty() -> None:
    out = io.StringIO()
    configure_logging("info", "auto", stream=out)
    structlog.get_logger().info("hello")
    assert lines(out)[0]["event"] == "hello"


def test_console_format_is_human_readable_and_redacted() -> None:
    out = io.StringIO()
    configure_logging("debug", "console", stream=out)
    structlog.get_logger().debug("hello", password="hunter2")
    text = out.getvalue()
    assert "hello" in text
    assert "hunter2" not in text
    assert not text.startswith("{")


def test_unknown_level_or_format_is_rejected() -> None:
    with pytest.raises(ValueError, match="level"):
        configure_logging("loud", "json")
    with pytest.raises(ValueError, match="format"):
        configure_logging("info", "xml")
