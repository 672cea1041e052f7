"""Rows to a database without blocking the caller, and without losing them.

:class:`Spooler` queues rows in memory; :meth:`Spooler.run` (a task) writes
them in order through a :class:`RowWriter`. When the database is unavailable,
rows go to an append-only JSON-lines spool file (flushed and fsynced), and
every later row follows them there so that order is kept. :meth:`run` retries
with backoff and replays the spool, in order, when the database is back; it
truncates the file only once every line is in. A crash during a replay only
means lines are applied twice, which the writers' idempotent keys make
harmless: nothing is lost, nothing duplicated. A spool left by a previous run
is replayed first.

Rows the database refuses for good (:class:`~coachd.storage.errors.StoreError`)
are logged and appended to ``<spool>.rejected`` instead of blocking the rest.

The coaching log (:class:`~coachd.storage.log.CoachingLog`) and VICIdial's
monitoring log (:class:`~coachd.vicidial.monitor_log.MonitorLog`) are spoolers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import structlog

from coachd.storage.errors import StoreError, StoreUnavailable

if TYPE_CHECKING:
    from coachd.core.commands import Publish
    from coachd.core.session import Session

log = structlog.get_logger(__name__)

BACKOFF_INITIAL = 0.5
BACKOFF_CAP = 30.0


class Row(Protocol):
    @property
    def session_id(self) -> str: ...

    def to_json(self) -> dict[str, object]: ...


RowT = TypeVar("RowT", bound=Row)
RowT_contra = TypeVar("RowT_contra", contravariant=True)


class RowWriter(Protocol[RowT_contra]):
    async def record(self, row: RowT_contra) -> None:
        """Apply ``row`` (idempotently); StoreUnavailable: retry later."""
        ...


@dataclass(frozen=True, slots=True)
class SpoolStats:
    written: int
    """Rows the database accepted (including replayed ones)."""
    spooled: int
    """Rows written to the spool file since start."""
    replayed: int
    """Spool lines applied to the database since start."""
    rejected: int
    """Rows the database refused for good (see ``<spool>.rejected``)."""
    queued: int
    """Rows waiting in memory."""
    spool_pending: int
    """Lines in the spool file not yet replayed."""


@dataclass(frozen=True, slots=True)
class _Events:
    """Log event names, ``<name>_...`` (e.g. ``coaching_log_database_unavailable``)."""

    spool_found: str
    stopped_with_spool: str
    replay_interrupted: str
    spool_replayed: str
    database_unavailable: str
    database_available: str
    row_rejected: str
    spool_line_unreadable: str
    stop_timed_out: str
    event_unconvertible: str

    @classmethod
    def named(cls, name: str) -> _Events:
        return cls(**{f: name + "_" + f for f in cls.__slots__})


class Spooler(Generic[RowT]):
    """Writes queued rows through ``writer`` (see the module docstring)."""

    def __init__(
        self,
        writer: RowWriter[RowT],
        *,
        name: str,
        spool_path: Path,
        decode: Callable[[Mapping[str, Any]], RowT],
        backoff_initial: float = BACKOFF_INITIAL,
        backoff_cap: float = BACKOFF_CAP,
    ) -> None:
        self.writer = writer
        self.spool_path = spool_path
        self.rejected_path = spool_path.with_name(spool_path.name + ".rejected")
        self.backoff_initial = backoff_initial
        self.backoff_cap = backoff_cap
        self._decode = decode
        self._events = _Events.named(name)
        self._queue: deque[RowT] = deque()
        self._wakeup = asyncio.Event()
        self._spool_lock = asyncio.Lock()
        self._stopping = False
        self._flush_deadline = math.inf
        self._task: asyncio.Task[None] | None = None
        self._spool_pending = 0
        self._retry_at = 0.0
        self._attempt = 0
        self.written = 0
        self.spooled = 0
        self.replayed = 0
        self.rejected = 0
        self.available = asyncio.Event()
        """Set while the last database write succeeded."""

    def submit(self, row: RowT) -> None:
        """Queue ``row``; never waits for the database."""
        self._queue.append(row)
        self._wakeup.set()

    # --- EventSink: a session event to the row it makes ----------------------------

    def row_for(self, session_id: str, event: Publish) -> RowT | None:
        """The row ``event`` makes, or None (a subclass that is an event sink says)."""
        raise NotImplementedError

    async def publish(self, session: Session, event: Publish) -> None:
        """Queue the row for ``event``; never waits for the database."""
        self.enqueue(session.id, event)

    def enqueue(self, session_id: str, event: Publish) -> None:
        """Synchronous :meth:`publish` for callers without a :class:`Session`."""
        try:
            row = self.row_for(session_id, event)
        except Exception:
            # A bad event must not break the session that reported it.
            log.exception(self._events.event_unconvertible, event_type=event.type)
            return
        if row is not None:
            self.submit(row)

    def stats(self) -> SpoolStats:
        return SpoolStats(
            written=self.written,
            spooled=self.spooled,
            replayed=self.replayed,
            rejected=self.rejected,
            queued=len(self._queue),
            spool_pending=self._spool_pending,
        )

    # --- writer -------------------------------------------------------------------------

    async def run(self) -> None:
        """Write queued rows until :meth:`stop` (run it as a task)."""
        if self._task is not None:
            raise RuntimeError("run() is already running")
        self._task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        async with self._spool_lock:  # not while stop() appends to it
            self._spool_pending = await asyncio.to_thread(_count_lines, self.spool_path)
        if self._spool_pending:
            log.info(self._events.spool_found, path=str(self.spool_path), rows=self._spool_pending)
        try:
            while True:
                if self._stopping and loop.time() >= self._flush_deadline:
                    await self._spool_queue()
                    break
                if self._spool_pending:
                    await self._spool_queue()
                    if loop.time() >= self._retry_at:
                        await self._replay()
                    if self._spool_pending:
                        await self._wait(self._retry_at)
                    continue
                if self._queue:
                    await self._write(self._queue[0])
                    continue
                if self._stopping:
                    break
                await self._wait(math.inf)
        finally:
            if self._queue:
                # Cancelled or failed: whatever is still in memory goes to disk.
                _append_lines(self.spool_path, [r.to_json() for r in self._queue])
                self.spooled += len(self._queue)
                self._spool_pending += len(self._queue)
                self._queue.clear()
            if self._spool_pending:
                log.warning(
                    self._events.stopped_with_spool,
                    path=str(self.spool_path),
                    rows=self._spool_pending,
                )

    async def _wait(self, until: float) -> None:
        loop = asyncio.get_running_loop()
        limit = min(until, self._flush_deadline)
        timeout = None if limit is math.inf else max(0.0, limit - loop.time())
        self._wakeup.clear()
        if self._queue and not self._spool_pending:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout)

    async def _write(self, row: RowT) -> None:
        try:
            await self.writer.record(row)
        except StoreUnavailable as exc:
            self._unavailable(exc)
            await self._spool_queue()  # this row first, and every later one after it
            return
        except StoreError as exc:
            self._queue.popleft()
            await self._reject(row.to_json(), exc)
            return
        self._queue.popleft()
        self.written += 1
        self._available()

    async def _replay(self) -> None:
        lines = await asyncio.to_thread(_read_lines, self.spool_path)
        applied = 0
        for line in lines:
            try:
                row = self._decode(json.loads(line))
            except (ValueError, TypeError, KeyError) as exc:
                await self._reject_line(line, exc)
                applied += 1
                continue
            try:
                await self.writer.record(row)
            except StoreUnavailable as exc:
                self._unavailable(exc)
                if applied:
                    log.info(self._events.replay_interrupted, applied=applied, left=len(lines))
                return
            except StoreError as exc:
                await self._reject(row.to_json(), exc)
            else:
                self.written += 1
                self.replayed += 1
            applied += 1
        # Every line is in: only now may the spool go (nothing was appended
        # meanwhile: this task is the only writer).
        await asyncio.to_thread(_truncate, self.spool_path)
        self._spool_pending = 0
        self._available()
        log.info(self._events.spool_replayed, rows=applied)

    async def _spool_queue(self) -> None:
        # stop() may spool while run() does (stop before the task got going):
        # one at a time, and rows leave the queue before the file is written.
        async with self._spool_lock:
            if not self._queue:
                return
            rows = list(self._queue)
            self._queue.clear()
            try:
                await asyncio.to_thread(_append_lines, self.spool_path, [r.to_json() for r in rows])
            except BaseException:
                self._queue.extendleft(reversed(rows))
                raise
            self.spooled += len(rows)
            self._spool_pending += len(rows)

    def _unavailable(self, exc: StoreError) -> None:
        loop = asyncio.get_running_loop()
        delay = min(self.backoff_cap, self.backoff_initial * 2**self._attempt)
        self._retry_at = loop.time() + delay
        if self.available.is_set() or self._attempt == 0:
            log.warning(self._events.database_unavailable, error=str(exc), retry_in=delay)
        self._attempt += 1
        self.available.clear()

    def _available(self) -> None:
        if self._attempt:
            log.info(self._events.database_available)
        self._attempt = 0
        self._retry_at = 0.0
        self.available.set()

    async def _reject(self, data: Mapping[str, object], exc: StoreError) -> None:
        self.rejected += 1
        log.error(self._events.row_rejected, error=str(exc), session_id=data.get("session_id"))
        await asyncio.to_thread(_append_lines, self.rejected_path, [dict(data)])

    async def _reject_line(self, line: str, exc: Exception) -> None:
        self.rejected += 1
        log.error(self._events.spool_line_unreadable, error=str(exc))
        await asyncio.to_thread(_append_lines, self.rejected_path, [{"unreadable": line}])

    async def stop(self, timeout: float) -> None:
        """Write what can be written within ``timeout`` s; spool the rest to disk."""
        loop = asyncio.get_running_loop()
        self._stopping = True
        self._flush_deadline = loop.time() + max(0.0, timeout - min(1.0, timeout / 2))
        self._wakeup.set()
        task = self._task
        if task is None or task.done():
            if self._queue:
                await self._spool_queue()
            return
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
            log.warning(self._events.stop_timed_out)


# --- spool file (run in a thread: fsync may take a while) -----------------------------


def _append_lines(path: Path, items: list[dict[str, object]]) -> None:
    if not items:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        size = os.fstat(fd).st_size
        if size:
            # A crash may have left a partial last line: never glue onto it.
            with path.open("rb") as fh:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":
                    payload = "\n" + payload
        os.write(fd, payload.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [line for line in text.split("\n") if line.strip()]


def _count_lines(path: Path) -> int:
    return len(_read_lines(path))


def _truncate(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
