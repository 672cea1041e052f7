"""The Grafana dashboard in docker/grafana reads the tables coachd and VICIdial
really have: every panel's SQL runs against a real MariaDB with both schemas."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.vicidial.conftest import VicidialDb, _create, _drop

DASHBOARD = Path(__file__).resolve().parents[2] / "docker/grafana/coachd-coaching.json"


def runnable(sql: str) -> str:
    """Grafana's macros and variables as MySQL would see them for one range."""
    sql = re.sub(
        r"\$__timeFilter\((\w+(?:\.\w+)?)\)",
        r"\1 BETWEEN '2026-01-01 00:00:00' AND '2026-12-31 23:59:59'",
        sql,
    )
    return sql.replace("$sale_statuses", "'SALE'").replace("$campaign", "'B2B'")


@pytest.fixture(scope="module")
def db() -> Iterator[VicidialDb]:
    vdb = _create(f"coachd_grafana_{secrets.token_hex(4)}")
    vdb.sql(
        "INSERT INTO vicidial_log (uniqueid, lead_id, campaign_id, call_date, length_in_sec,"
        " status, user) VALUES ('1', 1, 'B2B', '2026-03-01 10:00:00', 60, 'SALE', 'a1'),"
        " ('2', 2, 'B2B', '2026-03-01 11:00:00', 90, 'NI', 'a1')"
    )
    vdb.sql(
        "INSERT INTO coachd_coaching_log (session_id, coaching_date, started_at, ended_at,"
        " supervisor, agent, endpoint, initial_mode, final_mode, duration_sec, end_reason,"
        " instance, last_seq) VALUES ('s1', '2026-03-01', '2026-03-01 10:00:00',"
        " '2026-03-01 10:10:00', 'sup1', 'a1', 'PJSIP/2001', 'monitor', 'whisper', 600,"
        " 'supervisor_ended', 'pbx1', 3)"
    )
    vdb.sql(
        "INSERT INTO coachd_mode_periods (session_id, seq, mode, started_at, ended_at,"
        " duration_sec) VALUES ('s1', 1, 'monitor', '2026-03-01 10:00:00',"
        " '2026-03-01 10:04:00', 240), ('s1', 2, 'whisper', '2026-03-01 10:04:00',"
        " '2026-03-01 10:10:00', 360)"
    )
    try:
        yield vdb
    finally:
        vdb.close()
        _drop(vdb.name)


PANELS = json.loads(DASHBOARD.read_text())["panels"]


@pytest.mark.parametrize("panel", PANELS, ids=[p["title"] for p in PANELS])
def test_every_panel_query_runs_against_the_real_schemas(db: VicidialDb, panel: dict) -> None:
    (target,) = panel["targets"]
    rows = db.sql(runnable(target["rawSql"]))
    assert isinstance(rows, list)


def test_the_panels_show_the_seeded_numbers(db: VicidialDb) -> None:
    by_title = {p["title"]: runnable(p["targets"][0]["rawSql"]) for p in PANELS}
    conversion = db.sql(by_title["Team conversion % per day (vicidial_log)"])
    assert [float(r[1]) for r in conversion] == [50.0]
    minutes = db.sql(by_title["Minutes coached per supervisor (target: 180 a day)"])
    assert [(r[0], float(r[1])) for r in minutes] == [("sup1", 10.0)]
