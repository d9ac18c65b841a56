"""Extraction in worker processes (crawler.offload): the same pages out, and a dead worker."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from crawler.extract import Hints, NotAnArticle, extract_article
from crawler.offload import ExtractorDied, ExtractorPool, default_processes
from newsworld.world import articles, build_site

URL = "http://127.0.0.1:8000/"


def _pages() -> list[tuple[str, str]]:
    """The news world's article pages: (URL, HTML)."""
    site = build_site(URL.rstrip("/"))
    return [(URL + a["path"].lstrip("/"), site[a["path"]].body.decode("utf-8")) for a in articles()]


def test_default_is_one_process_when_a_core_is_spare() -> None:
    assert default_processes(1) == 0
    assert default_processes(2) == 1
    assert default_processes(16) == 1


def test_pages_extracted_in_a_worker_process_equal_those_extracted_here() -> None:
    pages = _pages()
    assert len(pages) >= 10
    pool = ExtractorPool(1)

    async def extract_all() -> list[object]:
        jobs = [pool.extract(html, url, Hints(), min_text_chars=200) for url, html in pages]
        return list(await asyncio.gather(*jobs, return_exceptions=True))

    try:
        pooled = asyncio.run(extract_all())
    finally:
        pool.close()
    for (url, html), got in zip(pages, pooled, strict=True):
        try:
            here: object = extract_article(html, url, Hints(), min_text_chars=200)
        except NotAnArticle as exc:
            assert isinstance(got, NotAnArticle), url
            assert str(got) == str(exc)
            continue
        assert got == here, url
    assert sum(not isinstance(g, Exception) for g in pooled) >= 10


def test_a_killed_extraction_process_fails_its_page_and_the_next_page_gets_a_new_one() -> None:
    url, html = _pages()[0]
    pool = ExtractorPool(1)

    async def once() -> object:
        return await pool.extract(html, url, Hints(), min_text_chars=200)

    try:
        assert asyncio.run(once()).text  # type: ignore[attr-defined]
        assert pool._pool is not None
        (pid,) = list(pool._pool._processes)  # type: ignore[union-attr]
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not pool._pool._broken and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.05)
        with pytest.raises(ExtractorDied, match="extraction process stopped"):
            asyncio.run(once())
        assert asyncio.run(once()).text  # type: ignore[attr-defined]
    finally:
        pool.close()
    assert pool._pool is None


def test_no_processes_extracts_here() -> None:
    url, html = _pages()[0]
    pool = ExtractorPool(0)
    pool.start()
    assert pool._pool is None
    try:
        got = asyncio.run(pool.extract(html, url, Hints(), min_text_chars=200))
    except NotAnArticle:
        return
    assert got == extract_article(html, url, Hints(), min_text_chars=200)


PARENT = """
import asyncio, sys, time
from crawler.extract import Hints
from crawler.offload import ExtractorPool
from tests.test_offload import _pages
url, html = _pages()[0]
pool = ExtractorPool(1)
asyncio.run(pool.extract(html, url, Hints(), min_text_chars=200))
print(*pool._pool._processes, flush=True)
time.sleep(600)
"""


def test_extraction_processes_end_with_a_killed_crawl_and_hold_none_of_its_output() -> None:
    import subprocess
    import sys

    from tests.conftest import REPO

    crawl = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert crawl.stdout is not None
    (child,) = map(int, crawl.stdout.readline().split())
    os.kill(child, 0)  # alive
    crawl.kill()
    crawl.communicate(timeout=10)  # returns: the worker holds no end of the crawl's stdout
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the extraction process outlived its crawl")
