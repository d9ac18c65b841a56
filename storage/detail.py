"""Storage stage: one article with everything enrichment found in it (the article pages)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from storage.articles import get_article
from storage.digest import events_of, figures_of
from storage.enrichment import entities_of
from storage.stories import story_of
from storage.tables import Article, EventRow, FigureRow


@dataclass(frozen=True)
class ArticleDetail:
    article: Article
    figures: list[FigureRow]
    events: list[EventRow]
    mentions: list[dict[str, Any]]  # name, label, count; most mentioned first
    story_id: int | None

    @property
    def watched(self) -> list[str]:
        return [m["name"] for m in self.mentions if m["label"] == "WATCH"]


def article_detail(session: Session, article_id: int) -> ArticleDetail | None:
    """The article, its figures, events, entities and story; None when there is no such one."""
    row = get_article(session, article_id)
    if row is None:
        return None
    return ArticleDetail(
        article=row,
        figures=figures_of(session, [article_id]),
        events=events_of(session, [article_id]),
        mentions=entities_of(session, article_id),
        story_id=story_of(session, article_id),
    )
