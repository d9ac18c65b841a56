"""``shopwatch serve`` as a user runs it: loopback by default, a token required elsewhere."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx

from tests.conftest import REPO, CrawledWorld, run_cli
from tests.servers import free_port, wait_for


def test_serving_beyond_loopback_needs_a_token(crawled: CrawledWorld) -> None:
    refused = run_cli(
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        str(free_port()),
        config=crawled.config,
        env={"SHOPWATCH_WEB_TOKEN": ""},
    )
    assert refused.code == 2
    assert "refusing to serve on 0.0.0.0 without a token" in refused.err
    assert "SHOPWATCH_WEB_TOKEN" in refused.err


def test_serve_answers_and_stops(crawled: CrawledWorld) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "SHOPWATCH_CONFIG"}
    env["SHOPWATCH_WEB_TOKEN"] = "s3cret-token"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shopwatch",
            "--config",
            str(crawled.config),
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return proc.poll() is not None

        wait_for(up, 60, "shopwatch serve to answer")
        assert proc.poll() is None
        assert httpx.get(f"{url}/api/articles").status_code == 401
        ok = httpx.get(f"{url}/api/articles", headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200 and ok.json()["items"]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    # uvicorn shuts down cleanly on SIGTERM, then re-raises the signal as servers do
    assert proc.returncode in (0, -signal.SIGTERM), err
    assert "Traceback" not in err and "(token required)" in err
