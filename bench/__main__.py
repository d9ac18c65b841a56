"""``python -m bench NAME``: run a benchmark (``extraction``), ``all`` of them, or ``quick``."""

from __future__ import annotations

import sys

from bench import (
    digest,
    enrichment,
    extraction,
    feeds,
    gold,
    ingest,
    profile,
    search,
    soak,
    store,
    suite,
    web,
    workers,
)

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
    "search": search.main,
    "workers": workers.main,
    "profile": profile.main,
    "all": suite.run_all,
    "quick": suite.run_quick,
}


def main(argv: list[str]) -> int:
    name = argv[0] if argv else "extraction"
    if name not in BENCHMARKS:
        print(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    return BENCHMARKS[name](argv[1:])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
