"""Enrichment benchmark: the whole enrichment stage against bare spaCy NER on the same texts.

The texts are the news world's English articles, repeated with a per-copy
marker (so each is a distinct stored article) up to ``--articles``. Two
measurements, interleaved pass by pass in one run with the same number of
processes:

- bare: ``spacy.load(model)`` with only ``ner``, ``nlp.pipe`` over the texts;
- full: :func:`nlp.run.enrich_store` over a SQLite store holding them, with the
  enricher ``shopwatch enrich`` makes (:func:`nlp.run.new_enricher`: with one
  process on two cores, spaCy in a model worker beside the rules): reading,
  the pipeline (senter, watchlist ruler, NER), figures, events, people, and the
  database writes.

Target: full ≥ 0.8 × bare (articles per second).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.record import record
from config import example_toml, parse_settings
from config.model import Settings
from newsworld.world import articles
from nlp.pipeline import Enricher
from nlp.run import enrich_store, new_enricher
from storage.articles import ArticleData, upsert_articles
from storage.engine import Store, open_store

TARGET_RATIO = 0.8
# NER alone: the small model's ``ner`` embeds its own token vectors, so the shared
# ``tok2vec`` (read only by the tagger and the parser) is left out as well
BARE_EXCLUDED = ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"]


def corpus(count: int) -> list[tuple[str, str]]:
    base = [(a["title"], "\n\n".join(a["paragraphs"])) for a in articles() if a["lang"] == "en"]
    return [
        (f"{title} ({n})", f"{text}\n\nCopy {n}.")
        for n, (title, text) in ((i, base[i % len(base)]) for i in range(count))
    ]


def fill_store(store: Store, texts: list[tuple[str, str]]) -> None:
    now = datetime.now(UTC)
    with store.write() as session:
        upsert_articles(
            session,
            [
                ArticleData(
                    source="bench",
                    url=f"https://bench.test/{i}",
                    canonical_url=f"https://bench.test/{i}",
                    title=title,
                    text=text,
                    fetched_at=now,
                    language="en",
                )
                for i, (title, text) in enumerate(texts)
            ],
        )


def bare_pass(nlp: object, texts: list[str], settings: Settings) -> tuple[float, int]:
    start = time.perf_counter()
    tokens = sum(
        len(doc)
        for doc in nlp.pipe(
            texts,
            batch_size=settings.nlp.batch_size,  # type: ignore[attr-defined]
            n_process=settings.nlp.processes,
        )
    )
    return time.perf_counter() - start, tokens


def full_pass(settings: Settings, store: Store, enricher: Enricher) -> tuple[float, int]:
    start = time.perf_counter()
    report = enrich_store(settings, store, everything=True, enricher=enricher)
    return time.perf_counter() - start, report.tokens


def quick_ratio(count: int) -> float:
    """Full enrichment over bare NER on ``count`` articles, one pass each, one process."""
    import spacy

    settings = parse_settings(example_toml())
    texts = corpus(count)
    bare_nlp = spacy.load(settings.nlp.model, exclude=BARE_EXCLUDED)
    enricher = new_enricher(settings)
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{Path(folder) / 'bench.db'}")
        fill_store(store, texts)
        full_pass(settings, store, enricher)  # warm-up
        bare, _ = bare_pass(bare_nlp, [f"{t}.\n\n{x}" for t, x in texts], settings)
        full, _ = full_pass(settings, store, enricher)
        store.close()
    enricher.close()
    return bare / full


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench enrichment", description=__doc__)
    parser.add_argument("--articles", type=int, default=400)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--record", action="store_true", help="write docs/benchmarks.md")
    args = parser.parse_args(argv)
    import spacy

    settings = parse_settings(example_toml())
    settings = settings.model_copy(
        update={"nlp": settings.nlp.model_copy(update={"processes": args.processes})}
    )
    texts = corpus(args.articles)
    joined = [f"{title}.\n\n{text}" for title, text in texts]
    bare_nlp = spacy.load(settings.nlp.model, exclude=BARE_EXCLUDED)
    enricher = new_enricher(settings)  # as `shopwatch enrich` makes it
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{Path(folder) / 'bench.db'}")
        fill_store(store, texts)
        bare, full = [], []
        for _ in range(args.passes):
            bare.append(bare_pass(bare_nlp, joined, settings))
            full.append(full_pass(settings, store, enricher))
        store.close()
    enricher.close()
    bare_s = statistics.median(s for s, _ in bare)
    full_s = statistics.median(s for s, _ in full)
    tokens = full[0][1]
    ratio = bare_s / full_s
    verdict = "holds" if ratio >= TARGET_RATIO else "MISSED"
    table = "\n".join(
        [
            "| run | articles/s | tokens/s | target |",
            "|---|---|---|---|",
            f"| bare spaCy NER (`ner` alone) | {len(texts) / bare_s:.1f} | "
            f"{bare[0][1] / bare_s:,.0f} | |",
            f"| full enrichment with writes | {len(texts) / full_s:.1f} | {tokens / full_s:,.0f} | "
            f"≥ {TARGET_RATIO} × bare: {ratio:.2f} {verdict} |",
        ]
    )
    note = (
        f"{len(texts)} articles ({tokens:,} tokens), {args.processes} process(es), "
        f"median of {args.passes} interleaved passes."
    )
    print(f"enrichment benchmark: {note}\n\n{table}")
    if args.record:
        print(
            f"\nrecorded in {record(f'enrichment-{args.processes}p', note + chr(10) * 2 + table)}"
        )
    return 0 if ratio >= TARGET_RATIO else 1
