"""The coaching log: session events to database rows, without blocking the engine.

:meth:`CoachingLog.publish` (the engine's EventSink call) only turns the event
into an :class:`~coachd.storage.store.EventRow` and queues it; :meth:`run`
(a task) writes the queue through the :class:`~coachd.storage.store.Store`.
Outages, order, replay and rejected rows are handled as
:class:`~coachd.storage.spool.Spooler` describes: when the database is away,
rows wait in an append-only spool file and are written in order when it is
back; nothing is lost, nothing duplicated.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from coachd.core.commands import Publish
from coachd.storage.spool import BACKOFF_CAP, BACKOFF_INITIAL, Spooler, SpoolStats
from coachd.storage.store import EventRow, RowKind, Store

if TYPE_CHECKING:
    pass

log = structlog.get_logger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _text(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key)
    return None if value is None else str(value)


_KINDS: Mapping[str, RowKind] = {
    "session_started": "started",
    "mode_changed": "mode_changed",
    "session_ended": "ended",
    "session_refused": "refused",
    "cue_played": "cue",
}


def event_row(session_id: str, event: Publish, *, instance: str, at: datetime) -> EventRow | None:
    """The row for ``event``, or ``None`` for events the log does not keep."""
    kind = _KINDS.get(event.type)
    if kind is None:
        return None
    data = event.data
    mode = _text(data, "after") if kind == "mode_changed" else _text(data, "mode")
    return EventRow(
        kind=kind,
        session_id=_text(data, "session_id") or session_id,
        seq=event.seq,
        at=at,
        instance=instance,
        agent=_text(data, "agent") or "",
        supervisor=_text(data, "supervisor"),
        endpoint=_text(data, "endpoint") or "",
        mode=None if kind == "refused" else mode,
        reason=_text(data, "reason") if kind in ("ended", "refused") else None,
        detail=_text(data, "detail") if kind in ("ended", "refused") else None,
        cue=_text(data, "cue") if kind == "cue" else None,
        source=_text(data, "source") if kind == "cue" else None,
    )


CoachingLogStats = SpoolStats


class CoachingLog(Spooler[EventRow]):
    """EventSink that keeps the coaching log in a :class:`Store` (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        *,
        instance: str,
        spool_path: Path,
        clock: Callable[[], datetime] = _utcnow,
        backoff_initial: float = BACKOFF_INITIAL,
        backoff_cap: float = BACKOFF_CAP,
    ) -> None:
        super().__init__(
            store,
            name="coaching_log",
            spool_path=spool_path,
            decode=EventRow.from_json,
            backoff_initial=backoff_initial,
            backoff_cap=backoff_cap,
        )
        self.store = store
        self.instance = instance
        self._clock = clock

    def row_for(self, session_id: str, event: Publish) -> EventRow | None:
        return event_row(session_id, event, instance=self.instance, at=self._clock())


def spooled_endings(spool_path: Path) -> set[str]:
    """Sessions whose end (or refusal) waits in the spool: a previous run ended
    them on record, the rows are not in the database yet."""
    try:
        lines = spool_path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return set()
    found: set[str] = set()
    for line in lines:
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("kind") in ("ended", "refused"):
            found.add(str(data.get("session_id", "")))
    return found
