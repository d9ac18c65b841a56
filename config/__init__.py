"""Configuration: the TOML file validated into one typed :class:`Settings` object.

Built once at the entry point (the CLI) and passed down; nothing else reads the
environment or the file.
"""

from config.load import DEFAULT_CONFIG_NAME, example_toml, load_settings, parse_settings
from config.model import CrawlSettings, Settings, Source, StoreSettings, Watch

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "CrawlSettings",
    "Settings",
    "Source",
    "StoreSettings",
    "Watch",
    "example_toml",
    "load_settings",
    "parse_settings",
]
