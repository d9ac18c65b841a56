"""Crawler: getting bytes and turning them into extracted articles.

Stages, one module each: :mod:`~crawler.urls` (canonical URLs),
:mod:`~crawler.netguard` (which addresses may be fetched),
:mod:`~crawler.politeness` (Retry-After), :mod:`~crawler.feeds`,
:mod:`~crawler.sitemaps` and :mod:`~crawler.listings` (finding article URLs),
:mod:`~crawler.extract` (trafilatura), :mod:`~crawler.offload` (extraction
in worker processes), :mod:`~crawler.spider` (the Scrapy
shell), :mod:`~crawler.pipeline` (handing articles to the store) and
:mod:`~crawler.run` (one crawl run, start to finish); for crawling shared
through Redis, :mod:`~crawler.queue` (the queue, its leases and heartbeats)
and :mod:`~crawler.worker` (enqueuing seeds, and the worker process).
"""
