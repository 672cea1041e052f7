"""Session event rows for the storage tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from coachd.storage.store import EventRow

T0 = datetime(2026, 3, 14, 9, 26, 53, 589000, tzinfo=UTC)
INSTANCE = "test-instance"


def session_rows(
    session_id: str,
    modes: list[str],
    *,
    gaps: list[float] | None = None,
    agent: str = "1001",
    supervisor: str | None = "sup1",
    endpoint: str = "PJSIP/2001",
    reason: str = "supervisor_ended",
    detail: str | None = None,
    start: datetime = T0,
) -> list[EventRow]:
    """started in ``modes[0]``, one mode_changed per further mode, then ended.

    ``gaps[i]`` is the time (s) spent in ``modes[i]``; default 10 s each.
    """
    gaps = gaps if gaps is not None else [10.0] * len(modes)
    assert len(gaps) == len(modes)
    common = {
        "session_id": session_id,
        "instance": INSTANCE,
        "agent": agent,
        "supervisor": supervisor,
        "endpoint": endpoint,
    }
    rows = [EventRow(kind="started", seq=1, at=start, mode=modes[0], **common)]  # type: ignore[arg-type]
    at = start
    for i, mode in enumerate(modes[1:], start=1):
        at = at + timedelta(seconds=gaps[i - 1])
        rows.append(EventRow(kind="mode_changed", seq=i + 1, at=at, mode=mode, **common))  # type: ignore[arg-type]
    at = at + timedelta(seconds=gaps[-1])
    rows.append(
        EventRow(
            kind="ended",
            seq=len(modes) + 1,
            at=at,
            mode=modes[-1],
            reason=reason,
            detail=detail,
            **common,  # type: ignore[arg-type]
        )
    )
    return rows


def refusal_row(
    session_id: str,
    *,
    agent: str = "1001",
    reason: str = "not_permitted",
    detail: str | None = "supervisor may not coach this agent",
    at: datetime = T0,
) -> EventRow:
    return EventRow(
        kind="refused",
        session_id=session_id,
        seq=1,
        at=at,
        instance=INSTANCE,
        agent=agent,
        supervisor="sup1",
        endpoint="PJSIP/2001",
        reason=reason,
        detail=detail,
    )
