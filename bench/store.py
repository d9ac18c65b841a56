"""Store benchmark: bulk insert of enriched articles (articles, entities, figures, events, people).

``python -m bench store [--articles 5000] [--runs 3] [--record]``

Synthetic articles (``bench.synthetic``: about 700 words, watched entities,
figures and events at known places) are made and enriched before the clock
starts; what is timed is the store's own write path, the one the crawler and
the enricher use: :func:`storage.articles.upsert_articles` then
:func:`storage.enrichment.replace_enrichments`, 500 articles per transaction,
into a new SQLite file (WAL, FTS index maintained by its triggers). The
figure is the median of ``--runs`` runs; beside it, in the same run, the
one-article-per-savepoint path the store falls back to when a batch fails.
Target: ≥ 2,000 articles per second.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.record import record
from bench.synthetic import _article, _enrichment
from storage.articles import ArticleData, WriteResult, upsert_article, upsert_articles
from storage.engine import open_store
from storage.enrichment import Pending, replace_enrichments

TARGET = 2_000.0
BATCH = 500


def _made(count: int) -> list[tuple[ArticleData, str, Any]]:
    """Articles, their content hashes (the enricher reads them from the store) and enrichments."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    made = [_article(n, now, 400) for n in range(count)]
    return [(data, data.content_hash, _enrichment(data.text, facts)) for data, facts in made]


def _write(made: list[tuple[ArticleData, str, Any]], folder: Path, *, one_by_one: bool) -> float:
    """Articles per second written into a new store at ``folder``."""
    store = open_store(f"sqlite:///{folder / 'store.db'}")
    started = time.perf_counter()
    for start in range(0, len(made), BATCH):
        batch = made[start : start + BATCH]
        with store.write() as session:
            articles = [data for data, _, _ in batch]
            results: list[WriteResult] = (
                [upsert_article(session, data) for data in articles]
                if one_by_one
                else upsert_articles(session, articles)
            )
            enriched = []
            for result, (data, digest, enrichment) in zip(results, batch, strict=True):
                assert result.article_id is not None, result
                enriched.append(
                    (Pending(result.article_id, digest, data.text, "en", 0), enrichment)
                )
            replace_enrichments(session, enriched, "bench")
    elapsed = time.perf_counter() - started
    store.close()
    return len(made) / elapsed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench store", description=__doc__)
    parser.add_argument("--articles", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--record", action="store_true", help="write docs/benchmarks.md")
    args = parser.parse_args(argv)
    made = _made(args.articles)
    rows = sum(len(e.mentions) + len(e.figures) + len(e.events) + len(e.people) for *_, e in made)
    batched, single = [], []
    with tempfile.TemporaryDirectory(prefix="shopwatch-bench-store-") as tmp:
        for run in range(args.runs):
            for name, figures in (("batch", batched), ("single", single)):
                folder = Path(tmp) / f"{name}{run}"
                folder.mkdir()
                figures.append(_write(made, folder, one_by_one=name == "single"))
    rate, fallback = statistics.median(batched), statistics.median(single)
    holds = rate >= TARGET
    table = "\n".join(
        [
            "| path | articles/s (median) | target |",
            "|---|---|---|",
            f"| batch (the store's write path) | {rate:,.0f} | ≥ {TARGET:,.0f}: "
            f"{'holds' if holds else 'DOES NOT HOLD'} |",
            f"| one article per savepoint (the fallback) | {fallback:,.0f} | |",
            f"| ratio batch / one by one | {rate / fallback:.1f}× | |",
        ]
    )
    print(table)
    if args.record:
        record(
            "store",
            f"{args.articles:,} enriched articles ({rows / args.articles:.0f} derived rows each: "
            f"entities, figures, events, people) written {BATCH} per transaction into a new "
            f"SQLite store, median of {args.runs} runs (`python -m bench store`).\n\n{table}\n",
        )
    return 0 if holds else 1
