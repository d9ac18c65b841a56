"""The README documents every setting and command, and its Quick start is what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from cli.main import app
from config.model import (
    AlertRule,
    CrawlSettings,
    DeliverySettings,
    DigestSettings,
    NlpSettings,
    Schedule,
    SchedulerSettings,
    SmtpSettings,
    Source,
    StoreSettings,
    Watch,
)

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
CI = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(title)
    following = README.find("\n### ", start + len(title))
    return README[start : following if following > 0 else None]


def test_every_setting_is_documented() -> None:
    models: dict[str, type[BaseModel]] = {
        "### `[store]`": StoreSettings,
        "### `[crawl]`": CrawlSettings,
        "### `[[sources]]`": Source,
        "### `[[watch]]`": Watch,
        "### `[nlp]`": NlpSettings,
        "### `[[schedules]]`": Schedule,
        "### `[scheduler]`": SchedulerSettings,
        "### `[digest]`": DigestSettings,
        "### `[smtp]`": SmtpSettings,
        "### `[delivery]`": DeliverySettings,
        "### `[[alerts]]`": AlertRule,
    }
    for title, model in models.items():
        section = _section(title)
        for key in model.model_fields:
            assert f"| `{key}` |" in section, f"{title} lacks {key}"


def test_every_command_is_documented() -> None:
    names = [
        command.name or command.callback.__name__
        for command in app.registered_commands
        if command.callback is not None
    ]
    for group in app.registered_groups:  # shopwatch db upgrade, …
        assert group.typer_instance is not None
        names += [
            f"{group.name} {command.name or command.callback.__name__}"
            for command in group.typer_instance.registered_commands
            if command.callback is not None
        ]
    assert names
    for name in names:
        assert f"### `shopwatch {name}" in README, name


def test_quick_start_has_two_commands_and_ci_runs_the_second() -> None:
    quick = README.split("## Quick start", 1)[1]
    block = re.search(r"```\w*\n(.*?)```", quick, re.S)
    assert block is not None
    lines = [line for line in block.group(1).splitlines() if line.strip()]
    assert len(lines) == 2
    assert lines[1] in CI.splitlines()


def test_every_section_has_a_heading() -> None:
    from config.model import Settings

    for name in Settings.model_fields:
        assert f"### `[{name}]`" in README or f"### `[[{name}]]`" in README, name
