"""The Store contract, run against every implementation (SQLite and MariaDB)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from coachd.storage import schema
from coachd.storage.store import TABLES, EventRow, Store

from .conftest import Backend
from .rows import INSTANCE, T0, refusal_row, session_rows

EMPTY = dict.fromkeys(TABLES, 0)


async def apply(store: Store, rows: list) -> None:  # type: ignore[type-arg]
    for row in rows:
        await store.record(row)


async def test_upgrade_is_idempotent(backend: Backend) -> None:
    first = backend.make()
    try:
        assert await first.upgrade() == schema.LATEST_VERSION
        assert await first.upgrade() == schema.LATEST_VERSION
    finally:
        await first.close()
    second = backend.make()  # a new process on an existing database
    try:
        assert await second.upgrade() == schema.LATEST_VERSION
        assert await second.counts() == EMPTY
    finally:
        await second.close()
    versions = await backend.sql("SELECT version FROM schema_version ORDER BY version")
    assert [int(str(v[0])) for v in versions] == [v for v, _ in schema.MIGRATIONS]


@pytest.mark.parametrize("changes", [0, 2, 3])
async def test_session_gives_one_log_row_and_a_period_per_mode(store: Store, changes: int) -> None:
    modes = ["monitor", "whisper", "barge", "private_whisper"][: changes + 1]
    gaps = [10.0, 15.0, 2.5, 12.25][: changes + 1]
    rows = session_rows("s-1", modes, gaps=gaps)
    await apply(store, rows)

    counts = await store.counts()
    assert counts == {**EMPTY, "coachd_coaching_log": 1, "coachd_mode_periods": changes + 1}
    log = await store.session("s-1")
    assert log is not None
    assert log.started_at == T0
    assert log.ended_at == T0 + timedelta(seconds=sum(gaps))
    assert log.coaching_date == T0.date()
    assert log.duration_sec == pytest.approx(sum(gaps))
    assert (log.initial_mode, log.final_mode) == (modes[0], modes[-1])
    assert (log.agent, log.supervisor, log.endpoint) == ("1001", "sup1", "PJSIP/2001")
    assert (log.end_reason, log.end_detail, log.instance) == ("supervisor_ended", None, INSTANCE)

    periods = await store.periods("s-1")
    assert [p.mode for p in periods] == modes
    assert [p.seq for p in periods] == list(range(1, changes + 2))
    assert [p.duration_sec for p in periods] == pytest.approx(gaps)
    assert [p.started_at for p in periods] == [r.at for r in rows[:-1]]
    assert [p.ended_at for p in periods] == [r.at for r in rows[1:]]


async def test_open_session_has_an_open_period(store: Store) -> None:
    rows = session_rows("s-open", ["monitor", "whisper"])[:-1]
    await apply(store, rows)
    log = await store.session("s-open")
    assert log is not None
    assert (log.ended_at, log.duration_sec, log.end_reason) == (None, None, None)
    assert log.final_mode == "whisper"
    periods = await store.periods("s-open")
    assert periods[0].duration_sec == pytest.approx(10.0)
    assert (periods[1].ended_at, periods[1].duration_sec) == (None, None)


@pytest.mark.parametrize("order", ["same", "reversed", "shuffled"])
async def test_applying_events_again_changes_nothing(store: Store, order: str) -> None:
    rows = session_rows("s-2", ["monitor", "whisper", "barge", "monitor"])
    rows += session_rows("s-3", ["barge"], start=T0 + timedelta(minutes=5))
    rows.append(refusal_row("s-4"))
    await apply(store, rows)
    before = (
        await store.counts(),
        await store.session("s-2"),
        await store.periods("s-2"),
        await store.session("s-3"),
        await store.periods("s-3"),
        await store.refusal("s-4"),
    )
    again = list(rows)
    if order == "reversed":
        again.reverse()
    elif order == "shuffled":
        random.Random(7).shuffle(again)
    await apply(store, again)
    await apply(store, rows)
    after = (
        await store.counts(),
        await store.session("s-2"),
        await store.periods("s-2"),
        await store.session("s-3"),
        await store.periods("s-3"),
        await store.refusal("s-4"),
    )
    assert after == before
    assert before[0] == {
        **EMPTY,
        "coachd_coaching_log": 2,
        "coachd_mode_periods": 5,
        "coachd_session_refusals": 1,
    }


async def test_refusal_rows(store: Store) -> None:
    await store.record(refusal_row("r-1"))
    await store.record(refusal_row("r-2", reason="agent_not_on_call", detail=None))
    await store.record(refusal_row("r-1", reason="changed"))  # same key: ignored
    one = await store.refusal("r-1")
    two = await store.refusal("r-2")
    assert one is not None and two is not None
    assert (one.reason, one.detail, one.at) == (
        "not_permitted",
        "supervisor may not coach this agent",
        T0,
    )
    assert (one.agent, one.supervisor, one.endpoint, one.instance) == (
        "1001",
        "sup1",
        "PJSIP/2001",
        INSTANCE,
    )
    assert (two.reason, two.detail) == ("agent_not_on_call", None)
    assert await store.refusal("r-3") is None
    assert await store.counts() == {**EMPTY, "coachd_session_refusals": 2}


async def test_cue_uses_are_kept_once_each_in_order(store: Store) -> None:
    def cue(seq: int, name: str, source: str = "dtmf") -> EventRow:
        return EventRow(
            kind="cue",
            session_id="c-1",
            seq=seq,
            at=T0 + timedelta(seconds=seq),
            instance=INSTANCE,
            mode="whisper",
            cue=name,
            source=source,
        )

    await store.record(cue(3, "slow-down"))
    await store.record(cue(2, "ask-for-close", "api"))
    await store.record(cue(3, "something-else"))  # the same event again: ignored
    uses = await store.cue_uses("c-1")
    assert [(u.seq, u.cue, u.source, u.mode) for u in uses] == [
        (2, "ask-for-close", "api", "whisper"),
        (3, "slow-down", "dtmf", "whisper"),
    ]
    assert uses[0].at == T0 + timedelta(seconds=2)
    assert await store.cue_uses("c-2") == []
    assert await store.counts() == {**EMPTY, "coachd_cue_uses": 2}


async def test_events_of_unknown_sessions_are_harmless(store: Store) -> None:
    rows = session_rows("s-late", ["monitor", "whisper", "barge"])
    await apply(store, rows[1:])  # the start was never logged
    assert await store.session("s-late") is None
    periods = await store.periods("s-late")
    assert [(p.mode, p.duration_sec) for p in periods] == [("whisper", 10.0), ("barge", 10.0)]


HOSTILE = [
    'O\'Brien "the agent"',
    "'; DROP TABLE coachd_coaching_log; --",
    "x' OR '1'='1",
    "Zoë 日本語 🎧 \u202e",
    "back\\slash %s %(x)s ? ?",
    "nul\x01ctl\ttab\nnewline",
]


@pytest.mark.parametrize("value", HOSTILE)
async def test_hostile_values_are_stored_verbatim(
    store: Store, backend: Backend, value: str
) -> None:
    big = (value + " ") * (10_240 // (len(value) + 1) + 1)
    assert len(big) >= 10_240
    rows = session_rows(
        value, ["monitor", "whisper"], agent=value, supervisor=value, endpoint=value, detail=big
    )
    await apply(store, rows)
    await store.record(refusal_row(value + "-refused", agent=value, reason=value, detail=big))

    log = await store.session(value)
    assert log is not None
    assert (log.session_id, log.agent, log.supervisor, log.endpoint) == (value,) * 4
    assert log.end_detail == big
    refusal = await store.refusal(value + "-refused")
    assert refusal is not None
    assert (refusal.agent, refusal.reason, refusal.detail) == (value, value, big)
    assert [p.session_id for p in await store.periods(value)] == [value, value]
    counts = await store.counts()  # every table is still there
    assert counts == {
        **EMPTY,
        "coachd_coaching_log": 1,
        "coachd_mode_periods": 2,
        "coachd_session_refusals": 1,
    }
    raw = await backend.sql("SELECT agent FROM coachd_coaching_log")
    assert raw == [(value,)]


async def test_overlong_values_are_clipped_to_the_column(store: Store) -> None:
    long_agent = "a" * 300 + "é"
    rows = session_rows("s-long", ["monitor"], agent=long_agent, reason="r" * 200)
    await apply(store, rows)
    log = await store.session("s-long")
    assert log is not None
    assert log.agent == long_agent[: schema.LIMITS["agent"]]
    assert log.end_reason == "r" * schema.LIMITS["reason"]


async def test_open_sessions_are_this_instances_started_and_not_ended(store: Store) -> None:
    ended = session_rows("s-ended", ["monitor", "whisper"])
    still_open = session_rows("s-open", ["monitor", "barge"], start=T0 + timedelta(seconds=5))[:-1]
    older = session_rows("s-older", ["whisper"])[:-1]
    elsewhere = [
        EventRow(**{**r.to_json(), "instance": "other", "at": r.at})  # type: ignore[arg-type]
        for r in session_rows("s-other", ["monitor"])[:-1]
    ]
    await apply(store, [*ended, *still_open, *older, *elsewhere])
    found = await store.open_sessions(INSTANCE)
    assert [(s.session_id, s.final_mode, s.last_seq) for s in found] == [
        ("s-older", "whisper", 1),
        ("s-open", "barge", 2),
    ]
    assert (found[1].agent, found[1].supervisor, found[1].endpoint) == (
        "1001",
        "sup1",
        "PJSIP/2001",
    )
    assert found[1].started_at == T0 + timedelta(seconds=5)
    assert await store.open_sessions("nobody") == []
