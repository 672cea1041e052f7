"""``coachd doctor``: what on this Asterisk (and around coachd) breaks coaching audio.

- :mod:`coachd.doctor.gather` collects :class:`~coachd.doctor.facts.Facts` over
  ARI (and probes MQTT and the database);
- :mod:`coachd.doctor.checks` (with :mod:`coachd.doctor.endpoint_checks` and
  :mod:`coachd.doctor.dialplan`) turns facts into
  :class:`~coachd.doctor.finding.Finding` s: pure functions;
- :mod:`coachd.doctor.report` prints them (text or JSON) and picks the exit code.
"""
