"""Storage stage: bringing a store's schema to the newest revision (Alembic migrations).

:func:`stored_revision` is the cheap check every opening of a store makes (two
small reads, no Alembic); :func:`upgrade` runs the revisions of
:mod:`storage.migrations` on a connection the caller has put inside one
transaction (on SQLite a ``BEGIN IMMEDIATE`` one). A store made before
migrations existed (tables, no ``alembic_version``) is first completed to the
baseline and stamped with it, then upgraded like any other.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text

from shopwatch.errors import StoreError
from storage.migrations import BASELINE, HEAD, SCRIPT_LOCATION, VERSION_TABLE

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

log = logging.getLogger("shopwatch.store")

# Alembic keeps the running migration in module globals (``alembic.op``, ``alembic.context``):
# one upgrade at a time per process, whatever the store
_ALEMBIC = threading.Lock()


@dataclass(frozen=True)
class Upgrade:
    """What an upgrade did: the revision before (``None``: no revision) and after."""

    before: str | None
    after: str
    adopted: bool = False  # a store made before migrations, stamped as the baseline first

    @property
    def changed(self) -> bool:
        return self.adopted or self.before != self.after

    def describe_before(self) -> str:
        if self.adopted:
            return f"none (made before migrations, stamped {BASELINE})"
        return self.before or "none (new store)"


def stored_revision(conn: Connection) -> str | None:
    """The store's schema revision, or ``None`` when it has none (new, or made before them)."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    found = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(found) > 1:
        raise StoreError(f"the store has several schema revisions at once: {sorted(found)}")
    return found[0] if found else None


def has_tables(conn: Connection) -> bool:
    return inspect(conn).has_table("articles")


def alembic_config(conn: Connection | None = None) -> Config:
    """Alembic's configuration for the packaged migrations, running on ``conn``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION).replace("%", "%%"))
    config.set_main_option("file_template", "v%%(rev)s_%%(slug)s")
    config.attributes["connection"] = conn
    return config


def known_revisions() -> list[str]:
    """Every revision of the migrations, oldest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return [s.revision for s in reversed(list(script.walk_revisions()))]


def upgrade(conn: Connection, target: str = "head") -> Upgrade:
    """Run the revisions up to ``target`` on ``conn``, inside the caller's transaction."""
    from alembic import command
    from alembic.script import ScriptDirectory

    config = alembic_config(conn)
    script = ScriptDirectory.from_config(config)
    with _ALEMBIC:
        before = stored_revision(conn)
        adopted = before is None and has_tables(conn)
        if adopted:
            _adopt(conn, script)
        elif before is not None and before not in {s.revision for s in script.walk_revisions()}:
            raise StoreError(
                f"the store's schema is at revision {before}, which this version of shopwatch "
                f"does not know (its newest is {HEAD}): upgrade shopwatch"
            )
        command.upgrade(config, target)
        after = stored_revision(conn)
    assert after is not None
    result = Upgrade(before, after, adopted)
    if result.changed:
        log.info("store schema upgraded from %s to %s", result.describe_before(), after)
    return result


def _adopt(conn: Connection, script: ScriptDirectory) -> None:
    """Complete a store made before migrations to the baseline, then stamp it so."""
    from alembic.runtime.migration import MigrationContext

    from storage.migrations import baseline

    baseline.create(conn)
    MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).stamp(script, BASELINE)
