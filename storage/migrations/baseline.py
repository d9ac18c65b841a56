"""Storage stage: the baseline schema (revision 0001), frozen as the store was before migrations.

Tables and indexes as ``storage.tables`` declared them, the SQLite FTS5 index of
``storage.fts`` and the views of ``storage.views``, copied here on purpose: later
changes to those modules go into new revisions and leave this one alone.

:func:`create` only adds what is missing, so it both builds a new store and fills
in a store made before migrations (which may lack an index added after it was made).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Connection, text
from sqlalchemy.schema import CreateIndex

metadata = sa.MetaData()
_STAMP = sa.DateTime(timezone=True)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), primary_key=True)


def _article_fk(
    *, cascade: bool = True, primary_key: bool = False, index: bool | None = None
) -> sa.Column[int]:
    target = sa.ForeignKey("articles.id", ondelete="CASCADE" if cascade else None)
    return sa.Column(
        "article_id", sa.Integer(), target, nullable=False, primary_key=primary_key, index=index
    )


sa.Table(
    "articles",
    metadata,
    _id(),
    sa.Column("source", sa.String(), nullable=False, index=True),
    sa.Column("url", sa.String(), nullable=False, index=True),
    sa.Column("canonical_url", sa.String(), nullable=False, unique=True),
    sa.Column("title", sa.String(), nullable=False),
    sa.Column("author", sa.String()),
    sa.Column("published_at", _STAMP),
    sa.Column("sort_at", _STAMP, nullable=False, index=True),
    sa.Column("first_seen_at", _STAMP, nullable=False),
    sa.Column("fetched_at", _STAMP, nullable=False),
    sa.Column("updated_at", _STAMP),
    sa.Column("language", sa.String(), index=True),
    sa.Column("description", sa.String()),
    sa.Column("sitename", sa.String()),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("content_hash", sa.String(), nullable=False, index=True),
    sa.Column("discovered_via", sa.String(), nullable=False),
    sa.Index("ix_articles_source_sort", "source", "sort_at"),
)

sa.Table(
    "endpoints",
    metadata,
    _id(),
    sa.Column("url", sa.String(), nullable=False, unique=True),
    sa.Column("source", sa.String(), nullable=False, index=True),
    sa.Column("kind", sa.String(), nullable=False),
    sa.Column("etag", sa.String()),
    sa.Column("last_modified", sa.String()),
    sa.Column("last_status", sa.Integer()),
    sa.Column("last_fetched_at", _STAMP),
    sa.Column("last_ok_at", _STAMP),
    sa.Column("consecutive_errors", sa.Integer(), nullable=False),
    sa.Column("last_error", sa.String()),
    sa.Column("last_warning", sa.String()),
    sa.Column("entries_last", sa.Integer()),
)

sa.Table(
    "crawl_runs",
    metadata,
    _id(),
    sa.Column("started_at", _STAMP, nullable=False),
    sa.Column("finished_at", _STAMP),
    sa.Column("status", sa.String(), nullable=False),
    sa.Column("sources", sa.JSON(), nullable=False),
    sa.Column("fetched", sa.Integer(), nullable=False),
    sa.Column("new", sa.Integer(), nullable=False),
    sa.Column("updated", sa.Integer(), nullable=False),
    sa.Column("skipped", sa.Integer(), nullable=False),
    sa.Column("failed", sa.Integer(), nullable=False),
    sa.Column("per_source", sa.JSON(), nullable=False),
)

sa.Table(
    "crawl_errors",
    metadata,
    _id(),
    sa.Column("run_id", sa.Integer(), sa.ForeignKey("crawl_runs.id"), index=True),
    sa.Column("source", sa.String()),
    sa.Column("url", sa.String(), nullable=False),
    sa.Column("kind", sa.String(), nullable=False),
    sa.Column("message", sa.String(), nullable=False),
    sa.Column("at", _STAMP, nullable=False),
)

sa.Table(
    "article_entities",
    metadata,
    _article_fk(primary_key=True),
    sa.Column("name", sa.String(), primary_key=True, index=True),
    sa.Column("label", sa.String(), primary_key=True),
    sa.Column("count", sa.Integer(), nullable=False),
    sa.Index("ix_article_entities_name_label", "name", "label"),
)

sa.Table(
    "enrichments",
    metadata,
    _article_fk(primary_key=True),
    sa.Column("content_hash", sa.String(), nullable=False),
    sa.Column("language", sa.String()),
    sa.Column("skipped", sa.Boolean(), nullable=False),
    sa.Column("model", sa.String(), nullable=False),
    sa.Column("enriched_at", _STAMP, nullable=False),
)

sa.Table(
    "figures",
    metadata,
    _id(),
    _article_fk(index=True),
    sa.Column("value", sa.Float(), nullable=False),
    sa.Column("value_max", sa.Float()),
    sa.Column("unit", sa.String(), nullable=False),
    sa.Column("currency", sa.String()),
    sa.Column("metric", sa.String(), nullable=False, index=True),
    sa.Column("change", sa.String(), nullable=False),
    sa.Column("period", sa.String()),
    sa.Column("entity", sa.String(), index=True),
    sa.Column("text", sa.String(), nullable=False),
    sa.Column("sentence", sa.Text(), nullable=False),
    sa.Column("start", sa.Integer(), nullable=False),
    sa.Column("end", sa.Integer(), nullable=False),
    sa.Index("ix_figures_entity_value", "entity", "value"),
)

sa.Table(
    "events",
    metadata,
    _id(),
    _article_fk(index=True),
    sa.Column("type", sa.String(), nullable=False, index=True),
    sa.Column("entity", sa.String(), index=True),
    sa.Column("persons", sa.JSON(), nullable=False),
    sa.Column("trigger", sa.String(), nullable=False),
    sa.Column("sentence", sa.Text(), nullable=False),
    sa.Column("start", sa.Integer(), nullable=False),
    sa.Column("end", sa.Integer(), nullable=False),
)

sa.Table(
    "people",
    metadata,
    _id(),
    _article_fk(index=True),
    sa.Column("name", sa.String(), nullable=False, index=True),
    sa.Column("org", sa.String()),
    sa.Column("role", sa.String(), nullable=False),
    sa.Index("ix_people_org_lower", text("lower(org)")),
)

sa.Table(
    "stories",
    metadata,
    _id(),
    sa.Column("title", sa.String(), nullable=False),
    sa.Column("first_at", _STAMP, nullable=False, index=True),
)

sa.Table(
    "article_stories",
    metadata,
    _article_fk(primary_key=True),
    sa.Column("story_id", sa.Integer(), sa.ForeignKey("stories.id"), nullable=False, index=True),
    sa.Column("at", _STAMP, nullable=False, index=True),
    sa.Column("keys", sa.JSON(), nullable=False),
    sa.Column("signature", sa.LargeBinary(), nullable=False),
)

sa.Table(
    "digests",
    metadata,
    _id(),
    sa.Column("key", sa.String(), nullable=False, unique=True),
    sa.Column("day", sa.String(), nullable=False, index=True),
    sa.Column("subject", sa.String(), nullable=False),
    sa.Column("articles", sa.Integer(), nullable=False),
    sa.Column("stories", sa.Integer(), nullable=False),
    sa.Column("created_at", _STAMP, nullable=False),
)

sa.Table(
    "alerts",
    metadata,
    _id(),
    sa.Column("rule", sa.String(), nullable=False),
    sa.Column("story_id", sa.Integer(), nullable=False, index=True),
    _article_fk(cascade=False, index=True),
    sa.Column("entity", sa.String()),
    sa.Column("title", sa.String(), nullable=False),
    sa.Column("sentence", sa.Text(), nullable=False),
    sa.Column("url", sa.String(), nullable=False),
    sa.Column("source", sa.String(), nullable=False),
    sa.Column("outlets", sa.Integer(), nullable=False),
    sa.Column("reason", sa.String(), nullable=False),
    sa.Column("fired_at", _STAMP, nullable=False, index=True),
    sa.UniqueConstraint("rule", "story_id", name="uq_alerts_rule_story"),
)

sa.Table(
    "alert_checks",
    metadata,
    _article_fk(primary_key=True),
    sa.Column("content_hash", sa.String(), nullable=False),
    sa.Column("checked_at", _STAMP, nullable=False),
)

sa.Table(
    "deliveries",
    metadata,
    _id(),
    sa.Column("key", sa.String(), nullable=False, unique=True),
    sa.Column("kind", sa.String(), nullable=False),
    sa.Column("ref", sa.Integer()),
    sa.Column("channel", sa.String(), nullable=False),
    sa.Column("recipients", sa.JSON(), nullable=False),
    sa.Column("subject", sa.String(), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("message", sa.LargeBinary()),
    sa.Column("status", sa.String(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", _STAMP, nullable=False),
    sa.Column("last_error", sa.String()),
    sa.Column("created_at", _STAMP, nullable=False),
    sa.Column("sent_at", _STAMP),
    sa.Index("ix_deliveries_due", "status", "next_attempt_at"),
)

sa.Table(
    "locks",
    metadata,
    sa.Column("name", sa.String(), primary_key=True),
    sa.Column("owner", sa.String(), nullable=False),
    sa.Column("host", sa.String(), nullable=False),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.Column("acquired_at", _STAMP, nullable=False),
    sa.Column("renewed_at", _STAMP, nullable=False),
)

sa.Table(
    "job_runs",
    metadata,
    _id(),
    sa.Column("job", sa.String(), nullable=False, index=True),
    sa.Column("scheduled_for", _STAMP),
    sa.Column("started_at", _STAMP, nullable=False, index=True),
    sa.Column("finished_at", _STAMP),
    sa.Column("status", sa.String(), nullable=False),
    sa.Column("detail", sa.String()),
)

# the FTS5 index over titles and texts, kept in step with ``articles`` by triggers (SQLite only)
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
FTS_OBJECTS = (
    ("TRIGGER", "articles_fts_au"),
    ("TRIGGER", "articles_fts_ad"),
    ("TRIGGER", "articles_fts_ai"),
    ("TABLE", "articles_fts"),
)

VIEWS = {
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


def create(conn: Connection) -> None:
    """Every table, index, FTS object and view of the baseline that the store lacks."""
    metadata.create_all(conn, checkfirst=True)
    for table in metadata.sorted_tables:
        for index in table.indexes:
            conn.execute(CreateIndex(index, if_not_exists=True))
    if conn.dialect.name == "sqlite":
        for statement in FTS_DDL:
            conn.execute(text(statement))
    create_views(conn)


def drop(conn: Connection) -> None:
    drop_views(conn)
    if conn.dialect.name == "sqlite":
        for kind, name in FTS_OBJECTS:
            conn.execute(text(f"DROP {kind} IF EXISTS {name}"))
    metadata.drop_all(conn)


def create_views(conn: Connection) -> None:
    """Create each baseline view, or replace one whose definition differs."""
    dialect = "sqlite" if conn.dialect.name == "sqlite" else "postgresql"
    for name, sql in VIEWS.items():
        statement = f"CREATE VIEW {name} AS {sql.format(**_DIALECT[dialect])}"
        if dialect == "postgresql":
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


def drop_views(conn: Connection) -> None:
    for name in reversed(list(VIEWS)):
        conn.execute(text(f"DROP VIEW IF EXISTS {name}"))
