"""Scheduling: when crawls, digests and alerts run (APScheduler), with a single-instance lock.

:mod:`schedules.plan` turns the configuration into job specifications (pure);
:mod:`schedules.lock` keeps one scheduler per store; :mod:`schedules.jobs`
holds the jobs, thin calls into the crawler, enrichment and delivery (each
crawl in a child process, since Twisted's reactor cannot restart);
:mod:`schedules.service` is the long-running ``shopwatch run``.
"""
