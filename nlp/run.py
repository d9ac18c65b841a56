"""NLP stage shell: enrich the store's new and changed articles (or all of them).

Stages, in order: read a chunk of pending articles (never enriched, or changed
since) → run them through :class:`nlp.pipeline.Enricher` → replace each
article's derived rows and place it in its story (:mod:`nlp.stories`,
:mod:`storage.stories`) in one transaction → next chunk. With worker
processes, the next chunk is handed to the workers before this one is stored,
so storing overlaps enriching; with one process on two or more cores, spaCy
runs in a model worker of its own while this process applies the rules and
stores (:func:`separate_model`). The only module of
``nlp`` that touches the store; the rest is pure.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from config.model import Settings
from nlp.pipeline import Enricher, Enrichment, NlpError
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


def separate_model(processes: int, cores: int | None) -> bool:
    """Whether one spaCy process runs beside the rules and the store, not under them.

    With one process on two or more cores, spaCy gets a model worker of its
    own and this process applies the rules and stores while it parses the next
    batch; with several processes, each worker does the whole enrichment.
    """
    return processes == 1 and (cores or 1) >= 2


def new_enricher(settings: Settings, *, separate: bool | None = None) -> Enricher:
    """The enricher ``[nlp]`` describes (``separate``: see :func:`separate_model`)."""
    options = settings.nlp
    if separate is None:
        separate = separate_model(options.processes, os.cpu_count())
    return Enricher(
        options.model,
        settings.watch,
        processes=options.processes,
        batch_size=options.batch_size,
        separate=separate,
    )


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
                    enricher = owned = new_enricher(settings)
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


def _merge(total: EnrichReport, part: EnrichReport) -> None:
    total.articles += part.articles
    total.skipped += part.skipped
    total.tokens += part.tokens
    total.figures += part.figures
    total.events += part.events
    for language, count in part.languages.items():
        total.languages[language] = total.languages.get(language, 0) + count


def follow_store(
    settings: Settings,
    store: Store,
    finished: Callable[[], bool],
    *,
    poll: float = 0.25,
    on_progress: Callable[[EnrichReport], None] | None = None,
) -> EnrichReport:
    """Enrich articles as they are stored, until ``finished()`` and nothing is pending.

    The pass after ``finished()`` first answers true is the last: it sees
    every article stored before that moment. The model is loaded once, when
    the first article is pending.
    """
    total = EnrichReport()
    enricher: Enricher | None = None

    def progress(part: EnrichReport) -> None:
        if on_progress is not None:
            merged = EnrichReport(**{**vars(total), "languages": dict(total.languages)})
            _merge(merged, part)
            on_progress(merged)

    try:
        while True:
            last = finished()
            with store.read() as session:
                waiting = bool(pending_articles(session, limit=1))
            if waiting:
                if enricher is None:
                    enricher = new_enricher(settings, separate=True)
                part = enrich_store(settings, store, enricher=enricher, on_progress=progress)
                _merge(total, part)
            if last:
                return total
            if not waiting:
                time.sleep(poll)
    finally:
        if enricher is not None:
            enricher.close()


def _follow_in_child(settings: Settings, done: Any, counter: Any, conn: Connection) -> None:
    """Child process: :func:`follow_store` on the configured store; the report goes back."""
    from storage.engine import open_store

    parent = os.getppid()

    def count(report: EnrichReport) -> None:
        counter.value = report.articles

    def finished() -> bool:  # said so, or the crawl's process is gone (killed)
        return bool(done.is_set()) or os.getppid() != parent

    try:
        store = open_store(settings.store.url, settings.store.busy_timeout, create=False)
        try:
            report = follow_store(settings, store, finished, on_progress=count)
        finally:
            store.close()
        conn.send(("ok", vars(report)))
    except KeyboardInterrupt:
        conn.send(("error", "interrupted"))
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


class Alongside:
    """Enrichment in a child process while this process crawls (``with Alongside(settings):``).

    The child enriches each article soon after the crawl stores it, so the
    language model works on one core while fetching and extraction use the
    other; the store is the queue between them. :meth:`finish` says the crawl
    is over and waits for the last articles. Leaving the block early (an
    error, Ctrl-C) stops the child at once: its open transaction is rolled
    back and what it did not reach stays pending for the next run.
    """

    def __init__(self, settings: Settings) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._done = context.Event()
        self._counter = context.Value("i", 0)
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_follow_in_child,
            args=(settings, self._done, self._counter, send),
            name="shopwatch-enrich",  # not a daemon: it has worker processes of its own
        )
        self._send = send

    def __enter__(self) -> Alongside:
        self._process.start()
        self._send.close()  # the child holds the only sending end: its death ends the pipe
        return self

    @property
    def enriched(self) -> int:
        """Articles enriched so far."""
        return int(self._counter.value)

    def finish(self, on_wait: Callable[[int], None] | None = None) -> EnrichReport:
        """Tell the child the crawl is over; wait for its last pass and return its report."""
        self._done.set()
        while not self._receive.poll(0.2):
            if not self._process.is_alive() and not self._receive.poll(0):
                raise NlpError(f"the enrichment process died (exit code {self._process.exitcode})")
            if on_wait is not None:
                on_wait(self.enriched)
        try:
            status, value = self._receive.recv()
        except EOFError:
            raise NlpError("the enrichment process ended without a report") from None
        self._process.join()
        if status != "ok":
            raise NlpError(f"enrichment failed: {value}")
        return EnrichReport(**value)

    def __exit__(self, *exc: object) -> None:
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(10)
        self._receive.close()
