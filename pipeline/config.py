"""Worker config (YAML), validated strictly: unknown keys are errors, each reported as `path:line: message`.

    feeds:                          # required: the feeds to poll
      - url: https://example.org/rss.xml
        name: Example News          # optional; default: the feed's own title
        tags: [uk]                  # optional
    rules: ./rules                  # required: directory of rule files (relative to this file)
    state: ./newswatch.db           # SQLite state file (default: newswatch.db beside this file)
    slack:
      channel: "#newswatch"         # default channel for rules without notify.channel
    poll_interval: 300              # seconds between poll cycles (default 300, minimum 1)
    dedup_window_hours: 72          # how long a story cluster stays open for new members
    max_item_age_hours: 72          # ignore items published longer ago (no flood of old news); 0 = off
    fetch_timeout: 15               # seconds per HTTP request
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import ConfigError, Location, Problem
from pipeline.model import FeedSpec
from pipeline.yamlsrc import Reader

KEYS = ("feeds", "rules", "state", "slack", "poll_interval", "dedup_window_hours", "max_item_age_hours",
        "fetch_timeout")
DEFAULT_CHANNEL = "#newswatch"


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """Everything the worker needs; paths are absolute."""

    feeds: tuple[FeedSpec, ...]
    rules_dir: str
    state_path: str
    channel: str = DEFAULT_CHANNEL
    poll_interval: float = 300.0
    dedup_window: float = 72 * 3600.0
    fetch_timeout: float = 15.0
    max_item_age: float | None = 72 * 3600.0


def load_config(path: str | Path) -> WorkerConfig:
    """Read and validate a worker config file; raises ConfigError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([Problem(Location(str(path)), f"cannot read config: {e}")]) from e
    r = Reader(str(path))
    docs = r.documents(text)
    if r.problems:
        raise ConfigError(r.report())
    if len(docs) != 1:
        raise ConfigError([Problem(Location(str(path)), "config must be exactly one YAML mapping")])
    keys = r.mapping(docs[0], "the worker config", KEYS, required=("feeds", "rules")) or {}
    base = path.resolve().parent
    feeds: list[FeedSpec] = []
    seen: set[str] = set()
    feed_nodes = (r.sequence(keys["feeds"][1], "'feeds'") or []) if "feeds" in keys else []
    for node in feed_nodes:
        f = r.mapping(node, "a feed", ("url", "name", "tags"), required=("url",))
        if not f or "url" not in f:
            continue
        url = r.string(f["url"][1], "'url'")
        if url is None:
            continue
        if not url.startswith(("http://", "https://")):
            r.error(f["url"][1], f"feed url must start with http:// or https://, got '{url}'")
            continue
        if url in seen:
            r.error(f["url"][1], f"feed '{url}' is listed twice; remove one")
            continue
        seen.add(url)
        name = (r.string(f["name"][1], "'name'") or "") if "name" in f else ""
        tags = tuple(t for t, _ in r.strings(f["tags"][1], "'tags'")) if "tags" in f else ()
        feeds.append(FeedSpec(url, name, tags))
    if "feeds" in keys and not feeds and not r.problems:
        r.error(keys["feeds"][1], "'feeds' is empty; list at least one feed url")
    rules = r.string(keys["rules"][1], "'rules'") if "rules" in keys else None
    state = (r.string(keys["state"][1], "'state'") if "state" in keys else None) or "newswatch.db"
    channel = DEFAULT_CHANNEL
    if "slack" in keys:
        s = r.mapping(keys["slack"][1], "'slack'", ("channel",))
        if s and "channel" in s:
            channel = r.string(s["channel"][1], "'slack.channel'") or DEFAULT_CHANNEL
    interval = r.number(keys["poll_interval"][1], "'poll_interval'", minimum=1) if "poll_interval" in keys else 300
    window = (r.number(keys["dedup_window_hours"][1], "'dedup_window_hours'", minimum=0.01)
              if "dedup_window_hours" in keys else 72)
    max_age = (r.number(keys["max_item_age_hours"][1], "'max_item_age_hours'", minimum=0)
               if "max_item_age_hours" in keys else 72)
    timeout = r.number(keys["fetch_timeout"][1], "'fetch_timeout'", minimum=0.1) if "fetch_timeout" in keys else 15
    if r.problems:
        raise ConfigError(r.report())
    assert rules is not None and interval is not None and window is not None and timeout is not None
    assert max_age is not None
    return WorkerConfig(
        feeds=tuple(feeds),
        rules_dir=str((base / rules).resolve()),
        state_path=str((base / state).resolve()),
        channel=channel,
        poll_interval=float(interval),
        dedup_window=float(window) * 3600,
        fetch_timeout=float(timeout),
        max_item_age=float(max_age) * 3600 if max_age else None,
    )
