"""Storage: SQLModel tables, the engine, full-text search, and every query as a named function.

Callers open a :class:`Store` with :func:`open_store` and pass its sessions to
the query functions; no other package writes SQL.
"""

from storage.articles import ArticleData, Outcome, WriteResult, content_hash, upsert_articles
from storage.endpoints import FetchOutcome
from storage.engine import Store, open_store
from storage.search import ArticleHit, ArticleQuery, find_articles

__all__ = [
    "ArticleData",
    "ArticleHit",
    "ArticleQuery",
    "FetchOutcome",
    "Outcome",
    "Store",
    "WriteResult",
    "content_hash",
    "find_articles",
    "open_store",
    "upsert_articles",
]
