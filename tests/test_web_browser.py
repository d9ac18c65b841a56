"""The web workspace in a real headless Chromium (Debian's, driven by Playwright).

Search with filters, an entity page with its chart and figures, a story, an
article with highlights, the sources page, and a hostile title that must stay
text. Each page's screenshot is saved under ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from config import load_settings
from newsworld import NewsWorld
from storage.engine import open_store
from tests.conftest import REPO, run_cli, world_config
from tests.servers import LiveApp
from web.app import create_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = REPO / "test-artifacts" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# outside CI a machine without Debian's chromium skips these; in CI (.ci/run installs it) they run
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (.ci/run installs it)",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    tab = context.new_page()
    dialogs: list[str] = []
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    tab.dialogs = dialogs
    yield tab
    context.close()
    assert dialogs == [], f"a script ran in the page: {dialogs}"


@pytest.fixture(scope="module")
def site(crawled_site: str) -> str:
    return crawled_site


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5_000


def test_search_with_filters_highlights_matches(page: Any, site: str) -> None:
    page.goto(f"{site}/search")
    page.fill("input[name=q]", "GMV")
    page.select_option("select[name=entity]", "Temu")
    page.click("button[type=submit]")
    page.wait_for_selector("li.result")
    assert "q=GMV" in page.url and "entity=Temu" in page.url
    results = page.locator("li.result")
    assert results.count() >= 2
    marks = page.locator("li.result p.snippet mark")
    assert marks.count() >= 1 and marks.first.inner_text().lower() == "gmv"
    tags = page.locator("li.result").first.locator("a.tag").all_inner_texts()
    assert "Temu" in tags
    shot(page, "search")
    page.select_option("select[name=type]", "layoffs")
    page.fill("input[name=q]", "")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    titles = page.locator("li.result a.title").all_inner_texts()
    assert titles and any("180" in t or "cut" in t.lower() for t in titles)


def test_entity_page_shows_chart_figures_and_sorts(page: Any, site: str) -> None:
    page.goto(f"{site}/entities")
    page.click("text=Temu")
    page.wait_for_selector("svg.trend")
    assert page.locator("h1").inner_text() == "Temu"
    assert page.locator("svg.trend").is_visible()
    rows = page.locator("#figures tbody tr")
    assert rows.count() >= 5
    assert page.locator("#events .timeline li").count() >= 1
    shot(page, "entity")
    page.click("#figures th >> text=Value")
    page.wait_for_url("**sort=value**")
    cells = page.locator("#figures tbody td[data-value]")
    values = [float(v) for v in cells.evaluate_all("cells => cells.map(c => c.dataset.value)")]
    assert values == sorted(values, reverse=True)


def test_follow_a_story_then_open_an_article_with_highlights(page: Any, site: str) -> None:
    page.goto(f"{site}/stories?min_sources=2")
    page.locator("ul.stories a").first.click()
    page.wait_for_selector("table.story")
    rows = page.locator("table.story tbody tr")
    assert rows.count() >= 2
    assert rows.first.locator(".badge").inner_text() == "first"
    shot(page, "story")
    rows.nth(1).locator("td a").first.click()
    page.wait_for_selector("article .body")
    assert page.locator(".body mark.entity").count() >= 1
    assert page.locator(".body mark.figure").count() >= 1
    title = page.locator(".body mark.figure").first.get_attribute("title") or ""
    assert " · " in title  # entity · metric · value · change
    original = page.locator("a.external").first.get_attribute("href") or ""
    assert original.startswith("http://127.0.0.1")
    shot(page, "article")


def test_sources_page(page: Any, site: str) -> None:
    page.goto(f"{site}/sources")
    assert page.locator("tr.source").count() == 3
    assert page.locator("tr.endpoint").count() >= 5
    shot(page, "sources")


def test_bad_parameters_show_an_error_page(page: Any, site: str) -> None:
    response = page.goto(f"{site}/search?since=yesterday")
    assert response is not None and response.status == 400
    assert "since" in page.locator(".error").inner_text()


FORMULA = '=HYPERLINK("http://evil.example","open") Shein formulacase'
HOSTILE = '<img src=x onerror=alert(1)><script>alert("title")</script> Temu hostilecase headline'


@pytest.mark.fault(17)
def test_hostile_text_stays_text(page: Any, tmp_path: Path) -> None:
    with NewsWorld() as own:
        own.edit_article(
            "temu-singles-day-gmv",
            title=HOSTILE,
            paragraphs=[
                "<script>alert('body')</script> Temu said GMV rose 23% to $17.5 billion "
                "in its November sale, and <b onmouseover=alert(2)>hover</b> here.",
                "The discount platform said it processed about 310 million orders during "
                "the 12-day event, which it runs in more than 90 countries.",
                '<a href="javascript:alert(3)">Analysts</a> said Europe offset a weaker '
                "United States, where tariffs have pushed up prices for shoppers.",
            ],
        )
        own.edit_article("shein-seeks-50bn-hong-kong-listing", title=FORMULA)
        config = world_config(own, tmp_path)
        assert run_cli("crawl", "--json", config=config).code == 0
    settings = load_settings(config, required=True)
    store = open_store(settings.store.url)
    with LiveApp(create_app(settings, store)) as live:
        page.goto(f"{live.url}/search?q=hostilecase")
        page.wait_for_selector("li.result")
        assert HOSTILE in page.locator("li.result a.title").first.inner_text()
        page.locator("li.result a.title").first.click()
        page.wait_for_selector("article .body")
        assert "<script>" in page.locator("article .body").inner_text()
        assert page.locator(".body script, .body img, .body b, .body a").count() == 0
        page.locator("article .body").hover()
        shot(page, "hostile")
        page.click("text=its story")
        page.wait_for_selector("table.story")
        for path in (page.url, f"{live.url}/stories", f"{live.url}/entities/Temu"):
            page.goto(path)
            assert HOSTILE in page.locator("main").inner_text(), path
            assert page.locator("main img, main script, main b").count() == 0, path
        with httpx.Client(base_url=live.url) as client:
            found = client.get("/api/articles", params={"q": "hostilecase"})
            assert found.headers["content-type"] == "application/json"
            assert found.json()["items"][0]["title"] == HOSTILE  # data, shown by whoever escapes
            listed = client.get("/api/articles", params={"q": "formulacase", "format": "csv"})
            rows = list(csv.DictReader(io.StringIO(listed.text)))
            assert rows and rows[0]["title"] == "'" + FORMULA
    store.close()
