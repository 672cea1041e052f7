"""Run-wide hooks. Here, not in tests/integration/conftest.py: pytest calls
pytest_sessionstart only in conftests it loads before collecting."""

from __future__ import annotations

import pytest

from tests.integration import chaos


def pytest_sessionstart(session: pytest.Session) -> None:
    chaos.clear()  # the table shows this run's faults only


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    records = chaos.load()
    if not records:
        return
    written = chaos.write_tables(records)
    terminalreporter.write_sep("=", "chaos table")
    for line in chaos.markdown(records).splitlines():
        terminalreporter.write_line(line)
    terminalreporter.write_line("written to " + ", ".join(str(p) for p in written))
