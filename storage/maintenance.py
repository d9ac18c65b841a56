"""Storage stage: keeping the full-text index compact (``shopwatch db optimize``, the nightly job).

FTS5 keeps its index as segments. Each write adds small ones and automerge
folds them together a level at a time, so a store grown by crawling is made
of ten segments or more (a million articles indexed in one pass left ten).
Every term of a query is looked up in each segment: checking a phrase
against one article took about 250 µs over ten segments and 65 µs over one,
and the newest-first walk of a common phrase checks a few hundred articles.
Optimizing merges the segments into one. It runs in steps of
:data:`STEP_PAGES` leaf pages, each step its own short write transaction, so
a crawl writing at the same time waits for one step at most; a million
articles took about a minute.

On PostgreSQL, where the index is a GIN index and has no segments,
``VACUUM (ANALYZE) articles`` moves GIN's pending entries into the index and
refreshes the statistics the search's plan choice reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from storage.engine import Store
from storage.fts import fts_segments, merge_fts_step

STEP_PAGES = 1_000  # leaf pages (about 4 MB) merged per write transaction


@dataclass(frozen=True)
class Optimized:
    """What optimizing did: segments before and after (SQLite), steps, seconds, finished."""

    backend: str
    segments_before: int | None
    segments_after: int | None
    steps: int
    seconds: float
    finished: bool = True

    def describe(self) -> str:
        if self.backend != "sqlite":
            return f"VACUUM (ANALYZE) articles in {self.seconds:.1f} s"
        state = "" if self.finished else " (stopped before the end: run it again to finish)"
        return (
            f"search index: {self.segments_before} segment(s) -> {self.segments_after} in "
            f"{self.steps} step(s), {self.seconds:.1f} s{state}"
        )


def optimize_search(
    store: Store,
    *,
    on_step: Callable[[int, float], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Optimized:
    """Merge the store's full-text index into one segment (SQLite), or vacuum it (PostgreSQL).

    ``on_step(steps, seconds)`` is called after each step; ``should_stop`` is
    asked before each, and a stopped run leaves a correct index, only less
    merged (running it again goes on where it stopped).
    """
    started = time.monotonic()
    if not store.is_sqlite:
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE) articles")
        return Optimized(store.engine.dialect.name, None, None, 1, time.monotonic() - started)
    with store.read() as session:
        before = fts_segments(session.connection())
    steps, working = 0, True
    while working and not should_stop():
        with store.write() as session:
            working = merge_fts_step(session.connection(), STEP_PAGES)
        steps += 1
        if on_step is not None:
            on_step(steps, time.monotonic() - started)
    with store.read() as session:
        after = fts_segments(session.connection())
    return Optimized("sqlite", before, after, steps, time.monotonic() - started, not working)
