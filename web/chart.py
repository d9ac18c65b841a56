"""Web stage: the mention trend of an entity as an inline SVG chart (no script, no image).

The chart is drawn on the server from the daily counts, so it shows with
JavaScript off and under a Content-Security-Policy that allows no inline script.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 200
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 36, 12, 12, 28


def daily_series(counts: dict[date, int], last_day: date, days: int) -> list[tuple[date, int]]:
    """``days`` consecutive days ending at ``last_day``, with 0 where nothing was counted."""
    first = last_day - timedelta(days=days - 1)
    return [
        (first + timedelta(days=n), counts.get(first + timedelta(days=n), 0)) for n in range(days)
    ]


def trend_svg(series: Sequence[tuple[date, int]], label: str) -> Markup:
    """A bar chart of ``series`` (day, count) with a y axis and the first and last dates."""
    if not series:
        return Markup("")
    top = max(max(n for _, n in series), 1)
    inner_w = WIDTH - PAD_LEFT - PAD_RIGHT
    inner_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    step = inner_w / len(series)
    bars = []
    for i, (day, count) in enumerate(series):
        if not count:
            continue
        h = inner_h * count / top
        x = PAD_LEFT + i * step
        y = PAD_TOP + inner_h - h
        bars.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{max(step - 1, 1):.1f}" '
            f'height="{h:.1f}"><title>{day.isoformat()}: {count}</title></rect>'
        )
    base = PAD_TOP + inner_h
    axis = (
        f'<line class="axis" x1="{PAD_LEFT}" y1="{base}" x2="{WIDTH - PAD_RIGHT}" y2="{base}"/>'
        f'<text class="tick" x="{PAD_LEFT - 6}" y="{PAD_TOP + 10}" text-anchor="end">{top}</text>'
        f'<text class="tick" x="{PAD_LEFT - 6}" y="{base}" text-anchor="end">0</text>'
        f'<text class="tick" x="{PAD_LEFT}" y="{HEIGHT - 8}">{series[0][0].isoformat()}</text>'
        f'<text class="tick" x="{WIDTH - PAD_RIGHT}" y="{HEIGHT - 8}" text-anchor="end">'
        f"{series[-1][0].isoformat()}</text>"
    )
    total = sum(n for _, n in series)
    title = escape(f"{label}: {total} article(s) in {len(series)} days")
    return Markup(
        f'<svg class="trend" role="img" aria-label="{title}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{title}</title>{axis}{''.join(bars)}</svg>"
    )
