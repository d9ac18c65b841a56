"""Digest benchmark: the daily digest of a day with 5,000 articles.

``python -m bench digest [--articles 5000] [--runs 5] [--record]``

A synthetic store (:mod:`bench.synthetic`) holds ``--articles`` enriched
articles published in the last 24 hours, and 5,000 more over the 30 days
before (the chart's history). Timed, each run: :func:`delivery.digest.make_digest`
for that day (the store's queries and the digest's selection), the mentions
chart (PNG) and the whole email message (text, HTML with the CSS inlined, the
chart attached), which is what the scheduled digest job does before queueing
it. Target: ≤ 3 s for all of it (median of the ``--runs`` after the first,
which also pays for imports and template compilation: a long-running
service pays that once; the first run is reported beside it).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.record import record
from bench.synthetic import build
from config import example_toml, parse_settings
from delivery.chart import mentions_chart
from delivery.digest import Window, make_digest
from delivery.message import digest_message
from storage.engine import open_store

TARGET = 3.0


def measure(articles: int, history: int, runs: int) -> tuple[float, dict[str, float], str]:
    """Median seconds for the whole digest after the first run, each part's, and a summary."""
    settings = parse_settings(example_toml()).digest
    parts: dict[str, list[float]] = {"queries and selection": [], "chart": [], "message": []}
    with tempfile.TemporaryDirectory(prefix="shopwatch-bench-digest-") as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'store.db'}")
        build(store, articles, days=1)  # the day
        build(store, history, days=30, seed=8, first=articles)  # the weeks before it
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        window = Window(now.date(), now - timedelta(hours=24), now, "UTC")
        for _ in range(runs):
            started = time.perf_counter()
            digest = make_digest(store, settings, window)
            built = time.perf_counter()
            chart = mentions_chart(digest.chart_days, digest.mentions) if digest.mentions else None
            charted = time.perf_counter()
            message = digest_message(digest, sender="bench@example.org",
                                     recipients=["team@example.org"], chart_png=chart)  # fmt: skip
            size = len(message.as_bytes())
            done = time.perf_counter()
            parts["queries and selection"].append(built - started)
            parts["chart"].append(charted - built)
            parts["message"].append(done - charted)
        store.close()
    totals = [sum(run) for run in zip(*parts.values(), strict=True)]
    warm = totals[1:] or totals  # the first run also imports matplotlib and compiles templates
    summary = (
        f"{digest.articles:,} articles and {digest.stories:,} stories in the window, "
        f"{len(digest.sections)} entity sections; message {size / 1024:,.0f} KiB; "
        f"the first run, with the imports and template compilation of a new process, "
        f"{totals[0]:.2f} s"
    )
    medians = {name: statistics.median(times[1:] or times) for name, times in parts.items()}
    return statistics.median(warm), medians, summary


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench digest", description=__doc__)
    parser.add_argument("--articles", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--record", action="store_true", help="write docs/benchmarks.md")
    args = parser.parse_args(argv)
    total, parts, summary = measure(args.articles, 5_000, args.runs)
    holds = total <= TARGET
    rows = [f"| {name} | {seconds:.2f} s | |" for name, seconds in parts.items()]
    table = "\n".join(
        [
            "| part | time (median) | target |",
            "|---|---|---|",
            *rows,
            f"| the whole digest | {total:.2f} s | ≤ {TARGET:.0f} s: "
            f"{'holds' if holds else 'DOES NOT HOLD'} |",
        ]
    )
    print(f"{table}\n\n{summary}")
    if args.record:
        record(
            "digest",
            f"The digest of a day of {args.articles:,} enriched articles (and 5,000 in the 30 days "
            f"before), median of {args.runs} runs (`python -m bench digest`): {summary}.\n\n"
            f"{table}\n",
        )
    return 0 if holds else 1
