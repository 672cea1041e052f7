"""Benchmarks of coachd against ChanSpy on the sandbox (``make bench``).

Not part of the test command: they print and record figures, they assert nothing.
"""
