"""CLI shell: where the settings come from and how the store is opened, for every command."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from config import DEFAULT_CONFIG_NAME, Settings, load_settings
from storage.engine import Store, open_store


@dataclass
class AppContext:
    config_option: Path | None
    env: dict[str, str]
    verbose: bool = False

    def config_path(self) -> tuple[Path, bool]:
        """The configuration file to read, and whether it must exist.

        ``--config FILE``, else ``$SHOPWATCH_CONFIG``, else ``./shopwatch.toml``
        (the last may be absent: the defaults are used).
        """
        if self.config_option is not None:
            return self.config_option, True
        from_env = self.env.get("SHOPWATCH_CONFIG")
        if from_env:
            return Path(from_env), True
        return Path(DEFAULT_CONFIG_NAME), False

    def settings(self) -> Settings:
        path, required = self.config_path()
        return load_settings(path, required=required)

    def store(self, settings: Settings, *, create: bool = True) -> Store:
        return open_store(settings.store.url, settings.store.busy_timeout, create=create)


def make_context(config: Path | None, verbose: bool) -> AppContext:
    return AppContext(config, dict(os.environ), verbose)
