"""Worker config (YAML), validated strictly: unknown keys are errors, each reported as `path:line: message`.

    feeds:                          # required: a list, or the path of a YAML file holding the list
      - url: https://example.org/rss.xml
        name: Example News          # optional; default: the feed's own title
        tags: [uk]                  # optional
        interval: 10m               # optional: fixed polling interval (default: adapted to the feed)
    rules: ./rules                  # required: directory of rule files (relative to this file)
    state: ./newswatch.db           # SQLite state file (default: newswatch.db beside this file)
    slack:
      channel: "#newswatch"         # default channel for rules without notify.channel
      pace: 1                       # messages a second per channel (Slack allows about 1), in bursts of
      burst: 5
      digest_after: 20              # more waiting alerts than this for one channel: the rest as one digest
      timeout: 15                   # seconds per Slack call
    poll_interval: 5m               # first interval of a new feed, before its rate is known (default 5m)
    dedup_window_hours: 72          # how long a story cluster stays open for new members
    max_item_age_hours: 72          # ignore items published longer ago (no flood of old news); 0 = off
    fetch_timeout: 15               # seconds per HTTP read (a whole response gets 4x this)
    dedup:
      boilerplate:                  # extra text to ignore when comparing copies (regular expressions)
        - "subscribe to our newsletter"
      capacity: 250000              # open clusters the candidate table remembers well; 256 bytes each,
                                    # allocated up front (1000000 = 244 MiB); beyond it the oldest fade first
    metrics:                        # optional: /healthz, /readyz and /metrics (Prometheus) over HTTP
      port: 9464                    # 0 picks a free port (logged)
      host: 127.0.0.1               # 0.0.0.0 to expose it (containers)
    polling:                        # all optional
      tick: 30s                     # how often the worker looks for due feeds
      min_interval: 2m              # adaptive interval bounds
      max_interval: 4h
      per_host_concurrency: 2       # requests in flight per host
      per_host_spacing: 0s          # pause between two requests to one host (per lane)
      workers: 16                   # fetch threads
      quarantine_after: 10          # consecutive failures before a feed is re-probed only every 12h
      max_bytes: 10485760           # response size cap

Durations are seconds, or strings like '90s', '5m', '2h', '1d'. The feeds list (inline or in its file) is
re-read when edited; a broken edit keeps the last good list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from pipeline.dedup.index import DEFAULT_CAPACITY
from pipeline.errors import ConfigError, Location, Problem
from pipeline.model import FeedSpec
from pipeline.sources.fetch import FetchPolicy
from pipeline.sources.poll import PollSettings
from pipeline.sources.schedule import SchedulePolicy
from pipeline.yamlsrc import Node, Reader

KEYS = ("feeds", "rules", "state", "slack", "poll_interval", "dedup_window_hours", "max_item_age_hours",
        "fetch_timeout", "polling", "dedup", "metrics")
POLLING_KEYS = ("tick", "min_interval", "max_interval", "per_host_concurrency", "per_host_spacing", "workers",
                "quarantine_after", "max_bytes")
DEFAULT_CHANNEL = "#newswatch"


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """Everything the worker needs; paths are absolute. `feeds_file` is the file the feeds list came from."""

    feeds: tuple[FeedSpec, ...]
    rules_dir: str
    state_path: str
    channel: str = DEFAULT_CHANNEL
    poll_interval: float = 300.0
    dedup_window: float = 72 * 3600.0
    fetch_timeout: float = 15.0
    max_item_age: float | None = 72 * 3600.0
    tick: float = 30.0
    polling: PollSettings = field(default_factory=PollSettings)
    path: str = ""
    feeds_file: str = ""
    boilerplate: tuple[str, ...] = ()  # extra dedup boilerplate patterns (regular expressions)
    dedup_capacity: int = DEFAULT_CAPACITY
    slack_pace: float = 1.0  # messages a second per channel (bursts of slack_burst)
    slack_burst: int = 5
    digest_after: int = 20  # more unsent alerts than this for one channel: the rest go as one digest
    slack_timeout: float = 15.0
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None  # None: no /healthz, /readyz, /metrics endpoint

    def poll_settings(self) -> PollSettings:
        """Polling settings with the top-level knobs applied."""
        p = self.polling
        return replace(p, max_age=self.max_item_age,
                       fetch=replace(p.fetch, read_timeout=self.fetch_timeout, total_timeout=4 * self.fetch_timeout),
                       schedule=replace(p.schedule, default_interval=self.poll_interval))


def load_config(path: str | Path) -> WorkerConfig:
    """Read and validate a worker config file; raises ConfigError listing every problem."""
    path = Path(path)
    r = Reader(str(path))
    root = _root(r, path)
    keys = r.mapping(root, "the worker config", KEYS, required=("feeds", "rules")) or {}
    base = path.resolve().parent
    feeds: tuple[FeedSpec, ...] = ()
    feeds_file = str(path.resolve())
    if "feeds" in keys:
        node = keys["feeds"][1]
        if isinstance(node, yaml.ScalarNode):
            feeds_path = (base / str(r.value(node))).resolve()
            feeds_file = str(feeds_path)
            feeds = load_feeds(feeds_path)  # raises ConfigError with that file's own problems
        else:
            feeds = _feeds(r, node)
    rules = r.string(keys["rules"][1], "'rules'") if "rules" in keys else None
    state = (r.string(keys["state"][1], "'state'") if "state" in keys else None) or "newswatch.db"
    channel = DEFAULT_CHANNEL
    slack_opts: dict[str, float] = {}
    if "slack" in keys:
        s = r.mapping(keys["slack"][1], "'slack'", ("channel", "pace", "burst", "digest_after", "timeout")) or {}
        if "channel" in s:
            channel = r.string(s["channel"][1], "'slack.channel'") or DEFAULT_CHANNEL
        for key, minimum in (("pace", 0.01), ("burst", 1), ("digest_after", 2), ("timeout", 1)):
            if key in s and (v := r.number(s[key][1], f"'slack.{key}'", minimum=minimum)) is not None:
                slack_opts[key] = v

    def num(key: str, default: float, minimum: float, hours: bool = False) -> float | None:
        if key not in keys:
            return default
        return (r.number if hours else r.duration)(keys[key][1], f"'{key}'", minimum=minimum)

    interval = num("poll_interval", 300, 1)
    window = num("dedup_window_hours", 72, 0.01, hours=True)
    max_age = num("max_item_age_hours", 72, 0, hours=True)
    timeout = num("fetch_timeout", 15, 0.1)
    tick, polling = _polling(r, keys["polling"][1]) if "polling" in keys else (30.0, PollSettings())
    boilerplate, capacity = _dedup(r, keys["dedup"][1]) if "dedup" in keys else ((), DEFAULT_CAPACITY)
    metrics: tuple[str, int | None] = ("127.0.0.1", None)
    if "metrics" in keys:
        m = r.mapping(keys["metrics"][1], "'metrics'", ("host", "port"), required=("port",)) or {}
        host = (r.string(m["host"][1], "'metrics.host'") or "127.0.0.1") if "host" in m else "127.0.0.1"
        port = r.number(m["port"][1], "'metrics.port'", minimum=0) if "port" in m else None
        if port is not None and port > 65535:
            r.error(m["port"][1], f"'metrics.port' must be a TCP port (0-65535), got {port:g}")
        metrics = (host, int(port) if port is not None else None)
    if r.problems:
        raise ConfigError(r.report())
    assert rules is not None and interval is not None and window is not None and timeout is not None
    assert max_age is not None
    return WorkerConfig(
        feeds=feeds,
        rules_dir=str((base / rules).resolve()),
        state_path=str((base / state).resolve()),
        channel=channel,
        poll_interval=interval,
        dedup_window=window * 3600,
        fetch_timeout=timeout,
        max_item_age=max_age * 3600 if max_age else None,
        tick=tick,
        polling=polling,
        path=str(path.resolve()),
        feeds_file=feeds_file,
        boilerplate=boilerplate,
        dedup_capacity=capacity,
        slack_pace=slack_opts.get("pace", 1.0),
        slack_burst=int(slack_opts.get("burst", 5)),
        digest_after=int(slack_opts.get("digest_after", 20)),
        slack_timeout=slack_opts.get("timeout", 15.0),
        metrics_host=metrics[0],
        metrics_port=metrics[1],
    )


def load_feeds(path: Path) -> tuple[FeedSpec, ...]:
    """A feeds file: a YAML list of feeds (or a mapping with a `feeds:` list)."""
    r = Reader(str(path))
    root = _root(r, path)
    node = root
    if root.tag.endswith(":map"):
        keys = r.mapping(root, "the feeds file", ("feeds",), required=("feeds",)) or {}
        node = keys["feeds"][1] if "feeds" in keys else root
    feeds = _feeds(r, node) if not r.problems else ()
    if r.problems:
        raise ConfigError(r.report())
    return feeds


def _root(r: Reader, path: Path) -> Node:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([Problem(Location(str(path)), f"cannot read config: {e}")]) from e
    docs = r.documents(text)
    if r.problems:
        raise ConfigError(r.report())
    if len(docs) != 1:
        raise ConfigError([Problem(Location(str(path)), "config must be exactly one YAML document")])
    return docs[0]


def _feeds(r: Reader, node: Node) -> tuple[FeedSpec, ...]:
    feeds: list[FeedSpec] = []
    seen: set[str] = set()
    for item in r.sequence(node, "'feeds'") or []:
        f = r.mapping(item, "a feed", ("url", "name", "tags", "interval"), required=("url",))
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
        interval = r.duration(f["interval"][1], "'interval'", minimum=10) if "interval" in f else None
        feeds.append(FeedSpec(url, name, tags, interval))
    if not feeds and not r.problems:
        r.error(node, "'feeds' is empty; list at least one feed url")
    return tuple(feeds)


def _dedup(r: Reader, node: Node) -> tuple[tuple[str, ...], int]:
    keys = r.mapping(node, "'dedup'", ("boilerplate", "capacity")) or {}
    capacity = DEFAULT_CAPACITY
    if "capacity" in keys:
        capacity = int(r.number(keys["capacity"][1], "'dedup.capacity'", minimum=1000) or DEFAULT_CAPACITY)
    patterns: list[str] = []
    for text, item in r.strings(keys["boilerplate"][1], "'dedup.boilerplate'") if "boilerplate" in keys else []:
        try:
            re.compile(text)
        except re.error as e:
            r.error(item, f"'dedup.boilerplate' entry {text!r} is not a valid regular expression ({e}); "
                          "escape special characters like ( ) . ? with a backslash")
            continue
        patterns.append(text)
    return tuple(patterns), capacity


def _polling(r: Reader, node: Node) -> tuple[float, PollSettings]:
    keys = r.mapping(node, "'polling'", POLLING_KEYS) or {}
    d = PollSettings()

    def dur(key: str, default: float, minimum: float = 0.0) -> float:
        v = r.duration(keys[key][1], f"'polling.{key}'", minimum=minimum) if key in keys else default
        return default if v is None else v

    def count(key: str, default: int, minimum: int = 1) -> int:
        v = r.number(keys[key][1], f"'polling.{key}'", minimum=minimum) if key in keys else default
        return default if v is None else int(v)

    schedule = SchedulePolicy(min_interval=dur("min_interval", d.schedule.min_interval, 1),
                              max_interval=dur("max_interval", d.schedule.max_interval, 1),
                              quarantine_after=count("quarantine_after", d.schedule.quarantine_after))
    if schedule.min_interval > schedule.max_interval and "max_interval" in keys:
        r.error(keys["max_interval"][1], "'polling.max_interval' must not be below 'polling.min_interval'")
    settings = PollSettings(
        fetch=FetchPolicy(max_bytes=(mb := count("max_bytes", d.fetch.max_bytes, 1024)), max_decoded_bytes=4 * mb),
        schedule=schedule,
        workers=count("workers", d.workers),
        per_host=count("per_host_concurrency", d.per_host),
        spacing=dur("per_host_spacing", d.spacing),
    )
    return dur("tick", 30.0, 0.1), settings
