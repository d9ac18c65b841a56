"""Distributed crawl benchmark: one and two ``shopwatch worker`` processes on one world.

``python -m bench workers [--articles 2000] [--runs 2] [--record]``

The synthetic world (:mod:`bench.world`) is crawled into a new PostgreSQL
database (127.0.0.1:5432) through the Redis queue (127.0.0.1:6379, a key
prefix of its own): ``shopwatch crawl`` enqueues the sources, then N workers
(``shopwatch worker --exit-when-idle 2``, without enrichment) take the work.
Timed from the workers' start until the last article is stored (their
start-up included, their idle wait at the end not). Runs with 1 and 2 workers
are interleaved; the figure is articles stored per second, and the ratio of
2 workers to 1 in the same run. On this 2-core machine the two workers, the
world server, PostgreSQL and Redis share the cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.record import record
from bench.world import REPO, WorldServer
from config import example_watchlist_toml

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/0"


@contextmanager
def _database() -> Iterator[str]:
    name = f"shopwatch_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _clear(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


def _count(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = int(conn.execute(text("SELECT count(*) FROM articles")).scalar_one())
    engine.dispose()
    return found


def one_run(folder: Path, server: WorldServer, workers: int) -> float:
    """Articles per second stored by ``workers`` workers from an enqueued world."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if k != "SHOPWATCH_CONFIG"}
    with _database() as url:
        config = folder / f"{prefix}.toml"
        config.write_text(
            f'[store]\nurl = "{url}"\n\n[crawl]\nuser_agent = "shopwatch-bench/0.1"\n'
            f'allowed_networks = ["127.0.0.0/8"]\nqueue = "{REDIS}"\nqueue_prefix = "{prefix}"\n\n'
            f"{server.sources_toml()}\n{example_watchlist_toml()}",
            encoding="utf-8",
        )
        base = [sys.executable, "-m", "shopwatch", "--config", str(config)]
        try:
            subprocess.run([*base, "crawl"], check=True, capture_output=True, cwd=REPO, env=env)
            started = time.perf_counter()
            command = [*base, "worker", "--exit-when-idle", "2"]
            procs = [
                subprocess.Popen(
                    command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO, env=env
                )
                for _ in range(workers)
            ]
            wanted = server.world.articles
            while (stored := _count(url)) < wanted:
                if all(p.poll() is not None for p in procs):
                    errors = [p.stderr.read().decode()[-2000:] for p in procs if p.stderr]
                    raise SystemExit(f"workers ended with {stored}/{wanted} stored: {errors}")
                time.sleep(0.2)
            seconds = time.perf_counter() - started
            for proc in procs:
                proc.wait(120)
        finally:
            _clear(prefix)
    return wanted / seconds


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench workers", description=__doc__)
    parser.add_argument("--articles", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--record", action="store_true", help="write docs/benchmarks.md")
    args = parser.parse_args(argv)
    rates: dict[int, list[float]] = {1: [], 2: []}
    with WorldServer(args.articles) as server, tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):
            for workers in (1, 2):
                rates[workers].append(one_run(Path(tmp), server, workers))
                print(f"{workers} worker(s): {rates[workers][-1]:.1f} articles/s", flush=True)
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    table = "\n".join(
        [
            "| workers | articles/s (median) |",
            "|---|---|",
            f"| 1 | {one:.1f} |",
            f"| 2 | {two:.1f} |",
            f"| ratio 2 / 1 | {two / one:.2f}× |",
        ]
    )
    print(table)
    if args.record:
        record(
            "workers",
            f"A synthetic world of {args.articles:,} articles over {server.world.sites} sites "
            "crawled through the Redis queue into PostgreSQL by `shopwatch worker` processes "
            f"(no enrichment), median of {args.runs} interleaved runs (`python -m bench "
            f"workers`).\n\n{table}\n",
        )
    return 0
