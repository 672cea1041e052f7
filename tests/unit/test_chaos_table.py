"""The chaos suite's records and table (tests/integration/chaos.py), without any fault."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from coachd.storage.store import EventRow, PeriodRecord, SessionRecord, SqliteStore
from tests.integration.chaos import (
    NOT_MEASURED,
    FaultRecord,
    clear,
    load,
    log_rows_lost,
    markdown,
    missing,
    mode_periods,
    record,
    row,
    rows_lost,
    slug,
    to_json,
    write_tables,
    wrongly_ended,
)

BROKER = FaultRecord("MQTT broker restart", 1.234, 0, NOT_MEASURED, 0, 0, "coaching log not read")
LWT = FaultRecord(
    "coachd kill -9: last will", None, NOT_MEASURED, NOT_MEASURED, NOT_MEASURED, NOT_MEASURED
)


def test_a_row_rounds_recovery_to_centiseconds_and_shows_unmeasured_figures_as_na() -> None:
    assert row(BROKER) == [
        "MQTT broker restart",
        "1.23",
        "0",
        "n/a",
        "0",
        "0",
        "coaching log not read",
    ]
    assert row(LWT)[1:6] == ["n/a"] * 5


def test_a_note_cannot_break_the_table() -> None:
    rec = FaultRecord("a | b", 0.0, 0, 0, 0, 0, "one | two\nthree")
    assert row(rec)[0] == "a \\| b"
    assert row(rec)[-1] == "one \\| two three"


def test_the_markdown_table_has_a_header_and_one_line_per_record_in_order() -> None:
    lines = markdown([BROKER, LWT]).splitlines()
    assert lines[0] == (
        "| Fault | Recovery (s) | Events lost | Log rows lost | Orphans | Wrongly ended | Note |"
    )
    assert lines[1] == "|---|---:|---:|---:|---:|---:|---|"
    assert lines[2].startswith("| MQTT broker restart | 1.23 | 0 | n/a | 0 | 0 |")
    assert lines[3].startswith("| coachd kill -9: last will | n/a | n/a |")
    assert all(line.count("|") == 8 for line in lines[:4])
    assert "n/a: not measured" in lines[-1]


def test_the_markdown_table_of_no_record_is_its_header_and_legend() -> None:
    assert len(markdown([]).splitlines()) == 4


def test_the_json_table_keeps_the_raw_figures() -> None:
    assert json.loads(to_json([BROKER, LWT])) == [
        {
            "fault": "MQTT broker restart",
            "recovery_s": 1.234,
            "events_lost": 0,
            "log_rows_lost": -1,
            "orphans": 0,
            "wrongly_ended": 0,
            "note": "coaching log not read",
        },
        {
            "fault": "coachd kill -9: last will",
            "recovery_s": None,
            "events_lost": -1,
            "log_rows_lost": -1,
            "orphans": -1,
            "wrongly_ended": -1,
            "note": "",
        },
    ]


def test_figures_below_not_measured_or_a_negative_recovery_are_refused() -> None:
    with pytest.raises(ValueError, match="count"):
        FaultRecord("x", 1.0, -2, 0, 0, 0)
    with pytest.raises(ValueError, match="recovery"):
        FaultRecord("x", -0.1, 0, 0, 0, 0)


def test_records_come_back_from_their_files_in_the_order_written(tmp_path: Path) -> None:
    first = record(LWT, tmp_path)
    second = record(BROKER, tmp_path)
    os.utime(first, ns=(1, 1))  # the same mtime granularity on every file system
    os.utime(second, ns=(2, 2))
    assert first.name == "coachd-kill-9-last-will.json"
    assert load(tmp_path) == [LWT, BROKER]


def test_recording_a_fault_again_replaces_its_record(tmp_path: Path) -> None:
    record(BROKER, tmp_path)
    again = FaultRecord(BROKER.fault, 2.0, 1, 0, 0, 0)
    record(again, tmp_path)
    assert load(tmp_path) == [again]


def test_clearing_removes_only_the_records(tmp_path: Path) -> None:
    record(BROKER, tmp_path)
    other = tmp_path / "keep.txt"
    other.write_text("x")
    clear(tmp_path)
    assert list(tmp_path.iterdir()) == [other]
    assert load(tmp_path) == []


def test_no_directory_means_no_records(tmp_path: Path) -> None:
    assert load(tmp_path / "absent") == []
    clear(tmp_path / "absent")


def test_both_tables_are_written(tmp_path: Path) -> None:
    md, js = write_tables([BROKER], tmp_path)
    assert md.read_text().startswith("# Chaos suite\n\n| Fault |")
    assert json.loads(js.read_text())[0]["fault"] == BROKER.fault


def test_a_slug_is_lowercase_words_joined_by_dashes() -> None:
    assert slug("Asterisk graceful stop (core stop now), restarted") == (
        "asterisk-graceful-stop-core-stop-now-restarted"
    )


def test_missing_counts_each_expected_item_once_and_ignores_extras() -> None:
    expected = ["session_started", "mode_changed", "mode_changed", "session_ended"]
    assert missing(expected, ["session_started", "mode_changed", "cue_played"]) == [
        "mode_changed",
        "session_ended",
    ]
    assert missing(expected, [*expected, *expected]) == []
    assert missing(range(1, 9), [1, 2, 2, 4, 5, 6, 7, 8]) == [3]


def test_an_ending_is_wrong_for_a_reason_not_allowed_or_when_it_is_not_the_first() -> None:
    assert wrongly_ended(["shutdown"], {"shutdown"}) == 0
    assert wrongly_ended([], {"shutdown"}) == 0
    assert wrongly_ended(["error"], {"shutdown"}) == 1
    assert wrongly_ended(["shutdown", "shutdown"], {"shutdown"}) == 1
    assert wrongly_ended(["error", "shutdown"], {"shutdown"}) == 1


# --- the coaching log ----------------------------------------------------------------------

T0 = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)


def event(kind: str, session_id: str, seq: int | None, **data: Any) -> dict[str, Any]:
    """A ``session_event`` record as coachd logs it."""
    rec: dict[str, Any] = {"event": "session_event", "event_type": kind, "session_id": session_id}
    return {**rec, **data} if seq is None else {**rec, "seq": seq, **data}


def test_a_session_has_a_period_for_its_start_and_one_per_mode_change() -> None:
    events = [
        event("session_started", "s1", 1),
        event("mode_changed", "s1", 2),
        event("cue_played", "s1", 3),
        event("mode_refused", "s1", 4),
        event("mode_changed", "s1", 5),
        event("session_ended", "s1", 6, reason="supervisor_hangup"),
        event("session_started", "s2", 1),
        event("session_refused", "s3", 1, reason="not_permitted"),
        {"event": "coachd_ready"},
    ]
    assert mode_periods(events) == {"s1": 3, "s2": 1}


def test_a_started_session_has_its_first_period_even_if_the_start_was_not_logged() -> None:
    assert mode_periods([event("session_ended", "s1", 2, reason="lost")]) == {"s1": 1}
    assert mode_periods([event("mode_changed", "s1", 2)]) == {"s1": 2}


def test_periods_come_from_several_coachds_logs_and_a_record_seen_twice_counts_once() -> None:
    killed = [event("session_started", "s1", 1), event("mode_changed", "s1", 2)]
    restarted = [event("session_ended", "s1", 3, reason="lost")]
    assert mode_periods([*killed, *restarted]) == {"s1": 2}
    assert mode_periods([*killed, *killed, *restarted]) == {"s1": 2}
    # Without a seq, records cannot be told apart: each counts.
    assert mode_periods([event("mode_changed", "s1", None)] * 2) == {"s1": 3}


def test_no_session_means_no_period() -> None:
    assert mode_periods([]) == {}


def session_row(ended: bool = True, reason: str | None = "shutdown") -> SessionRecord:
    return SessionRecord(
        session_id="s1",
        coaching_date=date(2024, 5, 6),
        started_at=T0,
        ended_at=T0 + timedelta(seconds=9) if ended else None,
        supervisor="sup1",
        agent="1042",
        endpoint="PJSIP/1042",
        initial_mode="monitor",
        final_mode="whisper",
        duration_sec=9.0 if ended else None,
        end_reason=reason if ended else None,
        end_detail=None,
        instance="test",
    )


def period(seq: int, closed: bool = True) -> PeriodRecord:
    start = T0 + timedelta(seconds=seq)
    end = start + timedelta(seconds=1) if closed else None
    return PeriodRecord("s1", seq, "monitor", start, end, 1.0 if closed else None)


def test_a_complete_session_loses_no_row() -> None:
    assert rows_lost(2, (session_row(), [period(1), period(2)]), "shutdown") == 0
    assert rows_lost(2, (session_row(), [period(1), period(2)])) == 0


def test_missing_rows_are_lost() -> None:
    assert rows_lost(3, (None, [])) == 4
    assert rows_lost(3, (session_row(), [period(1)])) == 2


def test_a_row_left_open_or_ended_for_another_reason_is_lost() -> None:
    assert rows_lost(2, (session_row(ended=False), [period(1), period(2, closed=False)])) == 2
    assert rows_lost(1, (session_row(reason="error"), [period(1)]), "shutdown") == 1
    assert rows_lost(1, (session_row(reason="error"), [period(1)])) == 0


def test_extra_periods_offset_nothing_but_open_ones_do_not_count() -> None:
    assert rows_lost(1, (session_row(), [period(1), period(2), period(3)])) == 0
    assert rows_lost(2, (session_row(), [period(1), period(2, closed=False)])) == 1


async def write(path: Path, *rows: EventRow) -> None:
    store = SqliteStore(path)
    try:
        await store.upgrade()
        for r in rows:
            await store.record(r)
    finally:
        await store.close()


def log_row(kind: Any, seq: int, mode: str | None = None, reason: str | None = None) -> EventRow:
    at = T0 + timedelta(seconds=seq)
    return EventRow(kind, "s1", seq, at, "test", agent="1042", mode=mode, reason=reason)


async def test_rows_are_read_from_the_coaching_log(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    url = f"sqlite:///{path}"
    await write(path, log_row("started", 1, "monitor"), log_row("mode_changed", 2, "whisper"))
    # Still open: the row and the whisper period are lost (within=0: read once).
    assert await log_rows_lost(url, {"s1": 2}, within=0) == 2
    await write(path, log_row("ended", 3, "whisper", reason="shutdown"))
    assert await log_rows_lost(url, {"s1": 2}, reasons={"s1": "shutdown"}, within=0) == 0
    assert await log_rows_lost(url, {"s1": 2}, reasons={"s1": "lost"}, within=0) == 1
    assert await log_rows_lost(url, {"s1": 2, "s2": 1}, within=0) == 2


async def test_a_coaching_log_not_there_loses_every_row_and_is_not_created(
    tmp_path: Path,
) -> None:
    path = tmp_path / "absent.db"
    assert await log_rows_lost(f"sqlite:///{path}", {"s1": 3}, within=0.2) == 4
    assert not path.exists()


async def test_rows_written_while_polling_are_waited_for(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    url = f"sqlite:///{path}"
    await write(path, log_row("started", 1, "monitor"))

    async def end_later() -> None:
        await asyncio.sleep(0.3)
        await write(path, log_row("ended", 2, "monitor", reason="shutdown"))

    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(end_later())
        lost = await log_rows_lost(url, {"s1": 1}, reasons={"s1": "shutdown"}, within=10)
    assert lost == 0
