"""The chaos suite's figures: one :class:`FaultRecord` per fault test, one table per run.

Each fault test calls :func:`record` with figures computed from what it observed;
tests/conftest.py clears ``test-artifacts/chaos/`` as the run starts, and at its end
prints the table and writes ``test-artifacts/chaos-table.{json,md}``.

A figure a test cannot measure is ``None`` (recovery) or :data:`NOT_MEASURED`
(counts), and its note says why.

"Log rows lost" comes from the coaching log itself (:func:`log_rows_lost`): the rows
the sessions coachd logged should have left there (:func:`mode_periods`), minus those
found complete.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tests.sandbox.daemon import ARTIFACTS

if TYPE_CHECKING:
    from coachd.storage.store import PeriodRecord, SessionRecord
    from tests.sandbox.daemon import Daemon

CHAOS_DIR = ARTIFACTS / "chaos"
NOT_MEASURED = -1
COLUMNS = (
    "Fault",
    "Recovery (s)",
    "Events lost",
    "Log rows lost",
    "Orphans",
    "Wrongly ended",
    "Note",
)

T = TypeVar("T", bound=Hashable)


@dataclass(frozen=True, slots=True)
class FaultRecord:
    """What one fault cost.

    ``recovery_s``: from the faulty component being back (for coachd's own stop or
    crash: from the fault) until coachd works again. ``events_lost``: session events
    a consumer should have seen and did not. ``log_rows_lost``: coaching-log rows
    missing or incomplete (see :func:`rows_lost`). ``orphans``: coachd's channels and
    bridges left in Asterisk. ``wrongly_ended``: sessions ended that should not have
    been (or ended twice).
    """

    fault: str
    recovery_s: float | None
    events_lost: int
    log_rows_lost: int
    orphans: int
    wrongly_ended: int
    note: str = ""

    def __post_init__(self) -> None:
        if self.recovery_s is not None and self.recovery_s < 0:
            raise ValueError(f"{self.fault}: negative recovery time {self.recovery_s}")
        counts = (self.events_lost, self.log_rows_lost, self.orphans, self.wrongly_ended)
        if any(n < NOT_MEASURED for n in counts):
            raise ValueError(f"{self.fault}: a count below {NOT_MEASURED}: {counts}")


# --- figures from observations -----------------------------------------------------------


def missing(expected: Iterable[T], seen: Iterable[T]) -> list[T]:
    """The items of ``expected`` (a multiset) not in ``seen``; extras seen offset nothing."""
    return list((Counter(expected) - Counter(seen)).elements())


def wrongly_ended(reasons: Sequence[str], allowed: Collection[str]) -> int:
    """Of one session's endings: those for a reason not ``allowed``, and any but the
    first allowed one (a session ends once)."""
    wrong = sum(r not in allowed for r in reasons)
    return wrong + max(0, len(reasons) - wrong - 1)


# --- the coaching log ----------------------------------------------------------------------

OPENS_A_PERIOD = ("session_started", "mode_changed")
STARTED_SESSION = (*OPENS_A_PERIOD, "session_ended")
"""Session events only a started session has: it has a coaching-log row."""

Logged = tuple["SessionRecord | None", "list[PeriodRecord]"]
"""One session as found in the coaching log: its row (if any) and its mode periods."""


def mode_periods(events: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """{session_id: mode periods it should have in the coaching log}, from coachd's
    ``session_event`` log records (from one coachd or several).

    A session that logged ``session_started``, ``mode_changed`` or ``session_ended``
    was started: it has a coaching-log row and a first period (even if that event's
    line is missing), plus one period per ``mode_changed``. A record seen twice
    (same session and seq) counts once. Refused sessions have no row: not listed.
    """
    started: set[str] = set()
    changes: set[tuple[str, object]] = set()
    for i, r in enumerate(events):
        kind = r.get("event_type")
        if kind not in STARTED_SESSION or r.get("session_id") is None:
            continue
        session_id = str(r["session_id"])
        started.add(session_id)
        if kind == "mode_changed":
            seq = r.get("seq")
            changes.add((session_id, ("index", i) if seq is None else seq))
    per_session = Counter(session_id for session_id, _ in changes)
    return {session_id: 1 + per_session[session_id] for session_id in sorted(started)}


def rows_lost(periods: int, logged: Logged, reason: str | None = None) -> int:
    """Of a session's ``1 + periods`` coaching-log rows, those missing or incomplete:
    its ``coachd_coaching_log`` row unless ended (with ``reason``, when given), and
    each of its ``periods`` mode periods not there closed. Extra rows offset nothing."""
    record, found = logged
    complete = (
        record is not None
        and record.ended_at is not None
        and (reason is None or record.end_reason == reason)
    )
    closed = sum(p.ended_at is not None for p in found)
    return int(not complete) + max(0, periods - closed)


async def read_log(
    database_url: str,
    sessions: Mapping[str, int],
    *,
    reasons: Mapping[str, str] | None = None,
    within: float = 5.0,
    every: float = 0.1,
) -> dict[str, Logged]:
    """``sessions`` (session_id -> mode periods) as found in the coaching log at
    ``database_url``, read-only.

    coachd writes the log behind the engine's back: this polls, every ``every``
    seconds, until no row is lost (see :func:`rows_lost`) or ``within`` seconds
    have passed, and returns the last reading. After coachd stopped cleanly every
    row must be there: read once (``within=0``).
    """
    from coachd.storage.store import StoreUnavailable, open_store, sqlite_path

    reasons = reasons or {}
    absent: Logged = (None, [])
    deadline = time.monotonic() + within
    while True:
        found = dict.fromkeys(sessions, absent)
        # No file yet means no row yet: opening it would create it.
        if not database_url.startswith("sqlite:") or sqlite_path(database_url).exists():
            store = open_store(database_url)
            try:
                for session_id in sessions:
                    found[session_id] = (
                        await store.session(session_id),
                        await store.periods(session_id),
                    )
            except StoreUnavailable:
                pass  # not written yet (no schema), or busy: what was read so far counts
            finally:
                await store.close()
        lost = sum(rows_lost(n, found[s], reasons.get(s)) for s, n in sessions.items())
        if lost == 0 or time.monotonic() >= deadline:
            return found
        await asyncio.sleep(every)


async def log_rows_lost(
    database_url: str,
    sessions: Mapping[str, int],
    *,
    reasons: Mapping[str, str] | None = None,
    within: float = 5.0,
) -> int:
    """Coaching-log rows of ``sessions`` (session_id -> mode periods, see
    :func:`mode_periods`) missing or incomplete once :func:`read_log` is done."""
    found = await read_log(database_url, sessions, reasons=reasons, within=within)
    reasons = reasons or {}
    return sum(rows_lost(n, found[s], reasons.get(s)) for s, n in sessions.items())


async def record_stopped(
    fault: str,
    daemons: Sequence[Daemon],
    *,
    recovery_s: float,
    orphans: int,
    allowed: Collection[str],
    note: str,
    expected: Sequence[str] = ("session_started", "session_ended"),
) -> FaultRecord:
    """Record ``fault`` once each coachd of it (``daemons``, sharing the first one's
    coaching log) has stopped: events lost are ``expected`` event types missing
    from their logs, each session's row must be in the log ended for the reason it
    announced (read once: a clean stop flushed it), and an end for a reason not
    ``allowed``, or a second end, is a wrong one."""
    events = [r for daemon in daemons for r in daemon.session_events()]
    ends = [r for r in events if r["event_type"] == "session_ended"]
    periods = mode_periods(events)
    announced = {str(r["session_id"]): str(r["reason"]) for r in ends}
    rec = FaultRecord(
        fault,
        recovery_s=recovery_s,
        events_lost=len(missing(expected, [r["event_type"] for r in events])),
        log_rows_lost=await log_rows_lost(
            daemons[0].database_url, periods, reasons=announced, within=0
        ),
        orphans=orphans,
        wrongly_ended=wrongly_ended([str(r["reason"]) for r in ends], allowed),
        note=note,
    )
    record(rec)
    return rec


# --- one file per fault ----------------------------------------------------------------------


def slug(fault: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", fault.lower()).strip("-")


def record(rec: FaultRecord, directory: Path = CHAOS_DIR) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{slug(rec.fault)}.json"
    path.write_text(json.dumps(asdict(rec), indent=2) + "\n")
    return path


def load(directory: Path = CHAOS_DIR) -> list[FaultRecord]:
    """The records in ``directory``, in the order they were written."""
    if not directory.is_dir():
        return []
    paths = sorted(directory.glob("*.json"), key=lambda p: (p.stat().st_mtime_ns, p.name))
    return [FaultRecord(**json.loads(p.read_text())) for p in paths]


def clear(directory: Path = CHAOS_DIR) -> None:
    for path in directory.glob("*.json"):
        path.unlink(missing_ok=True)


# --- the table -------------------------------------------------------------------------------


def _count(n: int) -> str:
    return "n/a" if n == NOT_MEASURED else str(n)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def row(rec: FaultRecord) -> list[str]:
    recovery = "n/a" if rec.recovery_s is None else f"{rec.recovery_s:.2f}"
    counts = (rec.events_lost, rec.log_rows_lost, rec.orphans, rec.wrongly_ended)
    return [_cell(rec.fault), recovery, *map(_count, counts), _cell(rec.note)]


def markdown(records: Sequence[FaultRecord]) -> str:
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join(["---", *["---:"] * 5, "---"]) + "|",
        *("| " + " | ".join(row(r)) + " |" for r in records),
        "",
        "n/a: not measured by that test (its note says why).",
    ]
    return "\n".join(lines) + "\n"


def to_json(records: Sequence[FaultRecord]) -> str:
    return json.dumps([asdict(r) for r in records], indent=2) + "\n"


def write_tables(records: Sequence[FaultRecord], directory: Path = ARTIFACTS) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    md, js = directory / "chaos-table.md", directory / "chaos-table.json"
    md.write_text("# Chaos suite\n\n" + markdown(records))
    js.write_text(to_json(records))
    return [md, js]
