"""Fakes that ship with the package (like structlog.testing): a Slack Web API on loopback (`FakeSlack`, see
`pipeline.fakeslack`), story factories. Point `slack_sdk.WebClient(base_url=fake.base_url)` at the fake.
"""

from __future__ import annotations

from pipeline.fakeslack import FakeSlack, Fault
from pipeline.model import Story

__all__ = ["FakeSlack", "Fault", "make_story"]


def make_story(title: str, summary: str = "", source: str = "Outlet", *, link: str = "", guid: str = "",
               published: float = 1_672_000_000.0, fetched: float = 1_672_000_100.0, sid: str = "") -> Story:
    """A Story for tests; the id defaults to one derived from source and title."""
    return Story(
        id=sid or f"{source}:{title}"[:64], feed_url=f"http://127.0.0.1/{source}.xml", source=source,
        title=title, summary=summary, link=link, guid=guid, published=published, fetched=fetched,
    )
