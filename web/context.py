"""Web stage: what every request handler shares: the settings, the store and the watchlist."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

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
