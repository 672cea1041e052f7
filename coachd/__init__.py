"""coachd: real-time call coaching for Asterisk over ARI."""

__version__ = "0.1.0"
