"""Who-to-coach alerts (``[alerts]``): agents below a conversion threshold.

- :mod:`coachd.alerts.config`: the ``[alerts]`` section and its checks;
- :mod:`coachd.alerts.rank`: per-agent tallies, the ranking and the cool-down (pure);
- :mod:`coachd.alerts.schedule`: business hours, next run, the window (pure);
- :mod:`coachd.alerts.payload`: the JSON and the MQTT messages (pure);
- :mod:`coachd.alerts.board`: what ``GET /v1/alerts`` shows to each token;
- :mod:`coachd.alerts.job`: the scheduled task started by :mod:`coachd.app`.
"""
