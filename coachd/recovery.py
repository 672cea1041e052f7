"""Sessions a previous run of coachd left open: it was killed (or crashed) in the
middle of them, so their end never reached the coaching log or MQTT.

At start, once the first reconciliation removed whatever that run left in
Asterisk, each session the coaching log has as started and not ended, for
this instance, is ended on record: a ``session_ended`` event with reason
``lost`` through the usual sinks (coaching log, MQTT, HTTP feed), at the
time coachd found it. Sessions live in this run, and those whose end waits in
the spool (the database was away when the previous run ended them), are left
alone.
"""

from __future__ import annotations

from collections.abc import Container
from pathlib import Path
from typing import Final, Protocol

import structlog

from coachd.core import commands as c
from coachd.core.modes import Mode, parse_mode
from coachd.core.session import Session
from coachd.storage.errors import StoreError
from coachd.storage.log import spooled_endings
from coachd.storage.store import OpenSession, Store

log = structlog.get_logger(__name__)

LOST_DETAIL: Final = (
    "coachd stopped without ending this session (killed or crashed); "
    "ended when coachd started again and removed what was left of it"
)


class Sink(Protocol):
    async def publish(self, session: Session, event: c.Publish) -> None: ...


def lost_session(row: OpenSession) -> Session:
    """The session as far as the coaching log knows it, for its last event."""
    mode = parse_mode(row.final_mode)
    session = Session(
        id=row.session_id,
        supervisor_channel="",
        endpoint=row.endpoint,
        agent=row.agent,
        requested_mode=mode or Mode.MONITOR,
    )
    session.supervisor = row.supervisor or ""
    session.mode = mode
    session.seq = row.last_seq
    session.announced = True
    return session


async def end_lost_sessions(
    store: Store, sink: Sink, *, instance: str, spool: Path, live: Container[str]
) -> int:
    """End on record the sessions a previous run left open; how many."""
    try:
        rows = await store.open_sessions(instance)
    except StoreError as exc:
        log.warning("lost_sessions_unchecked", error=str(exc))
        return 0
    ending = spooled_endings(spool)
    ended = 0
    for row in rows:
        if row.session_id in live or row.session_id in ending:
            continue
        session = lost_session(row)
        for cmd in session.lost(LOST_DETAIL):
            if isinstance(cmd, c.Publish):
                await sink.publish(session, cmd)
        log.warning(
            "session_lost",
            session_id=row.session_id,
            agent=row.agent,
            supervisor=row.supervisor,
            started_at=row.started_at.isoformat(),
        )
        ended += 1
    return ended
