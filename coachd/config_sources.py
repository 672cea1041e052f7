"""Configuration overrides from the environment and systemd credentials.

Both sources yield raw strings keyed by dotted key (``"ari.password"``,
``"instance"``); the schema in :mod:`coachd.config` checks the names and
parses the values.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from coachd.errors import ConfigError

ENV_PREFIX = "COACHD_"


@dataclass(frozen=True, slots=True)
class Override:
    """One raw override value and where it came from (for error messages)."""

    text: str
    source: str


def environment_overrides(environ: Mapping[str, str]) -> dict[str, Override]:
    """``COACHD_INSTANCE`` and ``COACHD_<SECTION>__<KEY>`` (names case-insensitive).

    Other ``COACHD_*`` variables (such as ``COACHD_CONFIG``) are not overrides.
    """
    result: dict[str, Override] = {}
    for name, text in environ.items():
        if not name.upper().startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        if rest == "instance":
            dotted = rest
        elif "__" in rest:
            section, _, key = rest.partition("__")
            dotted = f"{section}.{key}"
        else:
            continue
        result[dotted] = Override(text, f"environment variable {name}")
    return result


def credential_overrides(directory: Path) -> dict[str, Override]:
    """Files named ``<section>.<key>`` (or ``instance``) in ``$CREDENTIALS_DIRECTORY``.

    Every regular file whose name contains a dot (or is ``instance``) is
    returned; the caller decides which names it owns.  One trailing newline
    (LF or CRLF) is stripped from each value.
    """
    try:
        entries = sorted(directory.iterdir())
    except OSError as exc:
        raise ConfigError(f"cannot read $CREDENTIALS_DIRECTORY {directory}: {exc}") from None
    result: dict[str, Override] = {}
    for entry in entries:
        if ("." not in entry.name and entry.name != "instance") or not entry.is_file():
            continue
        try:
            text = entry.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read credential {entry}: {exc}") from None
        text = text.removesuffix("\n").removesuffix("\r")
        result[entry.name] = Override(text, f"credential {entry}")
    return result
