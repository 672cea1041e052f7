"""Dialplan application calls in ``extensions.conf`` text (pure; for ``--dialplan``).

Good enough for what the doctor asks (``ChanSpy`` options, ``Stasis`` app
names): comments are skipped, arguments are split at top-level commas
(``${CUT(x,-,1)}`` stays one argument). ``#include`` lines are not followed.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

_BLOCK_COMMENT = re.compile(r";--.*?--;", re.DOTALL)
_CALL = re.compile(r"(?:(?<=[,?:(])|^)\s*([A-Za-z_]\w*)\s*(\(|$)")
_OPENERS = {"(": ")", "{": "}", "[": "]"}


@dataclass(frozen=True, slots=True)
class AppCall:
    line: int
    """1-based line number."""
    app: str
    """The application's name as written (Asterisk matches it case-insensitively)."""
    args: tuple[str, ...]


def app_calls(text: str, apps: Collection[str]) -> list[AppCall]:
    """Calls of the applications named in ``apps`` (case-insensitive), in order."""
    wanted = {a.lower() for a in apps}
    text = _BLOCK_COMMENT.sub(lambda m: "\n" * m.group().count("\n"), text)
    calls: list[AppCall] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw)
        for match in _CALL.finditer(line):
            if match.group(1).lower() not in wanted:
                continue
            args = _split_args(line, match.end()) if match.group(2) == "(" else ()
            calls.append(AppCall(number, match.group(1), args))
    return calls


def chanspy_options(call: AppCall) -> str:
    """The option letters of a ``ChanSpy``/``ExtenSpy`` call, option arguments removed."""
    options = call.args[1] if len(call.args) > 1 else ""
    return re.sub(r"\([^)]*\)", "", options)


def _strip_comment(line: str) -> str:
    escaped = False
    for i, char in enumerate(line):
        if char == ";" and not escaped:
            return line[:i]
        escaped = char == "\\" and not escaped
    return line


def _split_args(line: str, start: int) -> tuple[str, ...]:
    args: list[str] = []
    closers: list[str] = []
    current: list[str] = []
    escaped = False
    for char in line[start:]:
        if escaped:
            current.append(char)
            escaped = False
            continue
        if char == "\\":
            escaped = True
        elif char in _OPENERS:
            closers.append(_OPENERS[char])
        elif closers and char == closers[-1]:
            closers.pop()
        elif not closers and char == ")":
            break
        elif not closers and char == ",":
            args.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    args.append("".join(current).strip())
    return tuple(args) if args != [""] else ()
