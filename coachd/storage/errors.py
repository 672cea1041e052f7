"""Database errors shared by every store: "not now" versus "not this"."""

from __future__ import annotations

from coachd.errors import CoachdError


class StoreError(CoachdError):
    """The database refused a request; retrying it will not help."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or written right now; retry later."""
