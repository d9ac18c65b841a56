"""Configuration: the TOML file validated into one typed :class:`Settings` object.

Built once at the entry point (the CLI) and passed down; nothing else reads the
environment or the file.
"""

from config.load import (
    DEFAULT_CONFIG_NAME,
    example_toml,
    example_watchlist_toml,
    load_settings,
    parse_settings,
)
from config.model import CrawlSettings, NlpSettings, Settings, Source, StoreSettings, Watch

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "CrawlSettings",
    "NlpSettings",
    "Settings",
    "Source",
    "StoreSettings",
    "Watch",
    "example_toml",
    "example_watchlist_toml",
    "load_settings",
    "parse_settings",
]
