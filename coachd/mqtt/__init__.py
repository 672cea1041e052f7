"""MQTT output: session events and retained state for dashboards.

:mod:`coachd.mqtt.topics` is pure (topics, payloads, state tracking);
:mod:`coachd.mqtt.publisher` is the only module that talks to a broker.
"""
