"""Storage stage: the SQL views analysts query directly (sqlite3, Datasette, psql, BI tools).

Stable names and columns over the tables, the same on SQLite and PostgreSQL.
The schema migrations (:mod:`storage.migrations`) create them; these are their
definitions at the newest revision, and a test compares them with a migrated
store, so a change here needs a revision that replaces the views.

- ``articles_v``: one row per article: ``id, source, url, title, author,
  published_at, first_seen_at, at`` (published, else first seen), ``day``,
  ``language, story_id, entities`` (watched, comma-separated), ``text``
- ``mentions_daily_v``: ``entity, day, articles, stories``
- ``figures_v``: ``id, article_id, day, at, source, url, entity, metric, value,
  value_max, unit, currency, change, period, text, sentence``
- ``events_v``: ``id, article_id, day, at, source, url, type, entity, persons``
  (a JSON list), ``trigger, sentence``
- ``stories_v``: ``story_id, title, first_at, last_at, articles, outlets``
  (distinct sources), ``sources`` (comma-separated)
"""

from __future__ import annotations

from sqlalchemy import Connection, text

VIEW_NAMES = ("articles_v", "mentions_daily_v", "figures_v", "events_v", "stories_v")

_SQL = {
    "articles_v": """
SELECT a.id, a.source, a.url, a.title, a.author, a.published_at, a.first_seen_at,
       a.sort_at AS at, {day} AS day, a.language, m.story_id,
       (SELECT {agg} FROM article_entities e
         WHERE e.article_id = a.id AND e.label = 'WATCH') AS entities,
       a.text
FROM articles a LEFT JOIN article_stories m ON m.article_id = a.id""",
    "mentions_daily_v": """
SELECT e.name AS entity, {day} AS day, count(DISTINCT e.article_id) AS articles,
       count(DISTINCT coalesce(m.story_id, -e.article_id)) AS stories
FROM article_entities e
JOIN articles a ON a.id = e.article_id
LEFT JOIN article_stories m ON m.article_id = e.article_id
WHERE e.label = 'WATCH'
GROUP BY e.name, {day}""",
    "figures_v": """
SELECT f.id, f.article_id, {day} AS day, a.sort_at AS at, a.source, a.url, f.entity,
       f.metric, f.value, f.value_max, f.unit, f.currency, f.change, f.period, f.text,
       f.sentence
FROM figures f JOIN articles a ON a.id = f.article_id""",
    "events_v": """
SELECT v.id, v.article_id, {day} AS day, a.sort_at AS at, a.source, a.url, v.type,
       v.entity, v.persons, v.trigger, v.sentence
FROM events v JOIN articles a ON a.id = v.article_id""",
    "stories_v": """
SELECT s.id AS story_id, s.title, s.first_at, max(a.sort_at) AS last_at,
       count(*) AS articles, count(DISTINCT a.source) AS outlets,
       {agg_sources} AS sources
FROM stories s
JOIN article_stories m ON m.story_id = s.id
JOIN articles a ON a.id = m.article_id
GROUP BY s.id, s.title, s.first_at""",
}

_DIALECT = {
    "sqlite": {
        "day": "date(a.sort_at)",
        "agg": "group_concat(e.name, ', ')",
        "agg_sources": "group_concat(DISTINCT a.source)",
    },
    "postgresql": {
        "day": "CAST(a.sort_at AS DATE)",
        "agg": "string_agg(e.name, ', ' ORDER BY e.count DESC)",
        "agg_sources": "string_agg(DISTINCT a.source, ',')",
    },
}


def view_sql(name: str, dialect: str) -> str:
    return _SQL[name].format(**_DIALECT["sqlite" if dialect == "sqlite" else "postgresql"])


def create_views(conn: Connection) -> None:
    """Create every view, or replace one whose definition changed (a no-op when current)."""
    dialect = conn.dialect.name
    for name in VIEW_NAMES:
        statement = f"CREATE VIEW {name} AS {view_sql(name, dialect)}"
        if dialect != "sqlite":
            conn.execute(text(statement.replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1)))
            continue
        stored = conn.execute(
            text("SELECT sql FROM sqlite_master WHERE type = 'view' AND name = :name"),
            {"name": name},
        ).scalar()
        if stored == statement:
            continue
        if stored is not None:
            conn.execute(text(f"DROP VIEW {name}"))
        conn.execute(text(statement))
