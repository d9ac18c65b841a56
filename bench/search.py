"""Search benchmark: the store's full-text search over a large synthetic store.

``python -m bench search [--articles 1000000] [--store sqlite|postgresql] [--requests 20]
[--written-since N] [--record]``

SQLite is FTS5; PostgreSQL (this machine's server) is the stored ``tsvector``
column and its GIN index.
The store is :mod:`bench.synthetic`'s (built once and cached; a million
articles take a while). Each kind of query is asked newest first and ranked
by relevance, through :func:`storage.search.find_articles` (the function the
CLI, the API and the pages call), a page of 20 with snippets; each kind
rotates over a few different values (so one cached answer does not stand for
all), after warm-up. Target: p95 ≤ 50 ms for every kind and order.

The SQLite store's index is compacted first, as ``shopwatch run`` does every
night (:mod:`storage.maintenance`). ``--written-since N`` measures again on a
copy of it into which ``N`` more articles were then written the way a crawl
writes them (50 a transaction, the index kept by its triggers): the index as
it is just before the next compaction (20,000 is a busy day).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from bench.record import record
from bench.synthetic import CACHE, Synthetic, _article, synthetic_postgres, synthetic_store
from storage.articles import upsert_articles
from storage.engine import Store, open_store
from storage.fts import fts_segments
from storage.search import ArticleQuery, find_articles

TARGET_MS = 50.0


@dataclass(frozen=True)
class Kind:
    label: str
    queries: tuple[ArticleQuery, ...]


def kinds(rare: str, now: datetime) -> list[Kind]:
    month = (now - timedelta(days=120), now - timedelta(days=90))
    return [
        Kind("rare term", tuple(ArticleQuery(q=q) for q in (rare, f"{rare} warehouse"))),
        Kind("common term", tuple(ArticleQuery(q=q) for q in ("Temu", "Shein", "said", "GMV"))),
        Kind(
            "two terms",
            tuple(ArticleQuery(q=q) for q in ("GMV Brazil", "sales Japan", "revenue Kenya")),
        ),
        Kind(
            "phrase",
            tuple(
                ArticleQuery(q=f'"{q}"')
                for q in ("head of Brazil operations", "GMV of $1.2 billion", "keep growing")
            ),
        ),
        Kind(
            "entity filter",
            tuple(
                ArticleQuery(q=q, entity=e)
                for q, e in (("GMV", "Shein"), ("prices", "Amazon"), ("operations", "ByteDance"))
            ),
        ),
        Kind(
            "date range",
            tuple(
                ArticleQuery(q=q, since=month[0], until=month[1]) for q in ("Temu", "GMV", "Kenya")
            ),
        ),
    ]


def _run(store: Store, query: ArticleQuery) -> float:
    started = time.perf_counter()
    with store.read() as session:
        hits = find_articles(session, query)
    elapsed = (time.perf_counter() - started) * 1000
    if not hits:
        raise SystemExit(f"no hits for {query}: the benchmark's store is not what it expects")
    return elapsed


def measure(store: Store, rare: str, requests: int) -> list[tuple[str, str, float, float]]:
    """(kind, order, p50 ms, p95 ms) of every kind of query, newest first and ranked."""
    now = datetime.now(UTC)
    results = []
    for kind in kinds(rare, now):
        for order in ("newest", "relevance"):
            queries = [ArticleQuery(**{**vars(q), "order": order}) for q in kind.queries]
            for query in queries:  # warm-up
                _run(store, query)
            times = [_run(store, queries[n % len(queries)]) for n in range(requests)]
            p95 = statistics.quantiles(times, n=20)[18]
            results.append((kind.label, order, statistics.median(times), p95))
    return results


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench search", description=__doc__)
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--rebuild", action="store_true", help="build the store again")
    parser.add_argument(
        "--written-since",
        type=int,
        default=0,
        metavar="N",
        help="SQLite: also measure a copy with N articles written since the compaction",
    )
    parser.add_argument("--record", action="store_true", help="write docs/benchmarks.md")
    args = parser.parse_args(argv)
    postgres = args.store == "postgresql"
    bulk = args.articles > 200_000  # see bench.synthetic._bulk_build and _pg_bulk_build
    if postgres:
        synthetic = synthetic_postgres(args.articles, rebuild=args.rebuild)
    else:
        synthetic = synthetic_store(args.articles, rebuild=args.rebuild, bulk=bulk)
    store = open_store(synthetic.store_url)
    size = _size(store) if postgres else synthetic.path.stat().st_size
    results = measure(store, synthetic.rare_term, args.requests)
    store.close()
    table = _table(results)
    engine = "PostgreSQL tsvector + GIN" if postgres else "SQLite FTS5"
    built = (
        "the GIN index made in one pass"
        if postgres
        else "the FTS index made in one pass, then compacted as the nightly job does"
    )
    note = (
        f"{args.articles:,} synthetic articles ({engine}, "
        f"{size / 2**30:.1f} GiB{f', built in bulk: {built}' if bulk else ''}), "
        "`storage.search.find_articles`, "
        f"a page of 20 with snippets, {args.requests} queries per kind and order after warm-up "
        "(`python -m bench search`)."
    )
    if args.written_since and not postgres:
        later = _measure_written_since(synthetic, args.written_since, args.requests)
        results += later
        table += (
            f"\n\nThe same queries on a copy of that store after {args.written_since:,} more "
            "articles were written into it as a crawl writes them (50 a transaction), "
            f"before the next compaction:\n\n{_table(later)}"
        )
    worst = max(p95 for *_, p95 in results)
    print(f"search benchmark: {note}\n\n{table}")
    if args.record:
        section = f"search-pg-{args.articles}" if postgres else f"search-{args.articles}"
        record(section, f"{note}\n\n{table}\n")
    return 0 if worst <= TARGET_MS else 1


def _table(results: list[tuple[str, str, float, float]]) -> str:
    rows = [
        f"| {label} | {order} | {p50:.1f} | {p95:.1f} | ≤ {TARGET_MS:.0f}: "
        f"{'holds' if p95 <= TARGET_MS else 'DOES NOT HOLD'} |"
        for label, order, p50, p95 in results
    ]
    return "\n".join(
        ["| query | order | p50 ms | p95 ms | target (p95) |", "|---|---|---|---|---|", *rows]
    )


def _measure_written_since(
    synthetic: Synthetic, count: int, requests: int
) -> list[tuple[str, str, float, float]]:
    """:func:`measure` on a copy of the store with ``count`` articles written since compaction."""
    with tempfile.TemporaryDirectory(prefix="shopwatch-bench-search-", dir=CACHE) as tmp:
        copy = Path(tmp) / "store.db"
        print(f"  copying the store to write {count:,} more articles into it…", flush=True)
        shutil.copyfile(synthetic.path, copy)
        store = open_store(f"sqlite:///{copy}")
        try:
            now = datetime.now(UTC).replace(second=0, microsecond=0)
            first = synthetic.articles + 1
            for start in range(first, first + count, 50):
                batch = [
                    _article(n, now, 1)[0] for n in range(start, min(start + 50, first + count))
                ]
                with store.write() as session:
                    upsert_articles(session, batch)
            with store.read() as session:
                segments = fts_segments(session.connection())
            print(f"  {count:,} articles written; the index has {segments} segments", flush=True)
            return measure(store, synthetic.rare_term, requests)
        finally:
            store.close()


def _size(store: Store) -> int:
    """The PostgreSQL database's size in bytes."""
    with store.read() as session:
        return int(
            session.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        )
