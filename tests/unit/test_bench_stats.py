"""The benchmark summaries: nearest-rank percentiles, scaled and rounded."""

from __future__ import annotations

import pytest

from bench.stats import percentile, summary


def test_p99_of_a_hundred_samples_is_the_99th_smallest() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 99) == 99.0
    assert percentile(values, 50) == 50.0
    assert percentile(values, 100) == 100.0


def test_p99_of_few_samples_is_their_maximum() -> None:
    assert percentile([3.0, 1.0, 2.0], 99) == 3.0


def test_summary_scales_seconds_to_milliseconds() -> None:
    assert summary([0.010, 0.020, 0.030], 1000) == {
        "n": 3,
        "median": 20.0,
        "p99": 30.0,
        "max": 30.0,
    }


def test_summary_of_nothing_says_so_instead_of_inventing_figures() -> None:
    assert summary([]) == {"n": 0}
    with pytest.raises(IndexError):
        percentile([], 50)
