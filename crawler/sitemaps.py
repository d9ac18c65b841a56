"""Crawler stage: parsing sitemaps, news sitemaps and sitemap indexes.

Pure: bytes in, entries out. The XML parser resolves no entities, reads no
DTD and touches no network, so XXE and entity-expansion tricks read nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from crawler.dates import parse_iso
from crawler.urls import absolute, is_http


@dataclass(frozen=True, slots=True)
class SitemapEntry:
    url: str
    lastmod: datetime | None = None
    title: str | None = None
    published: datetime | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedSitemap:
    kind: str  # "urlset", "sitemapindex" or "unknown"
    entries: list[SitemapEntry]
    warning: str | None = None


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        recover=True,
        remove_comments=True,
        remove_pis=True,
    )


def _local(tag: object) -> str:
    """The local name of an element's tag (``{namespace}name``); "" for comments and entities.

    Read from the string: a recovering parser can give tags (``:``, ``a:b``) that
    ``etree.QName`` rejects.
    """
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _text(node: etree._Element) -> str | None:
    """The node's text, None when there is none or it cannot be read.

    A recovering libxml2 keeps ``&#xD800;`` as bytes that are not UTF-8, and reading
    such a text raises.
    """
    try:
        text = node.text
    except UnicodeDecodeError:
        return None
    return text.strip() or None if text else None


def _child_texts(node: etree._Element) -> dict[str, str]:
    found: dict[str, str] = {}
    for child in node.iter():
        name = _local(child.tag)
        if name and name not in found:
            text = _text(child)
            if text:
                found[name] = text
    return found


def parse_sitemap(body: bytes, url: str) -> ParsedSitemap:
    """The URLs (with lastmod and news metadata) or child sitemaps listed in ``body``."""
    if not body.strip():
        return ParsedSitemap("unknown", [], "empty body")
    parser = _parser()
    try:
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError as exc:
        return ParsedSitemap("unknown", [], f"not XML: {exc}")
    if root is None:
        return ParsedSitemap("unknown", [], "not XML")
    kind = _local(root.tag)
    if kind not in ("urlset", "sitemapindex"):
        return ParsedSitemap("unknown", [], f"not a sitemap (root element <{kind}>)")
    wanted = "url" if kind == "urlset" else "sitemap"
    entries = []
    for node in root:
        if _local(node.tag) != wanted:
            continue
        fields = _child_texts(node)
        loc = fields.get("loc")
        if not loc or not is_http(absolute(url, loc)):
            continue
        entries.append(
            SitemapEntry(
                url=absolute(url, loc),
                lastmod=parse_iso(fields.get("lastmod")),
                title=fields.get("title"),
                published=parse_iso(fields.get("publication_date")),
                language=fields.get("language"),
            )
        )
    return ParsedSitemap(kind, entries, _recovered_from(parser))


def _recovered_from(parser: etree.XMLParser) -> str | None:
    """What the recovering parser had to repair (the first error), None for a well-formed file."""
    errors = [e for e in parser.error_log if e.level >= etree.ErrorLevels.ERROR]
    if not errors:
        return None
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"malformed sitemap: {errors[0].message.strip()}, line {errors[0].line}{more}"
