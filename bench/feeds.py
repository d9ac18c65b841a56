"""Feed polling benchmark: a round over 1,000 feeds that all answer 304 Not Modified.

``python -m bench feeds [--feeds 1000] [--runs 3] [--record]``

A loopback server serves ``--feeds`` RSS feeds with ETag and Last-Modified
(all listing one article). A first ``shopwatch crawl`` stores every feed's
validators; each timed round is then a whole ``shopwatch crawl --no-enrich``
command (process start included) in which every feed gets a conditional GET
and answers 304. All feeds are on one loopback host, so the round runs with
``per_host_concurrency = 16`` and AutoThrottle off, standing in for feeds
spread over many hosts. Target: ≤ 10 s for the round (median of ``--runs``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.record import record
from newsworld.faultserver import FaultServer, article_html, conditional, page, rss

REPO = Path(__file__).resolve().parent.parent
TARGET = 10.0


def _config(folder: Path, server: FaultServer, feeds: int) -> Path:
    article = server.route("/a/only", page(article_html("The only story")))
    urls = []
    for n in range(feeds):
        body = rss([("The only story", article)])
        etag, modified = f'"feed-{n}"', "Mon, 30 Nov 2026 08:00:00 GMT"
        urls.append(
            server.route(f"/feed/{n}.xml", conditional(body, "application/rss+xml", etag, modified))
        )
    sources = "".join(
        f'[[sources]]\nname = "s{n}"\nfeeds = {json.dumps(urls[n::100])}\n\n'
        for n in range(min(100, feeds))
    )
    path = folder / "shopwatch.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{folder / "shopwatch.db"}"\n\n'
        '[crawl]\nuser_agent = "shopwatch-bench/0.1"\nallowed_networks = ["127.0.0.1/32"]\n'
        "obey_robots = false\nautothrottle = false\nper_host_concurrency = 16\nconcurrency = 32\n\n"
        f"{sources}",
        encoding="utf-8",
    )
    return path


def _round(config: Path) -> tuple[float, dict[str, object]]:
    env = {k: v for k, v in os.environ.items() if k != "SHOPWATCH_CONFIG"}
    command = [
        sys.executable,
        "-m",
        "shopwatch",
        "--config",
        str(config),
        "crawl",
        "--no-enrich",
        "--json",
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"crawl failed: {done.stderr[-2000:]}")
    return elapsed, json.loads(done.stdout)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench feeds", description=__doc__)
    parser.add_argument("--feeds", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--record", action="store_true", help="write docs/benchmarks.md")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="shopwatch-bench-feeds-") as tmp,
        FaultServer(lifetime=3600) as server,
    ):
        config = _config(Path(tmp), server, args.feeds)
        first, totals = _round(config)
        print(f"first round (200s, validators stored): {first:.1f} s, {totals}", flush=True)
        mark = len(server.hits)
        times = []
        for _ in range(args.runs):
            elapsed, totals = _round(config)
            times.append(elapsed)
            print(f"round of 304s: {elapsed:.2f} s", flush=True)
        answered = [h for h in server.hits[mark:] if h.path.startswith("/feed/")]
        conditional_gets = sum("if-none-match" in h.headers for h in answered)
    median = statistics.median(times)
    holds = median <= TARGET and conditional_gets == args.feeds * args.runs
    table = "\n".join(
        [
            "| figure | value | target |",
            "|---|---|---|",
            f"| round over {args.feeds:,} feeds answering 304 (median of {args.runs}) | "
            f"{median:.2f} s | ≤ {TARGET:.0f} s: {'holds' if holds else 'DOES NOT HOLD'} |",
            f"| feeds per second | {args.feeds / median:,.0f} | |",
            f"| conditional GETs sent / feeds polled | {conditional_gets:,} / "
            f"{args.feeds * args.runs:,} | all |",
            f"| first round (full fetch, validators stored) | {first:.2f} s | |",
        ]
    )
    print(table)
    if args.record:
        record(
            "feeds",
            f"Each round is a whole `shopwatch crawl --no-enrich` (process start included) over "
            f"{args.feeds:,} feeds in 100 sources on one loopback host, with "
            "`per_host_concurrency = 16` and AutoThrottle off (`python -m bench feeds`).\n\n"
            f"{table}\n",
        )
    return 0 if holds else 1
