"""A deterministic VICIdial call center and coaching log with known answers.

Campaign ``B2B``, VICIdial time zone America/New_York (EDT from 2026-03-08):

- ``agent42``: 312 calls and 14 sales (61,901 s of talk) from 2026-03-01 to
  03-14; coached on 03-15 and 03-16 (40 calls, 6 sales, 20 a day, 3 sales a
  day, 200 s each); 298 calls and 22 sales (64,249 s) from 03-17 to 03-30.
  Every day also has a 0 s ``NA`` row, and 03-05 a 0 s ``SALE`` (neither
  counts), plus two rows just outside the windows (02-28 23:59:59, 03-31 00:00:00).
- ``agent7``: Monday to Saturday from 02-03 to 03-30, 20 calls a day, 1 sale,
  100 s each; ``agent9``: Monday to Friday, 10 calls a day, a sale on
  Tuesdays and Thursdays, 150 s each.
- ``agent99`` (campaign ``OTHER``) on 03-02: 20 calls of 120 s, 4 ``XSALE``
  (a sale in OTHER only, by ``vicidial_campaign_statuses``), 1 ``SALE``, 15
  ``NI``; and one ``XSALE`` call in B2B (not a sale there).

Coaching sessions (local times), written through the Store's ``record()``:

===  =======  ========  ======================  ==========================================
id   agent    super.    start                   modes (minutes)
===  =======  ========  ======================  ==========================================
C    agent42  sup2      03-15 23:30 (03:30Z)    monitor 60 (crosses midnight)
A    agent42  sup1      03-16 09:00             monitor 30, whisper 45, monitor 15
B    agent42  sup1      03-16 13:00             monitor 20, private_whisper 10, barge 5,
                                                monitor 25
D    agent7   sup2      03-16 10:00             whisper 180
E    agent9   sup1      03-16 15:00             monitor, still open
I    agent7   (none)    03-16 16:00             monitor 10
F    1099     sup1      03-10 10:00             monitor 20 (not an agent of B2B)
G    agent7   sup1      02-20 10:00 (EST)       whisper 30
===  =======  ========  ======================  ==========================================
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from coachd.storage.store import EventRow, Store
from tests.storage.rows import session_rows

ZONE_NAME = "America/New_York"
ZONE = ZoneInfo(ZONE_NAME)
CAMPAIGN = "B2B"
OTHER = "OTHER"
SALE_STATUSES = {"SALE"}
CAMPAIGN_SALES = {(OTHER, "XSALE")}


@dataclass(frozen=True, slots=True)
class Call:
    user: str
    campaign_id: str
    call_date: datetime
    length_in_sec: int
    status: str


def days(first: str, last: str, weekdays: Iterable[int] = range(7)) -> list[date]:
    """``first``..``last``, keeping the ``weekdays`` (Monday 0 .. Sunday 6)."""
    d, end, keep = date.fromisoformat(first), date.fromisoformat(last), set(weekdays)
    out = []
    while d <= end:
        if d.weekday() in keep:
            out.append(d)
        d += timedelta(days=1)
    return out


def spread(
    user: str,
    campaign: str,
    on: Sequence[date],
    calls: int,
    sales: int,
    talk_sec: int,
    others: Sequence[str] = ("NI", "CALLBK", "DEC", "XFER", "A"),
) -> list[Call]:
    """``calls`` calls over the days ``on`` (the first days take the remainder),
    ``sales`` of them ``SALE`` (evenly placed), lengths adding up to ``talk_sec``."""
    per_day = [calls // len(on) + (1 if i < calls % len(on) else 0) for i in range(len(on))]
    lengths = [talk_sec // calls + (1 if i < talk_sec % calls else 0) for i in range(calls)]
    for k in range(calls // 2):  # vary lengths pairwise, keeping the sum
        delta = (k * 37) % 60
        lengths[2 * k] += delta
        lengths[2 * k + 1] -= delta
    sale_at = {i * calls // sales for i in range(sales)} if sales else set()
    out: list[Call] = []
    n = 0
    for day, count in zip(on, per_day, strict=True):
        for j in range(count):
            at = datetime.combine(day, time(9)) + timedelta(minutes=13 * j)
            status = "SALE" if n in sale_at else others[n % len(others)]
            out.append(Call(user, campaign, at, lengths[n], status))
            n += 1
    assert sum(c.length_in_sec for c in out) == talk_sec
    assert sum(c.status == "SALE" for c in out) == sales
    return out


def calls() -> list[Call]:
    out: list[Call] = []
    # agent42: before, coaching days, after.
    out += spread("agent42", CAMPAIGN, days("2026-03-01", "2026-03-14"), 312, 14, 61901)
    out += spread("agent42", CAMPAIGN, days("2026-03-15", "2026-03-16"), 40, 6, 8000)
    out += spread("agent42", CAMPAIGN, days("2026-03-17", "2026-03-30"), 298, 22, 64249)
    for day in days("2026-03-01", "2026-03-30"):
        out.append(Call("agent42", CAMPAIGN, datetime.combine(day, time(8, 30)), 0, "NA"))
    out.append(Call("agent42", CAMPAIGN, datetime(2026, 3, 5, 8, 45), 0, "SALE"))
    out.append(Call("agent42", CAMPAIGN, datetime(2026, 2, 28, 23, 59, 59), 60, "NI"))
    out.append(Call("agent42", CAMPAIGN, datetime(2026, 3, 31, 0, 0, 0), 50, "SALE"))
    # agent7: Monday-Saturday; agent9: Monday-Friday, sales on Tuesdays and Thursdays.
    for day in days("2026-02-03", "2026-03-30", range(6)):
        out += spread("agent7", CAMPAIGN, [day], 20, 1, 2000)
    for day in days("2026-02-03", "2026-03-30", range(5)):
        out += spread("agent9", CAMPAIGN, [day], 10, 1 if day.weekday() in (1, 3) else 0, 1500)
    # agent99: campaign OTHER, where XSALE is a sale; and one XSALE in B2B.
    statuses = ["XSALE"] * 4 + ["SALE"] + ["NI"] * 15
    for j, status in enumerate(statuses):
        at = datetime(2026, 3, 2, 10) + timedelta(minutes=10 * j)
        out.append(Call("agent99", OTHER, at, 120, status))
    out.append(Call("agent99", CAMPAIGN, datetime(2026, 3, 2, 16), 90, "XSALE"))
    return out


# --- plain-Python answers, to check the SQL path against --------------------------------


def counted(rows: Iterable[Call]) -> list[Call]:
    return [c for c in rows if c.length_in_sec > 0]


def is_sale(c: Call) -> bool:
    return c.status in SALE_STATUSES or (c.campaign_id, c.status) in CAMPAIGN_SALES


def totals(rows: Iterable[Call]) -> tuple[int, int, int]:
    """(calls, talk seconds, sales) of the counted ``rows``."""
    kept = counted(rows)
    return len(kept), sum(c.length_in_sec for c in kept), sum(is_sale(c) for c in kept)


def on_days(rows: Iterable[Call], first: date, last: date) -> list[Call]:
    return [c for c in rows if first <= c.call_date.date() <= last]


# --- VICIdial tables ------------------------------------------------------------------------

# As in VICIdial's extras/MySQL_AST_CREATE_tables.sql (status tables: the columns used).
VICIDIAL_LOG = """
CREATE TABLE vicidial_log (
uniqueid VARCHAR(20) PRIMARY KEY NOT NULL, lead_id INT(9) UNSIGNED NOT NULL,
list_id BIGINT(14) UNSIGNED, campaign_id VARCHAR(8), call_date DATETIME,
start_epoch INT(10) UNSIGNED, end_epoch INT(10) UNSIGNED, length_in_sec INT(10),
status VARCHAR(6), phone_code VARCHAR(10), phone_number VARCHAR(18), user VARCHAR(20),
comments VARCHAR(255), processed ENUM('Y','N'), user_group VARCHAR(20),
term_reason ENUM('CALLER','AGENT','QUEUETIMEOUT','ABANDON','AFTERHOURS','NONE','SYSTEM')
 default 'NONE',
alt_dial VARCHAR(6) default 'NONE', called_count SMALLINT(5) UNSIGNED default '0',
index (lead_id), index (call_date)
) ENGINE=MyISAM
"""

VICIDIAL_STATUSES = """
CREATE TABLE vicidial_statuses (
status VARCHAR(6) PRIMARY KEY NOT NULL, status_name VARCHAR(30),
selectable ENUM('Y','N') default 'N', human_answered ENUM('Y','N') default 'N',
category VARCHAR(20) default 'UNDEFINED', sale ENUM('Y','N') default 'N',
dnc ENUM('Y','N') default 'N', customer_contact ENUM('Y','N') default 'N',
not_interested ENUM('Y','N') default 'N', unworkable ENUM('Y','N') default 'N',
scheduled_callback ENUM('Y','N') default 'N', completed ENUM('Y','N') default 'N'
) ENGINE=MyISAM
"""

VICIDIAL_CAMPAIGN_STATUSES = """
CREATE TABLE vicidial_campaign_statuses (
status VARCHAR(6) NOT NULL, status_name VARCHAR(30), selectable ENUM('Y','N'),
campaign_id VARCHAR(20), human_answered ENUM('Y','N') default 'N',
category VARCHAR(20) default 'UNDEFINED', sale ENUM('Y','N') default 'N',
dnc ENUM('Y','N') default 'N', customer_contact ENUM('Y','N') default 'N',
not_interested ENUM('Y','N') default 'N', unworkable ENUM('Y','N') default 'N',
scheduled_callback ENUM('Y','N') default 'N', completed ENUM('Y','N') default 'N',
index (campaign_id)
) ENGINE=MyISAM
"""

STATUSES = [  # (status, name, sale): VICIdial's defaults for those used here
    ("SALE", "Sale Made", "Y"),
    ("NI", "Not Interested", "N"),
    ("CALLBK", "Call Back", "N"),
    ("DEC", "Declined Sale", "N"),
    ("XFER", "Call Transferred", "N"),
    ("A", "Answering Machine", "N"),
    ("NA", "No Answer AutoDial", "N"),
]
CAMPAIGN_STATUS_ROWS = [  # (campaign_id, status, name, sale)
    (OTHER, "XSALE", "Cross sale", "Y"),
    (CAMPAIGN, "XSALE", "Cross sale", "N"),
]


def log_rows(rows: Iterable[Call]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for n, c in enumerate(rows):
        epoch = int(c.call_date.replace(tzinfo=ZONE).timestamp())
        out.append(
            (
                f"{epoch}.{n}",
                100000 + n,
                101,
                c.campaign_id,
                c.call_date,
                epoch,
                epoch + c.length_in_sec,
                c.length_in_sec,
                c.status,
                "1",
                f"727555{n:04d}",
                c.user,
                "",
                "Y",
                "AGENTS",
                "AGENT",
                "MAIN",
                1,
            )
        )
    return out


INSERT_LOG = (
    "INSERT INTO vicidial_log (uniqueid, lead_id, list_id, campaign_id, call_date, start_epoch,"
    " end_epoch, length_in_sec, status, phone_code, phone_number, user, comments, processed,"
    " user_group, term_reason, alt_dial, called_count)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


# --- the coaching log -----------------------------------------------------------------------


def _utc(local: str) -> datetime:
    return datetime.fromisoformat(local).replace(tzinfo=ZONE)


def _session(
    sid: str, agent: str, sup: str | None, start: str, modes: list[str], minutes: list[float]
) -> list[EventRow]:
    return session_rows(
        sid,
        modes,
        gaps=[m * 60 for m in minutes],
        agent=agent,
        supervisor=sup,
        start=_utc(start),
    )


def coaching_rows() -> list[EventRow]:
    rows: list[EventRow] = []
    rows += _session("C", "agent42", "sup2", "2026-03-15T23:30", ["monitor"], [60])
    rows += _session(
        "A", "agent42", "sup1", "2026-03-16T09:00", ["monitor", "whisper", "monitor"], [30, 45, 15]
    )
    rows += _session(
        "B",
        "agent42",
        "sup1",
        "2026-03-16T13:00",
        ["monitor", "private_whisper", "barge", "monitor"],
        [20, 10, 5, 25],
    )
    rows += _session("D", "agent7", "sup2", "2026-03-16T10:00", ["whisper"], [180])
    rows += _session("E", "agent9", "sup1", "2026-03-16T15:00", ["monitor"], [1])[:1]  # open
    rows += _session("I", "agent7", None, "2026-03-16T16:00", ["monitor"], [10])
    rows += _session("F", "1099", "sup1", "2026-03-10T10:00", ["monitor"], [20])
    rows += _session("G", "agent7", "sup1", "2026-02-20T10:00", ["whisper"], [30])
    return rows


async def write_coaching_log(store: Store) -> None:
    await store.upgrade()
    for row in coaching_rows():
        await store.record(row)
