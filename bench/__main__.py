"""``python -m bench NAME``: run a benchmark (``extraction``)."""

from __future__ import annotations

import sys

from bench import digest, enrichment, extraction, feeds, gold, ingest, soak, store, web

BENCHMARKS = {
    "extraction": extraction.main,
    "enrichment": enrichment.main,
    "gold": gold.main,
    "web": web.main,
    "soak": soak.main,
    "store": store.main,
    "feeds": feeds.main,
    "crawl": ingest.main_crawl,
    "ingest": ingest.main_ingest,
    "digest": digest.main,
}


def main(argv: list[str]) -> int:
    name = argv[0] if argv else "extraction"
    if name not in BENCHMARKS:
        print(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    return BENCHMARKS[name](argv[1:])


raise SystemExit(main(sys.argv[1:]))
