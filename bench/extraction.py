"""Extraction benchmark: the crawler's own extraction path (``crawler.extract.extract_article``).

Runs it, pinned to one core, on the 181 real pages of the article-extraction
benchmark (``../shared/benchmarks/article-extraction`` beside the repository,
or ``--data DIR``) and on the news world's article pages, and reports
body-text precision, recall and F1 (4-token shingles, per-document averages)
and pages per second (median of several passes; decompression outside the
timing, HTML parsing inside).

Target on the real pages: F1 ≥ 0.96 at ≥ 80 pages/s on one core
(trafilatura's published F1 is 0.958).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trafilatura

from bench.record import record
from bench.scoring import Score, average, score_document
from crawler.extract import NotAnArticle, extract_article
from newsworld.world import articles, build_site

TARGET_F1 = 0.96
TARGET_PAGES_PER_SECOND = 80.0
PUBLISHED_F1 = 0.958
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "article-extraction"
WORLD_BASE = "http://127.0.0.1:8000"
BOILERPLATE = ("cookie", "Subscribe now", "Related stories", "shopper_88", "All rights reserved")


@dataclass(frozen=True)
class Page:
    html: str
    url: str
    truth: str


@dataclass(frozen=True)
class Result:
    name: str
    pages: int
    score: Score
    pages_per_second: float
    extra: str = ""


def real_pages(data: Path) -> list[Page]:
    truth = json.loads((data / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for key, item in sorted(truth.items()):
        raw = gzip.decompress((data / "html" / f"{key}.html.gz").read_bytes())
        pages.append(
            Page(raw.decode("utf-8", errors="replace"), item.get("url") or "", item["articleBody"])
        )
    return pages


def world_pages() -> list[Page]:
    site = build_site(WORLD_BASE)
    return [
        Page(
            site[a["path"]].body.decode("utf-8"),
            WORLD_BASE + a["path"],
            "\n".join(a["paragraphs"] + ([a["credit"]] if a.get("credit") else [])),
        )
        for a in articles()
    ]


def extract_text(page: Page) -> str:
    try:
        return extract_article(page.html, page.url).text
    except NotAnArticle:
        return ""


def baseline_text(page: Page) -> str:
    """Plain trafilatura, fast mode, body text only: the reference run alongside ours."""
    return trafilatura.extract(page.html, url=page.url or None, fast=True) or ""


def timed_pass(pages: list[Page], extract: Callable[[Page], str]) -> tuple[float, list[str]]:
    start = time.perf_counter()
    texts = [extract(page) for page in pages]
    return time.perf_counter() - start, texts


def measure(
    name: str, pages: list[Page], passes: int, extract: Callable[[Page], str] = extract_text
) -> tuple[Result, list[str]]:
    durations, texts = [], []
    for _ in range(passes):
        seconds, texts = timed_pass(pages, extract)
        durations.append(seconds)
    score = average(score_document(t, p.truth) for t, p in zip(texts, pages, strict=True))
    return Result(name, len(pages), score, len(pages) / statistics.median(durations)), texts


def _pin_one_core() -> str:
    try:
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    except (AttributeError, OSError):
        return "not pinned"


def _table(results: list[Result]) -> str:
    lines = [
        "| pages | n | precision | recall | F1 | pages/s (1 core) | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.pages} | {r.score.precision:.3f} | {r.score.recall:.3f} | "
            f"{r.score.f1:.3f} | {r.pages_per_second:.0f} | {r.extra} |"
        )
    return "\n".join(lines)


def interleaved(
    pages: list[Page], passes: int, extractors: dict[str, Callable[[Page], str]]
) -> dict[str, Result]:
    """Passes of each extractor taken in turn, so drift of a shared machine hits all alike."""
    seconds: dict[str, list[float]] = {name: [] for name in extractors}
    texts: dict[str, list[str]] = {}
    for _ in range(passes):
        for name, extract in extractors.items():
            took, texts[name] = timed_pass(pages, extract)
            seconds[name].append(took)
    return {
        name: Result(
            name,
            len(pages),
            average(score_document(t, p.truth) for t, p in zip(texts[name], pages, strict=True)),
            len(pages) / statistics.median(seconds[name]),
        )
        for name in extractors
    }


def _real_results(data: Path, passes: int) -> tuple[list[Result], bool]:
    measured = interleaved(
        real_pages(data), passes, {"real pages": extract_text, "reference": baseline_text}
    )
    real, base = measured["real pages"], measured["reference"]
    holds = real.score.f1 >= TARGET_F1 and real.pages_per_second >= TARGET_PAGES_PER_SECOND
    verdict = "holds" if holds else "MISSED"
    ratio = real.pages_per_second / base.pages_per_second
    return [
        Result(
            real.name,
            real.pages,
            real.score,
            real.pages_per_second,
            f"F1 ≥ {TARGET_F1} at ≥ {TARGET_PAGES_PER_SECOND:.0f}/s: {verdict} (published "
            f"trafilatura F1 {PUBLISHED_F1}); {ratio:.2f}× the reference's speed",
        ),
        Result(
            "real pages, reference",
            base.pages,
            base.score,
            base.pages_per_second,
            "plain `trafilatura.extract(fast=True)`: body only, no metadata, same run",
        ),
    ], holds


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench extraction", description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--record", action="store_true", help="write docs/benchmarks.md")
    args = parser.parse_args(argv)
    pinned = _pin_one_core()
    extract_text(world_pages()[0])  # load lazily initialised models outside the timing
    world, world_texts = measure("news world", world_pages(), args.passes)
    leaks = sum(any(b in t for b in BOILERPLATE) for t in world_texts)
    results = [
        Result(
            world.name,
            world.pages,
            world.score,
            world.pages_per_second,
            f"boilerplate in {leaks} of {world.pages} pages (target 0)",
        )
    ]
    holds = True
    if (args.data / "ground-truth.json").exists():
        real_results, holds = _real_results(args.data, args.passes)
        results += real_results
    else:
        print(f"real pages not found at {args.data}; only the news world was measured")
    table = _table(results)
    print(f"extraction benchmark ({pinned}, median of {args.passes} passes)\n\n{table}")
    if args.record:
        note = (
            f"Extraction path: `crawler.extract.extract_article` (parse once, own metadata, "
            f"trafilatura body), {pinned}, median of {args.passes} interleaved passes."
        )
        path = record("extraction", note + "\n\n" + table + "\n")
        print(f"\nrecorded in {path}")
    return 0 if holds and leaks == 0 else 1
