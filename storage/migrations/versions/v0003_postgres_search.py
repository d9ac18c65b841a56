"""Full-text search on PostgreSQL: a stored ``tsvector`` of each article, with a GIN index.

``articles.search_vector`` is a generated column (English stemming; the title
weighted ``A``, the text ``B``), so PostgreSQL keeps it current on every insert
and update and nothing else writes it: the SQLModel class leaves it out, and
ORM inserts and copies of the rows work as before. A second index serves the
newest-first order (``sort_at DESC, id DESC``) that search pages walk.

SQLite keeps its FTS5 index (revision 0001): there this revision does nothing.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_VECTOR = (
    "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(text, '')), 'B')"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"ALTER TABLE articles ADD COLUMN search_vector tsvector "
        f"GENERATED ALWAYS AS ({_VECTOR}) STORED"
    )
    op.execute("CREATE INDEX ix_articles_search_vector ON articles USING gin (search_vector)")
    op.execute("CREATE INDEX ix_articles_sort_at_id ON articles (sort_at DESC, id DESC)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_articles_sort_at_id")
    op.execute("DROP INDEX ix_articles_search_vector")
    op.execute("ALTER TABLE articles DROP COLUMN search_vector")
