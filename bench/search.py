"""Search benchmark: the store's full-text search over a large synthetic store.

``python -m bench search [--articles 1000000] [--store sqlite|postgresql] [--requests 20]
[--record]``

SQLite is FTS5; PostgreSQL (this machine's server) is the stored ``tsvector``
column and its GIN index.
The store is :mod:`bench.synthetic`'s (built once and cached; a million
articles take a while). Each kind of query is asked newest first and ranked
by relevance, through :func:`storage.search.find_articles` (the function the
CLI, the API and the pages call), a page of 20 with snippets; each kind
rotates over a few different values (so one cached answer does not stand for
all), after warm-up. Target: p95 ≤ 50 ms for every kind and order.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from bench.record import record
from bench.synthetic import synthetic_postgres, synthetic_store
from storage.engine import Store, open_store
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
    worst = max(p95 for *_, p95 in results)
    rows = [
        f"| {label} | {order} | {p50:.1f} | {p95:.1f} | ≤ {TARGET_MS:.0f}: "
        f"{'holds' if p95 <= TARGET_MS else 'DOES NOT HOLD'} |"
        for label, order, p50, p95 in results
    ]
    table = "\n".join(
        ["| query | order | p50 ms | p95 ms | target (p95) |", "|---|---|---|---|---|", *rows]
    )
    engine = "PostgreSQL tsvector + GIN" if postgres else "SQLite FTS5"
    built = "the GIN index made in one pass" if postgres else "the FTS index made in one pass"
    note = (
        f"{args.articles:,} synthetic articles ({engine}, "
        f"{size / 2**30:.1f} GiB{f', built in bulk: {built}' if bulk else ''}), "
        "`storage.search.find_articles`, "
        f"a page of 20 with snippets, {args.requests} queries per kind and order after warm-up "
        "(`python -m bench search`)."
    )
    print(f"search benchmark: {note}\n\n{table}")
    if args.record:
        section = f"search-pg-{args.articles}" if postgres else f"search-{args.articles}"
        record(section, f"{note}\n\n{table}\n")
    return 0 if worst <= TARGET_MS else 1


def _size(store: Store) -> int:
    """The PostgreSQL database's size in bytes."""
    with store.read() as session:
        return int(
            session.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        )
