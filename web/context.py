"""Web stage: what every request handler shares: the settings, the store and the watchlist."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from sqlmodel import Session

from config.model import Settings
from storage.engine import Store


@dataclass
class WebContext:
    settings: Settings
    store: Store
    token: str | None = None
    aliases: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.aliases = {w.name: list(w.aliases) for w in self.settings.watch}


def web_context(request: Request) -> WebContext:
    context: WebContext = request.app.state.shopwatch
    return context


def read(request: Request, ask: Callable[[Session], Any]) -> Any:
    """``ask(session)`` in a read session of the store."""
    with web_context(request).store.read() as session:
        return ask(session)
