"""Storage stage: the Alembic environment that runs the store's schema migrations.

:mod:`storage.migrate` runs it on the store's own connection, already inside the
one transaction of the whole upgrade, so Alembic opens none of its own. On SQLite
the DDL is transactional too (the engine issues ``BEGIN`` itself, see
:mod:`storage.engine`), and tables are altered in batch mode.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

from storage import tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage.migrations import VERSION_TABLE, include_object


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if context.is_offline_mode() or not isinstance(connection, Connection):
        raise RuntimeError("shopwatch's migrations run on a store's connection (storage.migrate)")
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        version_table=VERSION_TABLE,
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
