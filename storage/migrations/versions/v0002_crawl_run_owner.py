"""Crawl runs record the process that runs them: ``pid`` and ``host``.

A run still marked ``running`` whose process is gone (killed, or its machine
restarted) can then be told from one that is still going. Both columns are
nullable: runs recorded before this revision have neither.

No view reads ``crawl_runs``, and SQLite adds a column in place (batch mode needs
no copy of the table for it), so no view or trigger is recreated.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("crawl_runs") as batch:
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("host", sa.String(), nullable=True))


def downgrade() -> None:
    # in place (SQLite 3.35+ drops a plain column itself): copying crawl_runs would drop
    # the table under crawl_errors' foreign key
    with op.batch_alter_table("crawl_runs", recreate="never") as batch:
        batch.drop_column("host")
        batch.drop_column("pid")
