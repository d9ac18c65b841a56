"""The JSON API over real HTTP (uvicorn on loopback) on the crawled news world: every endpoint
and filter, pagination, CSV, errors as 4xx with a message, security headers and the token."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from config import load_settings
from storage.engine import open_store
from tests.conftest import CrawledWorld
from tests.servers import LiveApp
from web.app import create_app

TOKEN = "t0ken-for-tests"


@pytest.fixture(scope="module")
def api(crawled_site: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=crawled_site, timeout=30) as client:
        yield client


def items(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"items", "limit", "offset", "next"}
    return list(body["items"])


def test_articles_list_pages_newest_first(api: httpx.Client) -> None:
    first = api.get("/api/articles", params={"limit": 10}).json()
    assert len(first["items"]) == 10 and first["next"]
    second = api.get(first["next"]).json()
    assert second["offset"] == 10 and len(second["items"]) == 10
    ids = [a["id"] for a in first["items"] + second["items"]]
    assert len(set(ids)) == 20
    dates = [a["published_at"] for a in first["items"] + second["items"]]
    assert dates == sorted(dates, reverse=True)
    everything = items(api, "/api/articles", limit=500)
    assert len(everything) == 43
    assert api.get("/api/articles", params={"limit": 500}).json()["next"] is None


def test_articles_filters(api: httpx.Client) -> None:
    temu = items(api, "/api/articles", q="Temu", limit=100)
    assert temu and all("snippet" in a and "[" in a["snippet"] for a in temu)
    by_entity = items(api, "/api/articles", entity="temu", limit=100)
    assert by_entity and all("Temu" in a["entities"] for a in by_entity)
    retail = items(api, "/api/articles", source="retail-daily", limit=100)
    assert retail and {a["source"] for a in retail} == {"retail-daily"}
    two = items(api, "/api/articles", source=["retail-daily", "shop-signal"], limit=100)
    assert {a["source"] for a in two} == {"retail-daily", "shop-signal"}
    german = items(api, "/api/articles", language="de")
    assert len(german) == 1
    november = items(api, "/api/articles", since="2026-11-01", until="2026-11-13", limit=100)
    assert november and all(
        "2026-11-01" <= a["published_at"][:10] <= "2026-11-13" for a in november
    )
    leadership = items(api, "/api/articles", type="leadership", limit=100)
    event_articles = {
        e["article_id"] for e in items(api, "/api/events", type="leadership", limit=500)
    }
    assert leadership and {a["id"] for a in leadership} == event_articles
    ranked = items(api, "/api/articles", q="GMV", order="relevance", limit=5)
    assert ranked and len(ranked) <= 5


@pytest.mark.fault(18)
def test_hostile_queries_are_searched_literally(api: httpx.Client) -> None:
    for q in ("' OR 1=1--", '"unbalanced', "a-b", "NEAR(", "*", "\x00"):
        response = api.get("/api/articles", params={"q": q})
        assert response.status_code == 200, (q, response.text)
        assert isinstance(response.json()["items"], list)


def test_article_detail_and_404(api: httpx.Client) -> None:
    first = items(api, "/api/articles", entity="Temu", limit=1)[0]
    detail = api.get(f"/api/articles/{first['id']}").json()
    assert detail["id"] == first["id"] and detail["text"]
    assert "Temu" in detail["entities"]
    assert detail["figures"] and all("metric" in f for f in detail["figures"])
    assert isinstance(detail["story_id"], int)
    missing = api.get("/api/articles/999999")
    assert missing.status_code == 404 and "no article" in missing.json()["detail"]


def test_stories(api: httpx.Client) -> None:
    shared = items(api, "/api/stories", min_sources=2, limit=50)
    assert shared and all(s["sources"] >= 2 for s in shared)
    for story in shared:
        times = [a["at"] for a in story["articles"]]
        assert times == sorted(times)  # earliest first: who was first
    temu = items(api, "/api/stories", entity="Temu", limit=50)
    assert temu and len(temu) < len(items(api, "/api/stories", limit=500))
    recent = items(api, "/api/stories", since="2026-11-01", limit=500)
    assert recent and all(any(a["at"] >= "2026-11-01" for a in s["articles"]) for s in recent)
    one = api.get(f"/api/stories/{shared[0]['id']}").json()
    assert one["id"] == shared[0]["id"] and len(one["articles"]) >= 2
    assert api.get("/api/stories/999999").status_code == 404


def test_entities_and_mentions(api: httpx.Client) -> None:
    entities = items(api, "/api/entities")
    names = {e["name"]: e for e in entities}
    assert {"Temu", "Shein", "TikTok Shop", "Amazon"} <= set(names)
    assert names["Temu"]["parent"] == "PDD Holdings" and names["Temu"]["articles"] > 0
    assert all(e["id"] == e["name"] for e in entities)
    daily = items(api, "/api/entities/Temu/mentions")
    assert daily and all(m["entity"] == "Temu" and m["count"] >= 1 for m in daily)
    weekly = items(api, "/api/entities/Temu/mentions", interval="week")
    assert sum(m["count"] for m in weekly) == sum(m["count"] for m in daily)
    by_story = items(api, "/api/entities/Temu/mentions", stories="true")
    assert sum(m["count"] for m in by_story) <= sum(m["count"] for m in daily)
    # with a date, the counts come from the period's articles; without, from the mentions
    assert items(api, "/api/entities/Temu/mentions", since="2000-01-01") == daily
    every_story = items(api, "/api/entities/Temu/mentions", stories="true", since="2000-01-01")
    assert every_story == by_story
    since = items(api, "/api/entities/Temu/mentions", since="2026-11-01")
    assert since and all(m["period"] >= "2026-11-01" for m in since)
    people = api.get("/api/entities/TikTok Shop/people").json()
    assert any(p["name"] == "Maria Okafor" for p in people)


def test_figures_and_events(api: httpx.Client) -> None:
    gmv = items(api, "/api/figures", entity="Temu", metric="gmv", limit=100)
    assert gmv and all(f["entity"] == "Temu" and f["metric"] == "GMV" for f in gmv)
    assert all(isinstance(f["id"], int) for f in gmv)
    biggest = items(api, "/api/figures", order="value", limit=20)
    values = [f["value"] for f in biggest]
    assert values == sorted(values, reverse=True)
    windowed = items(api, "/api/figures", since="2026-11-13", until="2026-11-13", limit=100)
    assert windowed and all(f["published_at"].startswith("2026-11-13") for f in windowed)
    layoffs = items(api, "/api/events", type="layoffs", entity="Amazon")
    assert layoffs and all(e["type"] == "layoffs" and e["entity"] == "Amazon" for e in layoffs)
    paged = items(api, "/api/events", limit=5, offset=5)
    assert len(paged) == 5
    assert paged[0]["id"] == items(api, "/api/events", limit=10)[5]["id"]
    october = items(api, "/api/events", since="2026-10-01", until="2026-10-31", limit=500)
    assert october and all(e["published_at"][:7] == "2026-10" for e in october)


def test_sources(api: httpx.Client) -> None:
    sources = items(api, "/api/sources")
    assert [s["source"] for s in sources] == ["retail-daily", "market-wire", "shop-signal"]
    assert all(s["articles"] > 0 and s["endpoints"] for s in sources)
    assert all(e["last_status"] in (200, 304) for s in sources for e in s["endpoints"])


@pytest.mark.parametrize(
    "path",
    [
        "/api/articles",
        "/api/stories",
        "/api/entities",
        "/api/entities/Temu/mentions",
        "/api/figures",
        "/api/events",
        "/api/sources",
    ],
)
def test_every_list_answers_csv(api: httpx.Client, path: str) -> None:
    by_param = api.get(path, params={"format": "csv"})
    by_accept = api.get(path, headers={"Accept": "text/csv"})
    for response in (by_param, by_accept):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert rows and ("id" in rows[0] or "entity" in rows[0])
    assert by_param.text == by_accept.text


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"limit": 0}, 422, "limit"),
        ({"limit": 100000}, 422, "limit"),
        ({"offset": -1}, 422, "offset"),
        ({"since": "last tuesday"}, 400, "since"),
        ({"until": "2026-13-45"}, 400, "until"),
        ({"type": "rumours"}, 422, "type"),
        ({"order": "random"}, 422, "order"),
        ({"format": "xml"}, 422, "format"),
        ({"order": "relevance"}, 200, ""),  # without q: newest first, not an error
    ],
)
def test_bad_parameters_are_4xx_with_a_message(
    api: httpx.Client, params: dict[str, Any], status: int, says: str
) -> None:
    response = api.get("/api/articles", params=params)
    assert response.status_code == status, response.text
    if status != 200:
        assert says in str(response.json()["detail"])
        assert "Traceback" not in response.text


def test_openapi_lists_every_endpoint(api: httpx.Client) -> None:
    spec = api.get("/openapi.json").json()
    assert set(spec["paths"]) >= {
        "/api/articles",
        "/api/articles/{article_id}",
        "/api/stories",
        "/api/stories/{story_id}",
        "/api/entities",
        "/api/entities/{name}/mentions",
        "/api/figures",
        "/api/events",
        "/api/sources",
    }
    assert not any(path.startswith(("/search", "/login")) for path in spec["paths"])


def test_security_headers(api: httpx.Client) -> None:
    for path in ("/api/articles", "/search", "/nowhere"):
        headers = api.get(path).headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "unsafe-inline" not in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"


def test_a_token_guards_everything_but_login(crawled: CrawledWorld) -> None:
    settings = load_settings(crawled.config, required=True)
    store = open_store(settings.store.url)
    app = create_app(settings, store, token=TOKEN)
    with LiveApp(app) as live, httpx.Client(base_url=live.url, timeout=30) as client:
        denied = client.get("/api/articles")
        assert denied.status_code == 401 and "token" in denied.json()["detail"]
        wrong = client.get("/api/articles", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        allowed = client.get("/api/articles", headers={"Authorization": f"Bearer {TOKEN}"})
        assert allowed.status_code == 200
        page = client.get("/search")
        assert page.status_code == 303 and page.headers["location"] == "/login"
        assert client.get("/login").status_code == 200
        bad = client.post("/login", data={"token": "nope"})
        assert bad.status_code == 401
        good = client.post("/login", data={"token": TOKEN})
        assert good.status_code == 303 and "shopwatch_token" in good.cookies
        assert client.get("/search").status_code == 200  # the client keeps the cookie
    store.close()
