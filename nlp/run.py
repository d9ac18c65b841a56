"""NLP stage shell: enrich the store's new and changed articles (or all of them).

Stages, in order: read a chunk of pending articles (never enriched, or changed
since) → run them through :class:`nlp.pipeline.Enricher` → replace each
article's derived rows and place it in its story (:mod:`nlp.stories`,
:mod:`storage.stories`) in one transaction → next chunk. With worker
processes, the next chunk is handed to the workers before this one is stored,
so storing overlaps enriching. The only module of
``nlp`` that touches the store; the rest is pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from config.model import Settings
from nlp.pipeline import Enricher, Enrichment
from nlp.stories import key_facts, signature, watched_names
from storage.engine import Store
from storage.enrichment import Pending, pending_articles, replace_enrichments
from storage.stories import StoryInput, assign_stories


@dataclass
class EnrichReport:
    articles: int = 0
    skipped: int = 0  # not English
    tokens: int = 0
    figures: int = 0
    events: int = 0
    languages: dict[str, int] = field(default_factory=dict)


def _pending_chunks(store: Store, everything: bool, size: int) -> Iterator[list[Pending]]:
    after_id = 0
    while True:
        with store.read() as session:
            chunk = pending_articles(session, everything=everything, limit=size, after_id=after_id)
        if not chunk:
            return
        yield chunk
        after_id = chunk[-1].article_id


def _store_chunk(
    store: Store, results: list[tuple[Pending, Enrichment]], model: str, report: EnrichReport
) -> None:
    stories = [
        StoryInput(
            item.article_id,
            sorted(key_facts(result)),
            result.signature or signature(item.text),
            watched_names(result),
        )
        for item, result in results
    ]
    with store.write() as session:
        replace_enrichments(session, results, model)
        assign_stories(session, stories)
    for _item, result in results:
        report.articles += 1
        report.skipped += result.skipped
        report.tokens += result.tokens
        report.figures += len(result.figures)
        report.events += len(result.events)
        language = result.language or "unknown"
        report.languages[language] = report.languages.get(language, 0) + 1


def enrich_store(
    settings: Settings,
    store: Store,
    *,
    everything: bool = False,
    enricher: Enricher | None = None,
    on_progress: Callable[[EnrichReport], None] | None = None,
) -> EnrichReport:
    """Enrich pending articles chunk by chunk; returns what was done.

    The model is loaded only when something is pending (or ``enricher`` is
    reused). A chunk is stored by a writer thread while the next one is
    enriched (with worker processes, the chunk after that is already handed
    out); one chunk is written at a time, each in its own transaction.
    """
    report = EnrichReport()
    options = settings.nlp
    owned: Enricher | None = None
    writing: Future[None] | None = None

    def finish_previous() -> None:
        if writing is not None:
            writing.result()  # (raises what the write raised)
            if on_progress is not None:
                on_progress(report)

    def store_next(running: Iterator[tuple[Pending, Enrichment]]) -> Future[None]:
        results = list(running)  # one process: enriched here; workers: gathered
        finish_previous()
        return writer.submit(_store_chunk, store, results, options.model, report)

    try:
        with ThreadPoolExecutor(1, thread_name_prefix="shopwatch-store") as writer:
            handed_out: Iterator[tuple[Pending, Enrichment]] | None = None
            for chunk in _pending_chunks(store, everything, options.chunk):
                if enricher is None:
                    enricher = owned = Enricher(
                        options.model,
                        settings.watch,
                        processes=options.processes,
                        batch_size=options.batch_size,
                    )
                # workers get this chunk before the last one is gathered: they never wait
                running = enricher.enrich([(item, item.text, item.language) for item in chunk])
                if handed_out is not None:
                    writing = store_next(handed_out)
                handed_out = running
            if handed_out is not None:
                writing = store_next(handed_out)
            finish_previous()
    except BaseException:  # stopped or failed: do not wait for work handed to the workers
        if owned is not None:
            owned.close(abandon=True)
            owned = None
        raise
    finally:
        if owned is not None:
            owned.close()
    return report
