"""Web benchmark: how fast the pages and the API answer over a synthetic store.

The store (:mod:`bench.synthetic`, 100,000 articles by default) is served by
uvicorn on loopback, as ``shopwatch serve`` does; each URL is asked a few
times to warm up, then ``--requests`` times, one request at a time, timed end
to end by the client. Target: every page's p95 under 300 ms.
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx

from bench.record import record
from bench.synthetic import synthetic_store
from config.model import Settings
from storage.engine import open_store
from tests.servers import LiveApp
from web.app import create_app

TARGET_MS = 300.0


def _urls(rare: str, story_id: int, article_id: int) -> list[tuple[str, str]]:
    return [
        ("search: newest articles", "/search"),
        ("search: rare word", f"/search?q={rare}"),
        ("search: common word", "/search?q=Temu"),
        ("search: common word, ranked", "/search?q=GMV&order=relevance"),
        ("search: two words + entity + event", "/search?q=GMV+Brazil&entity=Temu&type=layoffs"),
        ("search: date range", "/search?since=2026-06-01&until=2026-06-30"),
        ("search: page 50", "/search?q=Temu&page=50"),
        ("entities", "/entities"),
        ("entity page", "/entities/Temu"),
        ("entity page, figures by value", "/entities/Shein?sort=value"),
        ("stories", "/stories"),
        ("story", f"/stories/{story_id}"),
        ("article", f"/articles/{article_id}"),
        ("sources", "/sources"),
        ("api: articles q=Temu", "/api/articles?q=Temu"),
        ("api: figures of Temu", "/api/figures?entity=Temu&metric=GMV"),
        ("api: leadership events", "/api/events?type=leadership"),
        ("api: mentions of Temu", "/api/entities/Temu/mentions"),
    ]


def _time(client: httpx.Client, url: str, warmup: int, count: int) -> list[float]:
    for _ in range(warmup):
        client.get(url).raise_for_status()
    times = []
    for _ in range(count):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    return times


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench web", description=__doc__)
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--rebuild", action="store_true", help="build the store again")
    parser.add_argument("--record", action="store_true", help="write docs/benchmarks.md")
    args = parser.parse_args(argv)
    synthetic = synthetic_store(args.articles, rebuild=args.rebuild)
    settings = Settings.model_validate(
        {
            "store": {"url": f"sqlite:///{synthetic.path}"},
            "watch": [{"name": n} for n in ("Temu", "TikTok Shop", "Shein", "Amazon")],
            "sources": [
                {"name": f"outlet-{n:02d}", "feeds": ["https://x.example/f"]} for n in range(20)
            ],
        }
    )
    store = open_store(settings.store.url)  # (adds any index the code has gained)
    rows = []
    worst = 0.0
    with (
        LiveApp(create_app(settings, store)) as live,
        httpx.Client(base_url=live.url, timeout=60) as client,
    ):
        story_id = client.get("/api/stories?limit=1").json()["items"][0]["id"]
        article_id = client.get("/api/articles?limit=1").json()["items"][0]["id"]
        for label, url in _urls(synthetic.rare_term, story_id, article_id):
            times = _time(client, url, 3, args.requests)
            p50 = statistics.median(times)
            p95 = statistics.quantiles(times, n=20)[18]
            worst = max(worst, p95)
            verdict = "holds" if p95 <= TARGET_MS else "MISSED"
            rows.append(
                f"| {label} | `{url}` | {p50:.0f} | {p95:.0f} | ≤ {TARGET_MS:.0f}: {verdict} |"
            )
    store.close()
    table = "\n".join(
        ["| page | URL | p50 ms | p95 ms | target (p95) |", "|---|---|---|---|---|", *rows]
    )
    note = (
        f"{args.articles:,} synthetic articles (SQLite), {args.requests} sequential requests per "
        "URL after 3 warm-up ones, timed by the client over loopback."
    )
    print(f"web benchmark: {note}\n\n{table}")
    if args.record:
        print(f"\nrecorded in {record('web', note + chr(10) * 2 + table)}")
    return 0 if worst <= TARGET_MS else 1
