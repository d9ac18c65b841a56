"""Scheduling: when crawls, digests and alerts run (APScheduler), with a single-instance lock.

Not built yet: the scheduler arrives with the delivery work. Crawls already
run one per process (see :mod:`crawler.run`), which is how the scheduler will
start them.
"""
