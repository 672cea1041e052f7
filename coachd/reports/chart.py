"""The team report as a PNG chart (matplotlib's Agg renderer, no display needed).

matplotlib is optional (``pip install 'coachd[reports]'``): it is imported only
when a chart is asked for, and its absence is a :class:`ReportError` that says
how to install it.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

from coachd.reports.compute import ReportError, TeamReport

DEFAULT_SIZE = (1200, 600)
"""Width and height of the PNG, in pixels."""

_MISSING = (
    "--png needs matplotlib, which is not installed: pip install 'coachd[reports]'"
    " (or pip install matplotlib)"
)
_DPI = 100
_LINE = "#1f77b4"
_COACHING = "#d62728"
_CALLS = "#c7c7c7"


def parse_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` in pixels (each 200..10000)."""
    width, sep, height = text.lower().partition("x")
    try:
        size = (int(width), int(height))
    except ValueError:
        size = (0, 0)
    if not sep or not all(200 <= n <= 10000 for n in size):
        raise ReportError(f"{text!r}: expected WIDTHxHEIGHT in pixels, e.g. 1200x600")
    return size


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


def require() -> None:
    """Raise :class:`ReportError` now, before any work, if matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ReportError(_MISSING) from exc


def write_png(report: TeamReport, path: Path, *, size: tuple[int, int] = DEFAULT_SIZE) -> None:
    """Daily conversion (line) and calls (bars), coaching days marked and counted."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ReportError(_MISSING) from exc

    def x(day: date) -> float:
        """Days since the window's first day (the x axis is labelled with dates)."""
        return float((day - report.window.first).days)

    fig = Figure(figsize=(size[0] / _DPI, size[1] / _DPI), dpi=_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    calls_ax = ax.twinx()
    ax.set_zorder(calls_ax.get_zorder() + 1)  # the line over the bars
    ax.patch.set_visible(False)

    with_calls = [d for d in report.days if d.metrics.calls]
    calls_ax.bar(
        [x(d.day) for d in with_calls],
        [d.metrics.calls for d in with_calls],
        width=0.8,
        color=_CALLS,
        alpha=0.5,
        label="calls",
    )
    calls_ax.set_ylabel("calls")
    conversion = {d.day: d.metrics.conversion_pct for d in with_calls}
    every_day = report.window.each()
    ax.plot(
        [x(day) for day in every_day],
        [_or_nan(conversion.get(day)) for day in every_day],  # a gap on days without calls
        marker="o",
        markersize=3,
        color=_LINE,
        label="conversion %",
    )
    if report.total.conversion_pct is not None:
        ax.axhline(
            report.total.conversion_pct,
            color=_LINE,
            linestyle=":",
            linewidth=1,
            label=f"whole period {report.total.conversion_pct:.2f} %",
        )
    coached = [d for d in report.days if d.sessions]
    for i, d in enumerate(coached):
        ax.axvline(
            x(d.day),
            color=_COACHING,
            linestyle="--",
            linewidth=1,
            alpha=0.7,
            label="coaching sessions (count)" if i == 0 else None,
        )
        ax.annotate(
            str(len(d.sessions)),
            xy=(x(d.day), 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
            color=_COACHING,
        )
        if d.metrics.calls:
            ax.plot(
                [x(d.day)],
                [d.metrics.conversion_pct or 0.0],
                marker="o",
                markersize=6,
                color=_COACHING,
            )

    ax.set_xlim(x(report.window.first) - 0.5, x(report.window.last) + 0.5)
    ax.set_ylim(bottom=0)
    calls_ax.set_ylim(bottom=0)
    ax.set_ylabel("conversion %")
    weeks = -(-report.window.days // 7)
    step = 1 if report.window.days <= 14 else 7 * -(-weeks // 12)  # weekly, <= ~12 labels
    ticks = report.window.each()[::step]
    ax.set_xticks([x(d) for d in ticks], [f"{d:%b %d}" for d in ticks], fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(
        f"Team conversion, campaign {report.campaign}: {report.window}"
        f" ({report.sessions} coaching sessions)",
        pad=16,
    )
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(path, format="png", dpi=_DPI)
    except OSError as exc:
        raise ReportError(f"cannot write {path}: {exc.strerror or exc}") from exc
