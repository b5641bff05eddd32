"""Shared fixtures: real loopback servers (feeds, fake Slack), a temporary SQLite store, the repo paths."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.telemetry import setup_logging

setup_logging(logging.INFO)  # before apache_beam is imported by any test module

from pipeline import shutdown  # noqa: E402
from pipeline.demo import FEEDS_DIR, LATER_DIR  # noqa: E402
from pipeline.demo.server import FeedServer  # noqa: E402
from pipeline.state.sqlite import SqliteStore  # noqa: E402
from pipeline.testing import FakeSlack  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(name="repo")
def _repo() -> Path:
    """The repository root."""
    return REPO


@pytest.fixture(name="store")
def _store(tmp_path: Path) -> Iterator[SqliteStore]:
    """A real SQLite state file in a temporary directory."""
    s = SqliteStore(tmp_path / "state.db")
    yield s
    s.close()


@pytest.fixture(name="demo_feeds")
def _demo_feeds() -> Iterator[FeedServer]:
    """The bundled demo feeds on loopback (the digest feed gains the Kherson story from the 2nd request)."""
    with FeedServer.from_directory(FEEDS_DIR, LATER_DIR) as server:
        yield server


@pytest.fixture(name="slack")
def _slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    """A fake Slack Web API on loopback; SLACK_BOT_TOKEN and the API URL point the worker at it."""
    fake = FakeSlack()
    monkeypatch.setenv("SLACK_BOT_TOKEN", fake.token)
    monkeypatch.setenv("NEWSWATCH_SLACK_API_URL", fake.base_url)
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def _reset_stop() -> Iterator[None]:
    """Each test starts with the shutdown flag clear."""
    shutdown.STOP.clear()
    yield
    shutdown.STOP.clear()
