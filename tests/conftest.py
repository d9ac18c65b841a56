"""Shared fixtures: the news world on loopback, configuration files, and the CLI run for real."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from config import example_watchlist_toml
from newsworld import NewsWorld, sources_toml

REPO = Path(__file__).resolve().parent.parent


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run_cli(
    *args: str,
    config: Path | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 240,
) -> CliResult:
    """Run ``shopwatch ARGS`` in a child process, as a user would."""
    full_env = {k: v for k, v in os.environ.items() if k != "SHOPWATCH_CONFIG"}
    full_env["COLUMNS"] = "200"
    full_env.update(env or {})
    command = [sys.executable, "-m", "shopwatch"]
    if config is not None:
        command += ["--config", str(config)]
    proc = subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=cwd or REPO,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@contextmanager
def postgres_database(prefix: str = "shopwatch_test") -> Iterator[str]:
    """A new, empty PostgreSQL database on this machine (its URL); dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the server is part of this machine; say so clearly
        admin.dispose()
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is not reachable: {exc}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def world_config(world: NewsWorld, folder: Path, extra: str = "") -> Path:
    """A configuration file crawling ``world`` into a store in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "shopwatch.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{folder / "shopwatch.db"}"\n\n'
        '[crawl]\nuser_agent = "shopwatch-test/0.1"\nallowed_networks = ["127.0.0.1/32"]\n'
        f"{extra}\n{sources_toml(world.base_url)}\n{example_watchlist_toml()}",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="session")
def world() -> Iterator[NewsWorld]:
    with NewsWorld() as running:
        yield running


@dataclass
class CrawledWorld:
    """The world crawled twice into one store, with what each crawl requested."""

    world: NewsWorld
    config: Path
    first: CliResult
    second: CliResult
    first_requests: list[Any]
    second_requests: list[Any]


@pytest.fixture(scope="session")
def crawled(world: NewsWorld, tmp_path_factory: pytest.TempPathFactory) -> CrawledWorld:
    config = world_config(world, tmp_path_factory.mktemp("crawled"))
    mark = len(world.requests)
    first = run_cli("crawl", "--json", config=config)
    middle = len(world.requests)
    second = run_cli("crawl", "--json", config=config)
    return CrawledWorld(
        world,
        config,
        first,
        second,
        world.requests_since(mark)[: middle - mark],
        world.requests_since(middle),
    )


@pytest.fixture(scope="module")
def crawled_site(crawled: CrawledWorld) -> Iterator[str]:
    """The web application over the crawled store, served by uvicorn on loopback: its URL."""
    from config import load_settings
    from storage.engine import open_store
    from tests.servers import LiveApp
    from web.app import create_app

    settings = load_settings(crawled.config, required=True)
    store = open_store(settings.store.url)
    with LiveApp(create_app(settings, store)) as live:
        yield live.url
    store.close()


class Service:
    """One ``shopwatch run`` child process, its log in a file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log_path = log
        env = {k: v for k, v in os.environ.items() if k != "SHOPWATCH_CONFIG"}
        with log.open("ab") as out:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "shopwatch", "--config", str(config), "run"],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                env=env,
            )

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_started(self, timeout: float = 60) -> None:
        from tests.servers import wait_for

        wait_for(
            lambda: "scheduler started" in self.log or self.proc.poll() is not None,
            timeout,
            "the service to start",
        )
        assert self.proc.poll() is None, self.log

    def stop(self, timeout: float = 90) -> int:
        """SIGTERM, then the exit code (killed if it has not exited within ``timeout``)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        return code


@pytest.fixture
def services() -> Iterator[list[Service]]:
    """The services a test starts; any still running at its end is killed."""
    started: list[Service] = []
    yield started
    for service in started:
        if service.proc.poll() is None:
            service.proc.kill()
            service.proc.wait()
