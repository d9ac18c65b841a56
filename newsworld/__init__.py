"""The local news world: publishers, feeds, sitemaps and listings served on loopback.

The demo crawls it and the tests run against it; nothing here reaches the internet.
"""

from newsworld.server import LoggedRequest, NewsWorld
from newsworld.world import articles, build_site, sources_toml

__all__ = ["LoggedRequest", "NewsWorld", "articles", "build_site", "sources_toml"]
