"""``python -m bench all`` and ``python -m bench quick``: the whole suite, and its regression guard.

``all [--record]`` runs every benchmark at its full size, one after the
other (about 50 minutes on 2 cores; the million-article search stores are
built once and cached: SQLite under ``bench/.cache/``, PostgreSQL as databases
of this machine's server), prints each one's table and a
summary of which targets hold, and with ``--record`` rewrites every section
of ``docs/benchmarks.md`` (each with the date and the machine).

``quick [--record]`` takes about two minutes: small versions of the
benchmarks, one key figure each, compared with the figures the last
``quick --record`` left in ``docs/benchmarks.md``; a figure more than 20%
worse is flagged. Its exit code is 1 when one is (it is a guard for people,
not part of the test suite's pass or fail).
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.record import DOC, record

# the full suite, in the order it runs (cheap and independent ones first)
FULL = (  # (label, benchmark, its arguments)
    ("extraction", "extraction", []),
    ("gold", "gold", []),
    ("store", "store", []),
    ("feeds", "feeds", []),
    ("digest", "digest", []),
    ("crawl", "crawl", []),
    ("search", "search", []),
    ("search-pg-100000", "search", ["--store", "postgresql", "--articles", "100000"]),
    ("search-pg-1000000", "search", ["--store", "postgresql"]),
    ("web", "web", []),
    ("workers", "workers", []),
    ("enrichment", "enrichment", ["--processes", "1", "--passes", "3"]),
    ("ingest", "ingest", ["--processes", "1"]),
)
DROP = 0.20
QUICK_MARK = re.compile(r"<!-- quick-figures (\{.*?\}) -->", re.S)
ALL_MARK = re.compile(r"<!-- all-outcomes (\{.*?\}) -->", re.S)


def run_all(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench all", description=__doc__)
    parser.add_argument("--record", action="store_true", help="write docs/benchmarks.md")
    parser.add_argument("--only", default="", help="comma-separated names: run just these")
    args = parser.parse_args(argv)
    from bench.__main__ import BENCHMARKS

    only = {name for name in args.only.split(",") if name}
    outcomes = []
    for label, name, extra in FULL:
        if only and label not in only:
            continue
        print(f"\n=== {label} ===", flush=True)
        started = time.perf_counter()
        code = BENCHMARKS[name]([*extra, *(["--record"] if args.record else [])])
        outcomes.append((label, code, time.perf_counter() - started))
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    ran = {name: [code, round(seconds), now] for name, code, seconds in outcomes}
    merged = {**_last_all(), **ran} if args.record else ran
    rows = [
        f"| {name} | {'holds' if code == 0 else 'DOES NOT HOLD'} | {seconds / 60:.1f} min | {at} |"
        for name, _, _ in FULL
        if name in merged
        for code, seconds, at in [merged[name]]
    ]
    table = "\n".join(["| benchmark | targets | took | run |", "|---|---|---|---|", *rows])
    print(f"\n{table}")
    if args.record:
        record(
            "all",
            "Every benchmark's last run through `python -m bench all --record` (which runs "
            f"them in this order).\n\n{table}\n\n<!-- all-outcomes {json.dumps(merged)} -->\n",
        )
    return 0 if all(code == 0 for _, code, _ in outcomes) else 1


def _last_all() -> dict[str, list]:
    found = ALL_MARK.search(DOC.read_text(encoding="utf-8")) if DOC.exists() else None
    return json.loads(found.group(1)) if found else {}


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    higher_is_better: bool


def _quick_store() -> list[Figure]:
    from bench.store import _made, _write

    made = _made(2_000)
    with tempfile.TemporaryDirectory() as tmp:
        rates = []
        for run in range(2):
            folder = Path(tmp) / str(run)
            folder.mkdir()
            rates.append(_write(made, folder, one_by_one=False))
    return [Figure("store: bulk insert", max(rates), "articles/s", True)]


def _quick_feeds() -> list[Figure]:
    from bench.feeds import _config, _round
    from newsworld.faultserver import FaultServer

    with tempfile.TemporaryDirectory() as tmp, FaultServer(lifetime=600) as server:
        config = _config(Path(tmp), server, 300)
        _round(config)
        seconds, _ = _round(config)
    return [Figure("feeds: round of 304s", 300 / seconds, "feeds/s", True)]


def _quick_crawl() -> list[Figure]:
    from bench.ingest import crawl_once
    from bench.world import WorldServer

    with WorldServer(400) as server, tempfile.TemporaryDirectory() as tmp:
        run = crawl_once(Path(tmp) / "crawl", server, enrich=False)
    return [Figure("crawl without enrichment", 400 / run.seconds, "articles/s", True)]


def _quick_search() -> list[Figure]:
    from bench.search import measure
    from bench.synthetic import synthetic_store
    from storage.engine import open_store

    synthetic = synthetic_store(20_000)
    store = open_store(f"sqlite:///{synthetic.path}")
    results = measure(store, synthetic.rare_term, 10)
    store.close()
    return [Figure("search at 20k: worst p95", max(p95 for *_, p95 in results), "ms", False)]


def _quick_digest() -> list[Figure]:
    from bench.digest import measure

    return [Figure("digest of 1,000 articles", measure(1_000, 1_000, 2)[0], "s", False)]


def _quick_enrichment() -> list[Figure]:
    from bench.enrichment import quick_ratio

    return [Figure("enrichment / bare NER", quick_ratio(80), "ratio", True)]


def _quick_extraction() -> list[Figure]:
    from bench.extraction import DEFAULT_DATA, extract_text, measure, real_pages

    result, _ = measure("real pages", real_pages(DEFAULT_DATA), 1, extract_text)
    return [
        Figure("extraction F1 (real pages)", result.score.f1, "F1", True),
        Figure("extraction speed (real pages)", result.pages_per_second, "pages/s", True),
    ]


QUICK: tuple[Callable[[], list[Figure]], ...] = (
    _quick_extraction,
    _quick_store,
    _quick_feeds,
    _quick_crawl,
    _quick_digest,
    _quick_search,
    _quick_enrichment,
)


def _last_quick() -> dict[str, float]:
    found = QUICK_MARK.search(DOC.read_text(encoding="utf-8")) if DOC.exists() else None
    return json.loads(found.group(1)) if found else {}


def worse(figure: Figure, before: float) -> float:
    """How much worse ``figure`` is than ``before`` (0.25 = 25% worse; negative: better)."""
    if before == 0:
        return 0.0
    change = (figure.value - before) / before
    return -change if figure.higher_is_better else change


def run_quick(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench quick", description=__doc__)
    parser.add_argument("--record", action="store_true", help="keep these figures as the base")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    figures = [figure for measure in QUICK for figure in measure()]
    before = _last_quick()
    rows, flagged = [], []
    for figure in figures:
        base = before.get(figure.name)
        if base is None:
            verdict, against = "no earlier figure", "–"
        else:
            change = worse(figure, base)
            verdict = f"DROP {change:.0%}" if change > DROP else f"ok ({-change:+.0%})"
            against = f"{base:,.3g}"
            if change > DROP:
                flagged.append(figure.name)
        rows.append(
            f"| {figure.name} | {figure.value:,.3g} {figure.unit} | {against} | {verdict} |"
        )
    table = "\n".join(["| figure | now | last recorded | change |", "|---|---|---|---|", *rows])
    took = time.perf_counter() - started
    print(f"{table}\n\nquick run took {took:.0f} s; {len(flagged)} drop(s) over {DROP:.0%}")
    if args.record:
        values = json.dumps({f.name: round(f.value, 4) for f in figures})
        record(
            "quick",
            "`python -m bench quick --record`: the base that later quick runs are compared "
            f"with (a drop over {DROP:.0%} is flagged). Took {took:.0f} s.\n\n{table}\n\n"
            f"<!-- quick-figures {values} -->\n",
        )
    return 1 if flagged else 0
