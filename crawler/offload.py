"""Crawler stage: article extraction in worker processes, beside the crawl's event loop.

Extraction (:func:`crawler.extract.extract_article`) is pure and takes most of
the crawl process's CPU; run in the same process it holds up the downloads
and the store writes. :class:`ExtractorPool` hands pages to
``[crawl] extract_processes`` worker processes (started with ``spawn``, so
none inherits the crawl's threads or sockets) and awaits the result, so the
crawl process only fetches and stores. With ``0`` processes (the default on a
one-core machine) pages are extracted in the calling process.

A worker process that dies (killed, out of memory) fails the pages it held,
each recorded as an extraction error; the next page starts a new pool. A
worker process outlives no crawl: it exits within half a second of the crawl
process, however that ended (a SIGKILL included), and it holds none of the
crawl's standard input or output, so whoever reads the crawl's output sees it
end when the crawl ends.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from crawler.extract import ExtractedPage, Hints, extract_article
from shopwatch.errors import ExtractError

PROCESS_NAME = "sw-extract"


class ExtractorDied(ExtractError):
    """The extraction process stopped while it held the page."""


def default_processes(cores: int | None = None) -> int:
    """One extraction process when there is a core to spare for it, else none."""
    return 1 if (cores if cores is not None else os.cpu_count() or 1) >= 2 else 0


def _ready() -> bool:
    return True


def _worker_setup(crawl_pid: int) -> None:
    """In each worker process: a name, the crawl's stdin and stdout let go, the crawl watched."""
    try:  # what ps and top show (Linux)
        with open("/proc/self/comm", "w", encoding="ascii") as comm:
            comm.write(PROCESS_NAME)
    except OSError:
        pass
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    threading.Thread(target=_exit_with, args=(crawl_pid,), daemon=True).start()


def _exit_with(crawl_pid: int, every: float = 0.5) -> None:
    """Exit this process once the crawl process is gone (it is no longer the parent)."""
    while os.getppid() == crawl_pid:
        time.sleep(every)
    os._exit(0)


class ExtractorPool:
    """``extract_article`` in ``processes`` worker processes (none: in this process)."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the worker processes now, so their imports overlap the crawl's first fetches."""
        if self.processes and self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_setup,
                initargs=(os.getpid(),),
            )
            self._pool.submit(_ready)

    async def extract(
        self, html: str | bytes, url: str, hints: Hints, *, min_text_chars: int
    ) -> ExtractedPage:
        """:func:`extract_article` of the page; raises what it raises, or :class:`ExtractorDied`."""
        if not self.processes:
            return extract_article(html, url, hints, min_text_chars=min_text_chars)
        self.start()
        assert self._pool is not None
        pool = self._pool
        try:
            future = pool.submit(extract_article, html, url, hints, min_text_chars=min_text_chars)
            return await asyncio.wrap_future(future)
        except BrokenProcessPool as exc:
            if self._pool is pool:  # the first page to find it broken replaces it
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
            raise ExtractorDied(f"the extraction process stopped: {exc}") from exc

    def close(self) -> None:
        """Stop the worker processes (pages still queued are dropped)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
