"""Storage stage: the SQLite FTS5 index over article titles and texts, and query quoting.

The index is an external-content FTS5 table kept in step with ``articles`` by
triggers, so every write path (ORM or raw SQL) keeps it current. On PostgreSQL
the index is a generated ``tsvector`` column instead (revision 0003); both read
the user's input through :func:`search_terms`, so both search the same terms.
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


def search_terms(query: str) -> list[str]:
    """The terms and ``"double-quoted phrases"`` of user input, unquoted, in order.

    Control characters separate terms; a term without a letter or digit is dropped.
    """
    terms: list[str] = []
    for match in _TERM.finditer(_CONTROL.sub(" ", query)):
        term = match.group(1) if match.group(1) is not None else match.group(2)
        term = term.strip()
        if term and re.search(r"\w", term):
            terms.append(term)
    return terms


def quote_fts_query(query: str) -> str:
    """Turn user input into an FTS5 query that searches every term instead of parsing it.

    Each whitespace-separated term becomes a quoted string (``"a-b"``), a
    ``"double-quoted phrase"`` stays a phrase, and embedded quotes are doubled,
    so FTS5 operators such as ``NEAR(``, ``OR``, ``-`` or ``*`` are searched as
    text. Terms are ANDed; control characters separate terms. Returns ``""``
    when nothing searchable is left.
    """
    return " ".join('"' + term.replace('"', '""') + '"' for term in search_terms(query))


# an FTS5 query's tokens: a "string" ("" inside is a quote), a parenthesis, or a bareword
_FTS_TOKEN = re.compile(r'"((?:[^"]|"")*)"|([()])|([^\s()"]+)')


class _FtsToTsquery:
    """An FTS5 query (words, "phrases", AND, OR, NOT, parentheses) as PostgreSQL tsquery SQL.

    Each word or phrase becomes ``phraseto_tsquery('english', :param)`` and the
    operators become ``&&``, ``||`` and ``&& !!``, with FTS5's precedence (NOT,
    then AND, then OR). ``NEAR(a b)`` is read as ``a AND b``, a prefix ``word*``
    as the word, a column filter ``title:`` is dropped.
    """

    def __init__(self, query: str, params: dict[str, object], prefix: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        for match in _FTS_TOKEN.finditer(_CONTROL.sub(" ", query)):
            phrase, paren, word = match.groups()
            if phrase is not None:
                self.tokens.append(("term", phrase.replace('""', '"')))
            elif paren is not None:
                self.tokens.append((paren, paren))
            elif word in ("AND", "OR", "NOT", "NEAR"):
                self.tokens.append((word, word))
            elif not word.endswith(":"):
                self.tokens.append(("term", word.lstrip("^+").rstrip("*").split(":")[-1]))
        self.at = 0
        self.params = params
        self.prefix = prefix

    def _peek(self) -> str | None:
        return self.tokens[self.at][0] if self.at < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        self.at += 1
        return self.tokens[self.at - 1]

    def parse(self) -> str:
        found = self._or()
        return found if self.at == len(self.tokens) else "''::tsquery"

    def _or(self) -> str:
        found = self._and()
        while self._peek() == "OR":
            self._take()
            found = f"({found} || {self._and()})"
        return found

    def _and(self) -> str:
        found = self._not()
        while self._peek() in ("AND", "term", "(", "NEAR"):
            if self._peek() == "AND":
                self._take()
            found = f"({found} && {self._not()})"
        return found

    def _not(self) -> str:
        found = self._primary()
        while self._peek() == "NOT":
            self._take()
            found = f"({found} && !!{self._primary()})"
        return found

    def _primary(self) -> str:
        kind, value = self._take() if self._peek() is not None else ("", "")
        if kind == "(":
            inner = self._or()
            if self._peek() == ")":
                self._take()
            return inner
        if kind == "NEAR" and self._peek() == "(":
            self._take()
            terms = []
            while self._peek() == "term":
                terms.append(self._term(self._take()[1]))
            while self._peek() not in (")", None):  # NEAR's distance: ", 10"
                self._take()
            if self._peek() == ")":
                self._take()
            return "(" + " && ".join(terms) + ")" if terms else "''::tsquery"
        if kind == "term":
            return self._term(value)
        return "''::tsquery"

    def _term(self, value: str) -> str:
        name = f"{self.prefix}{len(self.params)}"
        self.params[name] = value
        return f"phraseto_tsquery('english', :{name})"


def fts_query_as_tsquery(query: str, params: dict[str, object], prefix: str = "fts") -> str:
    """The SQL of a PostgreSQL ``tsquery`` for an FTS5 query; its words bound into ``params``."""
    return _FtsToTsquery(query, params, prefix).parse()


# --- keeping the index compact (storage.maintenance) ---------------------------------


def fts_segments(conn: Connection) -> int:
    """How many segments the FTS5 index is made of (every query term is looked up in each)."""
    found = conn.execute(text("SELECT count(DISTINCT segid) FROM articles_fts_idx")).scalar()
    return int(found or 0)


def merge_fts_step(conn: Connection, pages: int) -> bool:
    """Merge up to ``pages`` leaf pages of the index towards one segment; False once done.

    FTS5's ``merge`` command with a negative page count is an incremental
    ``optimize``: it first puts every segment on one level, then merges them a
    step at a time. A step that changes fewer than two rows had nothing left to
    merge (the FTS5 documentation's test).
    """
    before = int(conn.execute(text("SELECT total_changes()")).scalar_one())
    conn.execute(
        text("INSERT INTO articles_fts(articles_fts, rank) VALUES ('merge', :pages)"),
        {"pages": -abs(pages)},
    )
    after = int(conn.execute(text("SELECT total_changes()")).scalar_one())
    return after - before >= 2
