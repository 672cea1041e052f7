"""Coaching reports (``coachd report impact|team|coverage``).

- :mod:`coachd.reports.compute`: the numbers, from plain rows (no I/O);
- :mod:`coachd.reports.queries`: the SQL that fetches those rows from
  VICIdial's ``vicidial_log`` and from coachd's coaching log;
- :mod:`coachd.reports.render`: table, CSV and JSON output;
- :mod:`coachd.reports.chart`: the team chart as a PNG (matplotlib, optional);
- :mod:`coachd.reports.cli`: the ``report`` command line.
"""
