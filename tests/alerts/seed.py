"""A deterministic ``vicidial_log`` for the who-to-coach alerts, with known answers.

VICIdial's zone is America/New_York; the job looks at **Monday 2026-03-16
15:00 EDT** (19:00Z) over the last 4 hours, i.e. ``call_date`` from 11:00:00
(included) to 15:00:00 (excluded). Calls are in 13:00-14:59 unless said, so
windows ending up to 17:00 still hold them. Thresholds: at least 15 calls,
below 3 %.

=============  ========  ======  =====  ===============================================
agent          campaign  calls   sales  at 15:00
=============  ========  ======  =====  ===============================================
a_zero_busy    B2B       30      0      0 %, rank 1 (more calls than the other 0 %)
a_other        OTHER2    20      0      0 %, rank 2 (only without a campaign filter)
a_zero         B2B       20      0      0 %, rank 3 (tie on calls: by id)
a_from         B2B       15      0      0 %, rank 4: all at 11:00:00, the window's start
a_low          B2B       40      1      2.5 %, rank 5; user group TEAM2
a_edge         B2B       100     3      exactly 3 %: not below
a_good         B2B       30      3      10 %
a_few          B2B       10      0      too few calls
a_dials        B2B       14 + 10 0      the 10 are 0 s ``NA`` rows (no calls): too few
a_xsale        OTHER     20      1      ``XSALE``: a sale in OTHER (5 %); not with
                                        sale_statuses = ["SALE"] (0 %)
a_bound        B2B       14 + 1  0      the 15th at 15:00:00 (excluded now, counted later)
a_old          B2B       15      0      all at 10:59:59: before the window
VDAD           B2B       50      0      ``DROP``: VICIdial's auto-dialer, never an agent
=============  ========  ======  =====  ===============================================
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

ZONE_NAME = "America/New_York"
ZONE = ZoneInfo(ZONE_NAME)
NOW = datetime(2026, 3, 16, 15, 0, tzinfo=ZONE).astimezone(UTC)
DAY = datetime(2026, 3, 16)


@dataclass(frozen=True, slots=True)
class Row:
    user: str
    campaign_id: str
    call_date: datetime
    length_in_sec: int
    status: str
    user_group: str = "AGENTS"


def calls(
    user: str,
    count: int,
    sales: int = 0,
    *,
    campaign: str = "B2B",
    sale: str = "SALE",
    other: str = "NI",
    at: datetime | None = None,
    group: str = "AGENTS",
) -> list[Row]:
    """``count`` calls of 60 s, the first ``sales`` of them ``sale``, one a minute
    from 13:00 (or all at ``at``)."""
    out = []
    for j in range(count):
        when = at if at is not None else DAY.replace(hour=13) + timedelta(minutes=j)
        status = sale if j < sales else other
        out.append(Row(user, campaign, when, 60, status, group))
    return out


def rows() -> list[Row]:
    out: list[Row] = []
    out += calls("a_zero_busy", 30)
    out += calls("a_other", 20, campaign="OTHER2")
    out += calls("a_zero", 20)
    out += calls("a_from", 15, at=DAY.replace(hour=11))
    out += calls("a_low", 40, 1, group="TEAM2")
    out += calls("a_edge", 100, 3)
    out += calls("a_good", 30, 3)
    out += calls("a_few", 10)
    out += calls("a_dials", 14)
    out += [Row("a_dials", "B2B", DAY.replace(hour=13, minute=j), 0, "NA") for j in range(10)]
    out += calls("a_xsale", 20, 1, campaign="OTHER", sale="XSALE")
    out += calls("a_bound", 14)
    out += calls("a_bound", 1, at=DAY.replace(hour=15))
    out += calls("a_old", 15, at=DAY.replace(hour=10, minute=59, second=59))
    out += calls("VDAD", 50, other="DROP")
    return out


INSERT = (
    "INSERT INTO vicidial_log (uniqueid, lead_id, list_id, campaign_id, call_date, start_epoch,"
    " end_epoch, length_in_sec, status, phone_code, phone_number, user, comments, processed,"
    " user_group, term_reason, alt_dial, called_count)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def log_rows() -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for n, r in enumerate(rows()):
        epoch = int(r.call_date.replace(tzinfo=ZONE).timestamp())
        out.append(
            (
                f"{epoch}.{n}",
                200000 + n,
                101,
                r.campaign_id,
                r.call_date,
                epoch,
                epoch + r.length_in_sec,
                r.length_in_sec,
                r.status,
                "1",
                f"727555{n:04d}",
                r.user,
                "",
                "Y",
                r.user_group,
                "AGENT",
                "MAIN",
                1,
            )
        )
    return out


# (rank, agent, calls, sales) at NOW with every campaign and VICIdial's sale flags.
EXPECTED_NOW = [
    (1, "a_zero_busy", 30, 0),
    (2, "a_other", 20, 0),
    (3, "a_zero", 20, 0),
    (4, "a_from", 15, 0),
    (5, "a_low", 40, 1),
]
