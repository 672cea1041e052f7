"""Sessions a killed coachd left open are ended on record by the next run."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from coachd.core import commands as c
from coachd.core.session import Session
from coachd.recovery import LOST_DETAIL, end_lost_sessions
from coachd.storage.store import EventRow, OpenSession, SqliteStore

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


class Sink:
    def __init__(self) -> None:
        self.events: list[tuple[str, c.Publish]] = []

    async def publish(self, session: Session, event: c.Publish) -> None:
        self.events.append((session.id, event))


def row(kind: str, sid: str, seq: int, mode: str | None = "whisper", **kw: object) -> EventRow:
    return EventRow(
        kind=kind,  # type: ignore[arg-type]
        session_id=sid,
        seq=seq,
        at=T0,
        instance=str(kw.pop("instance", "pbx1")),
        agent="1042",
        supervisor="sup1",
        endpoint="PJSIP/2001",
        mode=mode,
        **kw,  # type: ignore[arg-type]
    )


async def store_with(tmp_path: Path, *rows: EventRow) -> SqliteStore:
    store = SqliteStore(tmp_path / "log.db")
    await store.upgrade()
    for r in rows:
        await store.record(r)
    return store


async def test_an_open_session_of_this_instance_ends_as_lost_after_its_last_event(
    tmp_path: Path,
) -> None:
    store = await store_with(
        tmp_path,
        row("started", "aaaaaaaaaaaa", 1, "monitor"),
        row("mode_changed", "aaaaaaaaaaaa", 2, "barge"),
    )
    sink = Sink()
    n = await end_lost_sessions(store, sink, instance="pbx1", spool=tmp_path / "none", live=())
    assert n == 1
    ((sid, event),) = sink.events
    assert sid == "aaaaaaaaaaaa"
    assert (event.type, event.seq) == ("session_ended", 3)
    assert event.data == {
        "session_id": "aaaaaaaaaaaa",
        "agent": "1042",
        "supervisor": "sup1",
        "endpoint": "PJSIP/2001",
        "mode": "barge",
        "reason": "lost",
        "detail": LOST_DETAIL,
    }
    await store.close()


async def test_live_ended_spooled_and_other_instances_sessions_are_left_alone(
    tmp_path: Path,
) -> None:
    store = await store_with(
        tmp_path,
        row("started", "live00000001", 1),
        row("started", "ended0000001", 1),
        row("ended", "ended0000001", 2, reason="supervisor_hangup"),
        row("started", "spooled00001", 1),
        row("started", "other0000001", 1, instance="pbx2"),
    )
    spool = tmp_path / "spool.jsonl"
    spool.write_text(
        json.dumps(row("ended", "spooled00001", 2, reason="shutdown").to_json()) + "\nnot json\n"
    )
    sink = Sink()
    n = await end_lost_sessions(store, sink, instance="pbx1", spool=spool, live={"live00000001"})
    assert (n, sink.events) == (0, [])
    assert [s.session_id for s in await store.open_sessions("pbx1")] == [
        "live00000001",
        "spooled00001",
    ]
    await store.close()


async def test_the_lost_end_closes_the_row_and_its_open_period(tmp_path: Path) -> None:
    store = await store_with(tmp_path, row("started", "aaaaaaaaaaaa", 1, "whisper"))
    from coachd.storage.log import event_row

    class Writer(Sink):
        async def publish(self, session: Session, event: c.Publish) -> None:
            found = event_row(session.id, event, instance="pbx1", at=T0)
            assert found is not None
            await store.record(found)

    await end_lost_sessions(store, Writer(), instance="pbx1", spool=tmp_path / "x", live=())
    record = await store.session("aaaaaaaaaaaa")
    assert record is not None and (record.end_reason, record.end_detail) == ("lost", LOST_DETAIL)
    assert all(p.ended_at is not None for p in await store.periods("aaaaaaaaaaaa"))
    assert await store.open_sessions("pbx1") == []
    await store.close()


async def test_an_unreachable_database_is_reported_not_fatal(tmp_path: Path) -> None:
    class Down:
        async def open_sessions(self, instance: str) -> list[OpenSession]:
            from coachd.storage.errors import StoreUnavailable

            raise StoreUnavailable("down")

    sink = Sink()
    n = await end_lost_sessions(Down(), sink, instance="pbx1", spool=tmp_path / "x", live=())  # type: ignore[arg-type]
    assert (n, sink.events) == (0, [])
