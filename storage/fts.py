"""Storage stage: the SQLite FTS5 index over article titles and texts, and query quoting.

The index is an external-content FTS5 table kept in step with ``articles`` by
triggers, so every write path (ORM or raw SQL) keeps it current.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, text

FTS_DDL = (
    """CREATE VIRTUAL TABLE IF NOT EXISTS articles_fts USING fts5(
        title, text, content='articles', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER IF NOT EXISTS articles_fts_ai AFTER INSERT ON articles BEGIN
        INSERT INTO articles_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
    END""",
    """CREATE TRIGGER IF NOT EXISTS articles_fts_ad AFTER DELETE ON articles BEGIN
        INSERT INTO articles_fts(articles_fts, rowid, title, text)
        VALUES ('delete', old.id, old.title, old.text);
    END""",
    """CREATE TRIGGER IF NOT EXISTS articles_fts_au AFTER UPDATE OF title, text ON articles BEGIN
        INSERT INTO articles_fts(articles_fts, rowid, title, text)
        VALUES ('delete', old.id, old.title, old.text);
        INSERT INTO articles_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
    END""",
)

_TERM = re.compile(r'"([^"]*)"|(\S+)')
# FTS5 reads a query as a C string: a NUL ends it mid-term ("unterminated string")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def create_fts(conn: Connection) -> None:
    for statement in FTS_DDL:
        conn.execute(text(statement))


def quote_fts_query(query: str) -> str:
    """Turn user input into an FTS5 query that searches every term instead of parsing it.

    Each whitespace-separated term becomes a quoted string (``"a-b"``), a
    ``"double-quoted phrase"`` stays a phrase, and embedded quotes are doubled,
    so FTS5 operators such as ``NEAR(``, ``OR``, ``-`` or ``*`` are searched as
    text. Terms are ANDed; control characters separate terms. Returns ``""``
    when nothing searchable is left.
    """
    parts: list[str] = []
    for match in _TERM.finditer(_CONTROL.sub(" ", query)):
        term = match.group(1) if match.group(1) is not None else match.group(2)
        term = term.strip()
        if not term or not re.search(r"\w", term):
            continue
        parts.append('"' + term.replace('"', '""') + '"')
    return " ".join(parts)
