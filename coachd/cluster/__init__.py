"""Coaching across Asterisk servers: signed grants and the agent directory."""
