"""Delivery stage: the digest's mentions-per-day chart as a PNG.

Drawn with matplotlib's object API (a :class:`~matplotlib.figure.Figure` on an
Agg canvas, never pyplot), so it needs no display and shares no global figure
state between threads. matplotlib is imported on first use: it is slow to load.
"""

from __future__ import annotations

import io
from datetime import date

from delivery.model import MentionSeries

WIDTH_PX = 680
HEIGHT_PX = 260
DPI = 100


def _label(text: str) -> str:
    """``text`` shown literally: no mathtext, and not hidden from the legend."""
    text = text.replace("$", r"\$")
    return " " + text if text.startswith("_") else text


def mentions_chart(days: list[date], series: list[MentionSeries]) -> bytes:
    """A line chart of articles per day, one line per entity, as PNG bytes.

    Each series holds one count per day of ``days`` (oldest first).
    """
    for line in series:
        if len(line.counts) != len(days):
            raise ValueError(f"{line.entity!r} has {len(line.counts)} counts for {len(days)} days")

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(days)))
    for line in series:
        axes.plot(
            positions,
            line.counts,
            marker="o",
            markersize=3,
            linewidth=1.6,
            clip_on=False,
            label=_label(line.entity),
        )

    axes.set_title(f"Mentions per day, last {len(days)} days", fontsize=10, loc="left")
    axes.set_ylabel("articles", fontsize=9)
    axes.set_xticks(positions, [f"{day.day} {day:%b}" for day in days], fontsize=7)
    axes.tick_params(axis="y", labelsize=8)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.margins(y=0.12)
    axes.set_ylim(bottom=0)
    if positions:
        axes.set_xlim(-0.5, len(positions) - 0.5)
    axes.grid(axis="y", color="#e5e7eb", linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    if series:
        # above the plot, right of the title, so it never hides a line
        axes.legend(
            loc="lower right",
            bbox_to_anchor=(1.0, 1.0),
            fontsize=8,
            frameon=False,
            ncols=min(len(series), 4),
            borderaxespad=0.2,
        )

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()
