"""Type-driven conversion of raw configuration values.

The expected type comes from a dataclass field's type hint; supported hints
are ``str``, ``int``, ``float``, ``bool``, ``Literal[...]`` of strings,
``tuple[X, ...]`` and ``X | None``.
"""

import json
import math
import types
from typing import Any, Literal, Union, get_args, get_origin

from coachd.errors import ConfigError

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})
_TOML_NAMES: dict[type, str] = {
    bool: "boolean",
    int: "integer",
    float: "float",
    str: "string",
    list: "array",
    dict: "table",
}


def _optional_inner(hint: Any) -> Any | None:
    """Return ``X`` for ``X | None``, else ``None``."""
    if get_origin(hint) not in (Union, types.UnionType):
        return None
    args = [arg for arg in get_args(hint) if arg is not type(None)]
    if len(args) != 1:
        raise TypeError(f"unsupported config type {hint!r}")
    return args[0]


def describe(hint: Any) -> str:
    """Human-readable name of an expected type."""
    inner = _optional_inner(hint)
    if inner is not None:
        return describe(inner)
    if get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(hint))
    if get_origin(hint) is tuple:
        return f"array of {describe(get_args(hint)[0])}"
    return _TOML_NAMES.get(hint, getattr(hint, "__name__", repr(hint)))


def _kind(value: object) -> str:
    return _TOML_NAMES.get(type(value), type(value).__name__)


def coerce(value: object, hint: Any, key: str) -> Any:
    """Check a TOML-typed value against ``hint``; return it in canonical form."""
    inner = _optional_inner(hint)
    if inner is not None:
        return None if value is None else coerce(value, inner, key)
    origin = get_origin(hint)
    if origin is Literal:
        if isinstance(value, str):
            for choice in get_args(hint):
                if value.lower() == choice:
                    return choice
        raise ConfigError(f"expected {describe(hint)}, got {value!r}", key=key)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"expected {describe(hint)}, got {_kind(value)}", key=key)
        item = get_args(hint)[0]
        return tuple(coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value))
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ConfigError(f"expected a finite number, got {value!r}", key=key)
        return float(value)
    if hint in (bool, int, str) and type(value) is hint:
        return value
    if hint not in (bool, int, float, str):
        raise TypeError(f"unsupported config type {hint!r}")
    raise ConfigError(f"expected {describe(hint)}, got {_kind(value)}", key=key)


def from_text(text: str, hint: Any, key: str) -> object:
    """Parse an environment/credential string into a value for :func:`coerce`.

    Empty text means ``None`` for optional fields.  Lists are comma-separated
    or a JSON array.  Booleans accept true/false/1/0/yes/no.
    """
    inner = _optional_inner(hint)
    if inner is not None:
        return None if text == "" else from_text(text, inner, key)
    stripped = text.strip()
    if get_origin(hint) is tuple:
        if stripped.startswith("["):
            try:
                return json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"invalid JSON array: {exc}", key=key) from None
        return [part.strip() for part in text.split(",") if part.strip()]
    if hint is bool:
        if stripped.lower() in _TRUE:
            return True
        if stripped.lower() in _FALSE:
            return False
        raise ConfigError(f"expected a boolean (true/false/1/0/yes/no), got {text!r}", key=key)
    if hint in (int, float):
        try:
            return int(stripped) if hint is int else float(stripped)
        except ValueError:
            raise ConfigError(f"expected {describe(hint)}, got {text!r}", key=key) from None
    return text
