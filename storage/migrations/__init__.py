"""Storage stage: the schema migrations of the store (Alembic), shipped inside the package.

``versions/`` holds one revision per schema change, each frozen as it was written:
a revision never imports the live tables or views, so it builds the same schema
however the code changes later. ``v0001_baseline`` is the schema of the stores
made before migrations existed (:mod:`storage.migrations.baseline`); ``env.py``
runs the revisions on the store's own connection, and :mod:`storage.migrate`
decides when.

A schema change is a change to ``storage.tables`` (or ``storage.views``) plus the
next revision here, and ``HEAD`` set to it; ``tests/test_migrations.py`` fails until
the migrated schema and the models agree. Alembic drafts the revision from the
difference, on a store at the current head::

    with store.engine.connect() as conn:
        alembic.command.revision(
            storage.migrate.alembic_config(conn), "what changed", autogenerate=True, rev_id="0003"
        )

A revision that rebuilds a table on SQLite (batch mode, "move and copy") must drop
the views and FTS triggers that read the table first and create them again after.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from storage.views import VIEW_NAMES

SCRIPT_LOCATION = Path(__file__).resolve().parent
BASELINE = "0001"
HEAD = "0003"  # the newest revision in versions/; tests/test_migrations.py checks they agree
VERSION_TABLE = "alembic_version"

# what the migrations create beside the tables of storage.tables: the FTS5 index (its
# shadow tables) and the analysts' views, which a comparison with the models leaves out;
# on PostgreSQL the generated search column of articles and its indexes (revision 0003)
_NOT_MODELLED_PREFIXES = ("articles_fts",)
NOT_MODELLED_COLUMNS = {("articles", "search_vector")}
NOT_MODELLED_INDEXES = {"ix_articles_search_vector", "ix_articles_sort_at_id"}


def include_object(
    _obj: Any, name: str | None, type_: str, _reflected: bool, _compare_to: Any
) -> bool:
    """Alembic's filter for comparing the store with the models: what the models describe."""
    if name is None:
        return True
    if type_ == "column":
        table = getattr(getattr(_obj, "table", None), "name", None)
        return (table, name) not in NOT_MODELLED_COLUMNS
    if type_ == "index":
        return name not in NOT_MODELLED_INDEXES
    if type_ != "table":
        return True
    return not (name.startswith(_NOT_MODELLED_PREFIXES) or name in VIEW_NAMES)
