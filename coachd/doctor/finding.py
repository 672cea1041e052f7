"""One finding of ``coachd doctor``: what was checked, on what, and how it went."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["ok", "warning", "error"]
NOT_CHECKED = "not checked: "
"""The start of the message of an ``ok`` finding for a check that could not be made."""


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    subject: str
    """What the finding is about: an endpoint (``PJSIP/1042``), ``asterisk``, a URL..."""
    severity: Severity
    message: str
    fix: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            "check": self.check,
            "subject": self.subject,
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix,
        }
