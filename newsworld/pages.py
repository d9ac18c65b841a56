"""The news world's page markup: three publishers, three house styles, boilerplate on every page.

- retail-daily: JSON-LD ``NewsArticle`` metadata;
- market-wire: OpenGraph ``<meta>`` tags only;
- shop-signal: neither; byline and date only in the visible text.

Every page carries navigation, a cookie banner, a newsletter box, comments
and related links, which extraction must leave out.
"""

from __future__ import annotations

import json
from datetime import datetime
from html import escape
from typing import Any

PUBLISHER_NAMES = {
    "retail-daily": "Retail Daily",
    "market-wire": "Market Wire",
    "shop-signal": "Shop Signal",
}

COOKIE_BANNER = (
    '<div class="cookie-banner" id="cookies"><p>We use cookies to improve your experience '
    "and to show you personalised advertising. By continuing to browse you accept our "
    "cookie policy.</p><button>Accept all cookies</button><button>Manage settings</button></div>"
)
NEWSLETTER = (
    '<aside class="newsletter"><h3>Get the morning briefing</h3><p>Sign up for our free '
    "newsletter and receive the top commerce stories in your inbox every weekday.</p>"
    '<form><input type="email" placeholder="Your email address"><button>Subscribe now'
    "</button></form></aside>"
)
COMMENTS = (
    '<section class="comments" id="comments"><h3>Comments (3)</h3>'
    '<div class="comment"><p class="comment-author">shopper_88</p><p>I ordered from them '
    "last week and the parcel still has not arrived, typical.</p></div>"
    '<div class="comment"><p class="comment-author">analyst_jo</p><p>Interesting numbers but '
    "I would like to see the margins before getting excited about this.</p></div>"
    '<div class="comment"><p class="comment-author">retailwatcher</p><p>Great reporting as '
    "always, keep it up.</p></div></section>"
)
FOOTER = (
    '<footer class="site-footer"><p>© 2026 All rights reserved. Terms of use · Privacy '
    "policy · Contact us · Advertise with us</p></footer>"
)


def _nav(publisher: str, base: str) -> str:
    links = "".join(
        f'<li><a href="{base}/{publisher}/{section}/">{section.title()}</a></li>'
        for section in ("news", "tech", "markets", "policy")
    )
    return (
        f'<header class="site-header"><a class="logo" href="{base}/{publisher}/">'
        f"{PUBLISHER_NAMES[publisher]}</a><nav><ul>{links}"
        f'<li><a href="{base}/{publisher}/subscribe">Subscribe</a></li></ul></nav></header>'
    )


def _related(related: list[dict[str, Any]], base: str) -> str:
    items = "".join(
        f'<li><a href="{base}{escape(r["path"])}">{escape(r["title"])}</a></li>' for r in related
    )
    return f'<aside class="related"><h3>Related stories</h3><ul>{items}</ul></aside>'


def _human_date(moment: datetime) -> str:
    return f"{moment.day} {moment:%B %Y}"


def _body(article: dict[str, Any]) -> str:
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in article["paragraphs"])
    credit = article.get("credit")
    if credit:
        paragraphs += f'<p class="credit"><em>{escape(credit)}</em></p>'
    return paragraphs


def _json_ld(article: dict[str, Any], url: str) -> str:
    data = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": article["title"],
        "datePublished": article["published"],
        "author": [{"@type": "Person", "name": article["author"]}],
        "publisher": {"@type": "Organization", "name": PUBLISHER_NAMES[article["publisher"]]},
        "mainEntityOfPage": url,
        "inLanguage": article["lang"],
        "description": article["summary"],
    }
    text = json.dumps(data).replace("</", "<\\/")
    return f'<script type="application/ld+json">{text}</script>'


def _open_graph(article: dict[str, Any], url: str) -> str:
    tags = {
        "og:type": "article",
        "og:title": article["title"],
        "og:description": article["summary"],
        "og:url": url,
        "og:site_name": PUBLISHER_NAMES[article["publisher"]],
        "article:published_time": article["published"],
        "article:author": article["author"],
    }
    return "".join(f'<meta property="{k}" content="{escape(v)}">' for k, v in tags.items())


def article_page(article: dict[str, Any], base: str, related: list[dict[str, Any]]) -> str:
    """The HTML of one article in its publisher's house style."""
    publisher = article["publisher"]
    url = base + article["path"]
    published = datetime.fromisoformat(article["published"].replace("Z", "+00:00"))
    head = f"<title>{escape(article['title'])} | {PUBLISHER_NAMES[publisher]}</title>"
    if publisher == "retail-daily":
        head += f'<link rel="canonical" href="{url}">' + _json_ld(article, url)
        byline = ""
    elif publisher == "market-wire":
        head += _open_graph(article, url)
        byline = ""
    else:
        byline = (
            f'<p class="byline">By <span class="author">{escape(article["author"])}</span> · '
            f'<time datetime="{published:%Y-%m-%d}">{_human_date(published)}</time></p>'
        )
    return (
        f'<!DOCTYPE html><html lang="{article["lang"]}"><head><meta charset="utf-8">{head}'
        f"</head><body>{COOKIE_BANNER}{_nav(publisher, base)}<main><article>"
        f'<h1>{escape(article["title"])}</h1><p class="standfirst">{escape(article["summary"])}'
        f'</p>{byline}<div class="article-body">{_body(article)}</div></article>'
        f"{NEWSLETTER}{_related(related, base)}{COMMENTS}</main>{FOOTER}</body></html>"
    )


def listing_page(
    publisher: str, base: str, items: list[dict[str, Any]], page: int, next_path: str | None
) -> str:
    """A "latest stories" page with teasers and a ``rel="next"`` link to the next page."""
    teasers = "".join(
        f'<div class="teaser"><h2><a href="{base}{escape(item["path"])}">'
        f"{escape(item['title'])}</a></h2><p>{escape(item.get('summary', ''))}</p></div>"
        for item in items
    )
    nav = f'<a rel="next" href="{base}{next_path}">Older stories</a>' if next_path else ""
    link = f'<link rel="next" href="{base}{next_path}">' if next_path else ""
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Latest stories, '
        f"page {page} | {PUBLISHER_NAMES[publisher]}</title>{link}</head><body>{COOKIE_BANNER}"
        f'{_nav(publisher, base)}<main><h1>Latest stories</h1>{teasers}<p class="pager">{nav}'
        f"</p></main>{NEWSLETTER}{FOOTER}</body></html>"
    )
