"""Reading the TOML file and turning validation failures into messages that name the key."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from config.model import Settings
from shopwatch.errors import ConfigError

DEFAULT_CONFIG_NAME = "shopwatch.toml"


def example_toml() -> str:
    """The starter configuration shipped with the package (``shopwatch init`` writes it)."""
    return resources.files("config").joinpath("example.toml").read_text(encoding="utf-8")


WATCHLIST_MARKER = "# --- Watchlist"


def example_watchlist_toml() -> str:
    """The ``[[watch]]`` part of the starter configuration, to append to another file."""
    return WATCHLIST_MARKER + example_toml().split(WATCHLIST_MARKER, 1)[1]


def _key_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith(("function-", "union[")) or part in ("json-or-python",):
            continue
        else:
            path += f".{part}" if path else part
    return path or "(top level)"


def _describe(error: Any) -> str:
    key = _key_path(tuple(error["loc"]))
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] not in ("value_error", "missing") and "input" in error:
        message += f" (got {error['input']!r})"
    return f"{key}: {message}"


def format_validation_error(exc: ValidationError, origin: str) -> str:
    lines = [f"invalid configuration in {origin}:"]
    lines += [f"  {_describe(error)}" for error in exc.errors()]
    return "\n".join(lines)


def parse_settings(text: str, origin: str = "<string>", base_dir: Path | None = None) -> Settings:
    """Validate TOML text into :class:`Settings`; raise :class:`ConfigError` naming the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin} is not valid TOML: {exc}") from exc
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, origin)) from exc
    return _anchor_sqlite_path(settings, base_dir)


def _anchor_sqlite_path(settings: Settings, base_dir: Path | None) -> Settings:
    """Resolve a relative SQLite path against the configuration file's folder."""
    url = settings.store.url
    prefix = "sqlite:///"
    if base_dir is None or not url.startswith(prefix):
        return settings
    path = url[len(prefix) :]
    if not path or path.startswith("/") or path == ":memory:" or path.startswith("file:"):
        return settings
    store = settings.store.model_copy(update={"url": prefix + str((base_dir / path).resolve())})
    return settings.model_copy(update={"store": store})


def load_settings(path: Path | None, *, required: bool) -> Settings:
    """Load the file at ``path``; when it is absent and not ``required``, use the defaults."""
    if path is None or not path.exists():
        if required or path is None:
            where = path if path is not None else DEFAULT_CONFIG_NAME
            raise ConfigError(
                f"configuration file {where} not found (run `shopwatch init` to create one)"
            )
        return _anchor_sqlite_path(Settings(), path.parent.resolve())
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc}") from exc
    return parse_settings(text, origin=str(path), base_dir=path.parent.resolve())
