"""Baseline: the schema of the stores made before migrations existed.

Tables, indexes, the SQLite FTS5 index and its triggers, and the analysts' views,
as frozen in :mod:`storage.migrations.baseline`.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

from alembic import op

from storage.migrations import baseline

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    baseline.create(op.get_bind())


def downgrade() -> None:
    baseline.drop(op.get_bind())
