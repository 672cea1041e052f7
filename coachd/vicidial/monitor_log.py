"""coachd sessions in VICIdial's real-time monitoring log (``vicidial_rt_monitor_log``).

One row per mode period, as VICIdial writes one per blind-monitor call
(``non_agent_api.php`` inserts it when monitoring starts, ``FastAGI_log.pl``
sets ``monitor_end_time`` and ``monitor_sec`` at hang-up), so VICIdial's own
monitoring reports list coachd's sessions:

- ``session_started`` inserts the first period's row;
- ``mode_changed`` ends the current period's row and inserts the next one;
- ``session_ended`` ends the current period's row; for a session this run
  never saw (reason ``lost``: a killed predecessor's, ended by
  :mod:`coachd.recovery`), it ends whatever row of that session is still open.

``monitor_type``: monitor is ``LISTEN``, whisper and private_whisper are
``WHISPER``, barge is ``BARGE``. Times are wall-clock times in VICIdial's
time zone (``[vicidial] timezone``, by default the host's), as VICIdial's
``NOW()`` writes them; ``monitor_sec`` is whole seconds, as VICIdial counts.

``caller_code`` (unique in that table) is ``CD`` + the 12-character session
id + the period number in 6 digits: 20 characters, like VICIdial's own
``BM``/``BB``/``BW`` codes, which it never matches, so VICIdial's hang-up
logging leaves these rows alone. Inserting a row whose code exists changes
nothing, and a period's end is written only while it has none, so a row
applied twice (the spool replayed after a crash) never duplicates or moves
anything.

Writes never hold up coaching: rows are queued and written by a
:class:`~coachd.storage.spool.Spooler`; when the database is away they wait,
in order, in an append-only spool file and are written when it is back.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from coachd.core.commands import Publish
from coachd.core.modes import Mode
from coachd.storage.mysql import MysqlPool
from coachd.storage.spool import BACKOFF_CAP, BACKOFF_INITIAL, Spooler
from coachd.vicidial.context import ContextBook, MonitorContext

if TYPE_CHECKING:
    pass

log = structlog.get_logger(__name__)

MONITOR_TYPES: Mapping[str, str] = {
    Mode.MONITOR: "LISTEN",
    Mode.WHISPER: "WHISPER",
    Mode.PRIVATE_WHISPER: "WHISPER",
    Mode.BARGE: "BARGE",
}
CODE_PREFIX = "CD"
MAX_PERIOD = 999_999
_SESSION_ID = re.compile(r"[0-9a-f]{12}")

# vicidial_rt_monitor_log column sizes (VARCHAR(n)); longer values are cut.
WIDTHS: Mapping[str, int] = {
    "manager_user": 20,
    "manager_server_ip": 15,
    "manager_phone": 20,
    "agent_user": 20,
    "agent_server_ip": 15,
    "agent_status": 10,
    "agent_session": 10,
    "campaign_id": 8,
}


def caller_code(session_id: str, period: int) -> str:
    """``CD`` + session id (12 hex; other ids are hashed to 12 hex) + period (6 digits)."""
    sid = session_id if _SESSION_ID.fullmatch(session_id) else _digest(session_id)
    return f"{CODE_PREFIX}{sid}{period:06d}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def wall_clock(at: datetime, zone: tzinfo | None) -> datetime:
    """``at`` as naive wall-clock time in ``zone`` (None: the host's time zone)."""
    return at.astimezone(zone).replace(tzinfo=None, microsecond=0)


@dataclass(frozen=True, slots=True)
class MonitorRow:
    """What one session event does to ``vicidial_rt_monitor_log``: end a period's
    row (``close``), start one (``open``), or both."""

    session_id: str
    close: str | None = None
    """caller_code of the row that ends."""
    end_time: datetime | None = None
    monitor_sec: int = 0
    open: str | None = None
    """caller_code of the row that starts."""
    start_time: datetime | None = None
    monitor_type: str = "LISTEN"
    context: MonitorContext | None = None
    close_open: bool = False
    """End every row of the session still open (at ``end_time``): a lost session's."""

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        for key in ("end_time", "start_time"):
            value = getattr(self, key)
            data[key] = None if value is None else value.isoformat()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MonitorRow:
        context = data.get("context")
        return cls(
            session_id=str(data["session_id"]),
            close=data.get("close"),
            end_time=_time(data.get("end_time")),
            monitor_sec=int(data.get("monitor_sec", 0)),
            open=data.get("open"),
            start_time=_time(data.get("start_time")),
            monitor_type=str(data.get("monitor_type", "LISTEN")),
            context=None if context is None else MonitorContext(**context),
            close_open=bool(data.get("close_open", False)),
        )


def _time(value: object) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def _clip(column: str, value: str | None) -> str | None:
    return None if value is None else value[: WIDTHS[column]]


_INSERT = (
    "INSERT INTO vicidial_rt_monitor_log (manager_user, manager_server_ip, manager_phone,"
    " agent_user, agent_server_ip, agent_status, agent_session, lead_id, campaign_id,"
    " caller_code, monitor_start_time, monitor_sec, monitor_type)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)"
    " ON DUPLICATE KEY UPDATE caller_code = caller_code"
)
_CLOSE = (
    "UPDATE vicidial_rt_monitor_log SET monitor_end_time = ?, monitor_sec = ?"
    " WHERE caller_code = ? AND monitor_end_time IS NULL"
)


_CLOSE_OPEN = (
    "UPDATE vicidial_rt_monitor_log SET monitor_end_time = ?,"
    " monitor_sec = GREATEST(0, TIMESTAMPDIFF(SECOND, monitor_start_time, ?))"
    " WHERE caller_code LIKE ? AND monitor_end_time IS NULL"
)


class MonitorLogWriter:
    """Applies :class:`MonitorRow` s (idempotently) to ``vicidial_rt_monitor_log``."""

    def __init__(self, pool: MysqlPool) -> None:
        self.pool = pool

    async def record(self, row: MonitorRow) -> None:
        async with self.pool.transaction() as cur:
            if row.close_open:
                prefix = caller_code(row.session_id, 0)[: -len("000000")]
                await cur.execute(_CLOSE_OPEN, (row.end_time, row.end_time, prefix + "%"))
            if row.close is not None:
                await cur.execute(_CLOSE, (row.end_time, row.monitor_sec, row.close))
            if row.open is not None:
                ctx = row.context or MonitorContext("")
                await cur.execute(
                    _INSERT,
                    (
                        _clip("manager_user", ctx.manager_user),
                        _clip("manager_server_ip", ctx.manager_server_ip),
                        _clip("manager_phone", ctx.manager_phone),
                        _clip("agent_user", ctx.agent_user),
                        _clip("agent_server_ip", ctx.agent_server_ip),
                        _clip("agent_status", ctx.agent_status),
                        _clip("agent_session", ctx.agent_session),
                        ctx.lead_id,
                        _clip("campaign_id", ctx.campaign_id),
                        row.open,
                        row.start_time,
                        row.monitor_type,
                    ),
                )


@dataclass(frozen=True, slots=True)
class _Period:
    number: int
    code: str
    started: datetime
    context: MonitorContext


def _utcnow() -> datetime:
    return datetime.now(UTC)


class MonitorLog(Spooler[MonitorRow]):
    """EventSink writing VICIdial monitoring-log rows (see the module docstring)."""

    def __init__(
        self,
        pool: MysqlPool,
        *,
        contexts: ContextBook,
        spool_path: Path,
        zone: tzinfo | None = None,
        clock: Callable[[], datetime] = _utcnow,
        backoff_initial: float = BACKOFF_INITIAL,
        backoff_cap: float = BACKOFF_CAP,
    ) -> None:
        super().__init__(
            MonitorLogWriter(pool),
            name="vicidial_monitor_log",
            spool_path=spool_path,
            decode=MonitorRow.from_json,
            backoff_initial=backoff_initial,
            backoff_cap=backoff_cap,
        )
        self.contexts = contexts
        self.zone = zone
        self._clock = clock
        self._periods: dict[str, _Period] = {}

    def row_for(self, session_id: str, event: Publish) -> MonitorRow | None:
        return self._row(session_id, event, self._clock())

    def _row(self, session_id: str, event: Publish, at: datetime) -> MonitorRow | None:
        data = event.data
        sid = str(data.get("session_id") or session_id)
        if event.type == "session_started":
            if sid in self._periods:
                return None
            endpoint, agent = str(data.get("endpoint", "")), str(data.get("agent", ""))
            context = self.contexts.take(endpoint, agent) or MonitorContext(
                str(data.get("supervisor") or ""), agent_user=agent
            )
            return self._open(sid, 1, at, data.get("mode"), context, MonitorRow(sid))
        period = self._periods.get(sid)
        if period is None and event.type == "session_ended" and data.get("reason") == "lost":
            return MonitorRow(sid, end_time=wall_clock(at, self.zone), close_open=True)
        if period is None or event.type not in ("mode_changed", "session_ended"):
            return None
        closing = MonitorRow(
            sid,
            close=period.code,
            end_time=wall_clock(at, self.zone),
            monitor_sec=max(0, int(at.timestamp()) - int(period.started.timestamp())),
        )
        if event.type == "session_ended":
            del self._periods[sid]
            return closing
        if period.number >= MAX_PERIOD:
            log.warning("vicidial_monitor_log_too_many_periods", session_id=sid)
            return closing
        return self._open(sid, period.number + 1, at, data.get("after"), period.context, closing)

    def _open(
        self,
        sid: str,
        number: int,
        at: datetime,
        mode: object,
        context: MonitorContext,
        row: MonitorRow,
    ) -> MonitorRow:
        code = caller_code(sid, number)
        self._periods[sid] = _Period(number, code, at, context)
        return replace(
            row,
            open=code,
            start_time=wall_clock(at, self.zone),
            monitor_type=MONITOR_TYPES.get(str(mode), "LISTEN"),
            context=context,
        )
