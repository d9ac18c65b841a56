"""Crawler stage: what the spider hands to the store pipeline."""

from __future__ import annotations

from dataclasses import dataclass

from storage.articles import ArticleData
from storage.endpoints import FetchOutcome


@dataclass(frozen=True, slots=True)
class ArticleItem:
    article: ArticleData


@dataclass(frozen=True, slots=True)
class EndpointItem:
    outcome: FetchOutcome
