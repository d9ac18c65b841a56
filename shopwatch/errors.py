"""The one error hierarchy of shopwatch.

Library code raises these (translating third-party exceptions where they
enter, ``raise StoreError(...) from exc``); the CLI turns them into a message
and an exit code, never a traceback.
"""

from __future__ import annotations


class ShopwatchError(Exception):
    """Base class of every error shopwatch raises on purpose."""

    exit_code = 1


class ConfigError(ShopwatchError):
    """The configuration file is missing, unreadable or invalid."""

    exit_code = 2


class UsageError(ShopwatchError):
    """A command was given arguments it cannot work with."""

    exit_code = 2


class FetchError(ShopwatchError):
    """A URL could not be fetched (network fault, refused address, bad status)."""


class ExtractError(ShopwatchError):
    """A fetched document could not be turned into an article or feed entries."""


class StoreError(ShopwatchError):
    """The store could not be opened, read or written."""


class DeliveryError(ShopwatchError):
    """A message could not be delivered (mail server or notification service refused it).

    ``permanent`` says retrying the same message cannot help (a 5xx refusal).
    ``unanswered`` says the receiver did not answer within the timeout: it is
    likely to hang again, so the outbox sends nothing more to it until later.
    """

    def __init__(self, message: str, *, permanent: bool = False, unanswered: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.unanswered = unanswered


class LockedError(ShopwatchError):
    """Another process holds a lock this one needs (a second scheduler on one store)."""

    exit_code = 3
