"""Structured logging setup (structlog), shared by coachd and stdlib loggers.

Output is JSON lines unless the stream is a TTY (``fmt="auto"``) or
``fmt="console"`` is requested.  Context bound with
``structlog.contextvars.bind_contextvars`` (session_id, agent, supervisor,
mode, ...) is merged into every event, including events from stdlib
loggers such as aiohttp's.  Values of keys that look like secrets are
masked.
"""

import logging
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
FORMATS = ("auto", "json", "console")
SECRET_KEYS = frozenset({"password", "token", "secret", "authorization"})
MASK = "********"


def _is_secret(key: object) -> bool:
    if not isinstance(key, str):
        return False
    name = key.lower().replace("-", "_")
    return any(name == s or name.endswith("_" + s) for s in SECRET_KEYS)


def _redacted(value: Any, depth: int = 0) -> Any:
    if depth > 4 or not isinstance(value, Mapping):
        return value
    return {
        k: MASK if _is_secret(k) and v is not None else _redacted(v, depth + 1)
        for k, v in value.items()
    }


def redact_secrets(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Mask values of password/token/secret/authorization keys (also nested, e.g. headers)."""
    for key, value in event_dict.items():
        if _is_secret(key) and value is not None:
            event_dict[key] = MASK
        elif isinstance(value, Mapping):
            event_dict[key] = _redacted(value)
    return event_dict


_dict_tracebacks = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
)


class _CoachdHandler(logging.StreamHandler[TextIO]):
    """Root handler installed by :func:`configure_logging` (replaced on reconfigure)."""


def _use_console(fmt: str, stream: TextIO) -> bool:
    if fmt != "auto":
        return fmt == "console"
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def configure_logging(level: str, fmt: str, *, stream: TextIO | None = None) -> None:
    """Configure structlog and the stdlib root logger.

    ``level`` is one of debug/info/warning/error, ``fmt`` one of
    auto/json/console.  Logs go to ``stream`` (default: ``sys.stderr``).
    """
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}")
    out = sys.stderr if stream is None else stream
    console = _use_console(fmt, out)
    renderer: Processor
    if console:
        renderer = structlog.dev.ConsoleRenderer(
            colors=_use_console("auto", out),
            exception_formatter=structlog.dev.plain_traceback,
        )
    else:
        renderer = structlog.processors.JSONRenderer()
    # Tracebacks never include frame locals: they may hold secrets.
    tail: list[Processor] = [] if console else [_dict_tracebacks]
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.StackInfoRenderer(), *tail, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    handler = _CoachdHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *tail,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _CoachdHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(LEVELS[level])
