"""Print the doctor's findings (text for people, JSON for tools) and pick the exit code.

JSON: an array of ``{"check", "subject", "severity", "message", "fix"}``
objects, ``severity`` one of ``ok``/``warning``/``error``, ``fix`` a string or
``null``. Exit code: 0 nothing wrong, 1 any error, 2 warnings only.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence

from coachd.doctor.finding import NOT_CHECKED, Finding

EXIT_OK, EXIT_ERROR, EXIT_WARNING = 0, 1, 2
_LABEL = {"ok": "ok", "warning": "WARNING", "error": "ERROR"}
_INDENT = " " * 12


def exit_code(findings: Sequence[Finding]) -> int:
    severities = {f.severity for f in findings}
    if "error" in severities:
        return EXIT_ERROR
    return EXIT_WARNING if "warning" in severities else EXIT_OK


def to_json(findings: Sequence[Finding]) -> str:
    return json.dumps([f.to_json() for f in findings], indent=2)


def to_text(findings: Sequence[Finding]) -> str:
    """Subjects with something wrong (or not checked) in full; the others in one list."""
    groups: dict[str, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding.subject, []).append(finding)
    lines: list[str] = []
    healthy: list[str] = []
    for subject, group in groups.items():
        shown = [f for f in group if f.severity != "ok" or f.message.startswith(NOT_CHECKED)]
        if not shown:
            healthy.append(subject)
            continue
        lines.append(subject)
        for f in shown:
            label, message = _LABEL[f.severity], f.message
            if message.startswith(NOT_CHECKED):
                label, message = "unchecked", message.removeprefix(NOT_CHECKED)
            lines += _wrap(f"  {label:<9} {f.check}: {message}")
            if f.fix:
                lines += _wrap(f"{_INDENT}fix: {f.fix}")
        passed = sorted({f.check for f in group if f not in shown})
        if passed:
            lines.append(f"  {'ok':<9} {', '.join(passed)}")
    if healthy:
        lines += textwrap.wrap("ok: " + ", ".join(healthy), 100, subsequent_indent="    ")
    lines.append(_summary(findings))
    return "\n".join(lines)


def _wrap(line: str) -> list[str]:
    return textwrap.wrap(line, 100, subsequent_indent=_INDENT) or [line]


def _summary(findings: Sequence[Finding]) -> str:
    counts = {s: sum(f.severity == s for f in findings) for s in ("error", "warning", "ok")}
    meaning = {EXIT_OK: "nothing wrong", EXIT_ERROR: "errors", EXIT_WARNING: "warnings only"}
    code = exit_code(findings)
    return (
        f"{counts['error']} errors, {counts['warning']} warnings, {counts['ok']} ok "
        f"(exit {code}: {meaning[code]})"
    )
