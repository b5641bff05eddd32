"""newswatch, end to end. Reads like the table of contents:

    feeds -> ReadFeeds -> DedupStories -> MatchRules -> SendAlerts

Locally each poll cycle is one bounded Beam pipeline on FnApiRunner, driven by `Worker` (a long-lived loop):
an unbounded pipeline on the local runner busy-loops and never fires GroupByKey (see DESIGN.md). At scale the same
composites run in one streaming pipeline. Durable state (clusters, seen stories, the alert outbox) is in the
state store, not in Beam.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import math
import os
import sqlite3
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline.alerts.notifier import NotifierSpec
from pipeline.alerts.outbox import DIGEST_AFTER, drain
from pipeline.clock import Clock, SystemClock
from pipeline.config import DEFAULT_CHANNEL, WorkerConfig, load_config
from pipeline.dedup.core import DEFAULT_SEEN_RETENTION, DEFAULT_WINDOW
from pipeline.dedup.index import DEFAULT_CAPACITY
from pipeline.errors import ConfigError
from pipeline.health import OUTBOX, Health, HealthServer, record_cycle, record_rules
from pipeline.model import FeedSpec, Story
from pipeline.rules.loader import RuleBook, RuleSet, load_rules
from pipeline.rules.model import Exclusion, Rule
from pipeline.shutdown import STOP
from pipeline.state.sqlite import SqliteStore
from pipeline.telemetry import counters

log = logging.getLogger("newswatch")
RULES_POLL = 1.0  # seconds between looks at the rule files while idle


def _beam() -> tuple[Any, Any, Any]:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    return beam, PipelineOptions, FnApiRunner


def stages(stories, rules: RuleSet | tuple[Rule, ...], state_path: str,  # type: ignore[no-untyped-def]
           notifier: NotifierSpec,
           channel: str, window: float, boilerplate: tuple[str, ...] = (), capacity: int = DEFAULT_CAPACITY,
           digest_after: int = DIGEST_AFTER):
    """The stages after ingestion, shared by the worker and the backtest."""
    from pipeline.alerts.transform import SendAlerts
    from pipeline.dedup.transform import DedupStories
    from pipeline.rules.transform import MatchRules

    return (
        stories
        | "DedupStories" >> DedupStories(state_path, window, boilerplate, capacity)
        | "MatchRules" >> MatchRules(*_rules_and_exclusions(rules))
        | "SendAlerts" >> SendAlerts(state_path, notifier, channel, digest_after)
    )


@dataclass(frozen=True, slots=True)
class CycleReport:
    """What one cycle did (from the pipeline's counters)."""

    seconds: float
    counts: dict[str, int] = field(default_factory=dict)
    retried: int = 0
    due: int = 0

    def summary(self) -> str:
        c = self.counts
        return (f"{self.due} feeds due: {c.get('feeds_ok', 0)} ok ({c.get('feeds_not_modified', 0)} unchanged), "
                f"{c.get('feeds_failed', 0)} failed; {c.get('stories', 0)} new items, "
                f"{c.get('clusters_new', 0)} new stories; {c.get('matches', 0)} rule matches; "
                f"{c.get('alerts_sent', 0) + self.retried} alerts sent, {c.get('alerts_failed', 0)} failed "
                f"({self.seconds:.1f} s)")


def due_feeds(store: SqliteStore, feeds: tuple[FeedSpec, ...], now: float) -> list[FeedSpec]:
    """Feeds whose next poll time has come (new feeds are due at once)."""
    waiting = store.not_due(now)
    return [f for f in feeds if f.url not in waiting]


def _rules_and_exclusions(rules: RuleSet | tuple[Rule, ...]) -> tuple[tuple[Rule, ...], tuple[Exclusion, ...]]:
    return (rules.rules, rules.exclusions) if isinstance(rules, RuleSet) else (rules, ())


def run_cycle(cfg: WorkerConfig, rules: RuleSet | tuple[Rule, ...], notifier: NotifierSpec, clock: Clock,
              feeds: list[FeedSpec] | None = None) -> CycleReport:
    """One poll cycle over the due feeds (default: all configured feeds): retry the outbox, run the bounded
    pipeline, then commit the cycle (feed states and processed stories) in one transaction."""
    from pipeline.sources.transform import ReadFeeds

    beam, options, runner = _beam()
    started = clock.now()
    feeds = list(cfg.feeds) if feeds is None else feeds
    store = SqliteStore(cfg.state_path)
    try:
        store.discard_staged()  # left over from a cycle that did not finish: it is replayed
        sender = notifier.build()
        retried = drain(store, sender, clock, cfg.digest_after)
        if STOP.is_set() or not feeds:
            return CycleReport(clock.now() - started, {}, retried, len(feeds))
        p = beam.Pipeline(runner=runner(), options=options([]))
        due = p | "Feeds" >> beam.Create(feeds)
        stories = due | "ReadFeeds" >> ReadFeeds(cfg.state_path, started, cfg.poll_settings())
        stages(stories, rules, cfg.state_path, notifier, cfg.channel, cfg.dedup_window, cfg.boilerplate,
               cfg.dedup_capacity, cfg.digest_after)
        result = p.run()
        result.wait_until_finish()
        # Every decision of this cycle is now in the outbox: its stories need not be replayed.
        store.commit_cycle()
        store.gc(clock.now(), cfg.dedup_window, DEFAULT_SEEN_RETENTION)
        retried += drain(store, sender, clock, cfg.digest_after)  # the overflow of a busy channel, as a digest
        store.checkpoint()  # the alerts are out: now copy the cycle's writes into the state file
        return CycleReport(clock.now() - started, counters(result), retried, len(feeds))
    finally:
        store.close()


class Worker:
    """The long-lived loop: reload rules and feeds, poll the due feeds, sleep a tick; stops cleanly on STOP."""

    def __init__(self, cfg: WorkerConfig, notifier: NotifierSpec, clock: Clock | None = None) -> None:
        self.cfg, self.notifier, self.clock = cfg, notifier, clock or SystemClock()
        self.book = RuleBook(cfg.rules_dir)
        self.cycles = 0
        # Live: the loop beats at least every second while idle; ready: a cycle succeeded within 10 ticks.
        self.health = Health(live_within=max(120.0, 4 * cfg.tick), ready_within=max(300.0, 10 * cfg.tick))
        self.server: HealthServer | None = None
        self._feeds_mtime = _mtime(cfg.feeds_file)
        self._feeds_error = ""

    @property
    def rules(self) -> RuleSet:
        return self.book.ruleset

    def reload_rules(self) -> RuleSet:
        """Pick up added, edited and deleted rule files (only changed files are re-read); a broken file keeps
        its last good version, its errors logged once. Broken rules at start-up stop the worker."""
        first = self.book.reloads == 0
        changed = self.book.refresh()
        if first and not self.book.ruleset.ok:
            raise RuleLoadError(self.book.ruleset)
        if changed or first:
            rs = self.book.ruleset
            log.info("loaded %d rule(s) and %d exclusion(s) from %s", len(rs.rules), len(rs.exclusions),
                     self.cfg.rules_dir)
        return self.book.ruleset

    def idle(self, seconds: float) -> None:
        """Wait for the next cycle, watching the rule files each second: an edit is live within ~1 s (the
        next cycle uses it; a cycle in flight keeps the rules it started with)."""
        deadline = time.monotonic() + seconds
        while not STOP.is_set() and (left := deadline - time.monotonic()) > 0:
            STOP.wait(min(RULES_POLL, left))
            self.health.beat()
            self.reload_rules()

    def reload_feeds(self) -> None:
        """Pick up an edited feeds list without a restart; a broken edit keeps the last good list."""
        if not self.cfg.path:
            return
        mtime = _mtime(self.cfg.feeds_file)
        if mtime == self._feeds_mtime:
            return
        self._feeds_mtime = mtime
        try:
            fresh = load_config(self.cfg.path)
        except ConfigError as e:
            if str(e) != self._feeds_error:
                log.error("config has errors; keeping the last good feeds list:\n%s", e)
            self._feeds_error = str(e)
            return
        self._feeds_error = ""
        if fresh.feeds != self.cfg.feeds:
            old, new = {f.url for f in self.cfg.feeds}, {f.url for f in fresh.feeds}
            log.info("feeds reloaded: %d feed(s), %d added, %d removed", len(new), len(new - old), len(old - new))
            self.cfg = replace(self.cfg, feeds=fresh.feeds)

    def run(self, once: bool = False, max_cycles: int | None = None) -> None:
        SqliteStore(self.cfg.state_path).close()  # a corrupt or locked state file stops the start (StateError)
        if self.cfg.metrics_port is not None:
            self.server = HealthServer(self.health, self.cfg.metrics_host, self.cfg.metrics_port)
        try:
            self._loop(once, max_cycles)
        finally:
            if self.server is not None:
                self.server.stop()
            try:  # so the next start loads the key table instead of recomputing it
                from pipeline.dedup.transform import save_table

                save_table(self.cfg.state_path, self.cfg.dedup_capacity)
            except (OSError, RuntimeError, sqlite3.Error) as e:  # the next start rebuilds it: slower, not wrong
                log.warning("could not save the dedup key table beside %s (%s); the next start rebuilds it",
                            self.cfg.state_path, e)

    def _record(self, report: CycleReport | None, started: float, error: str = "") -> None:
        self.health.cycle(report is not None, error)
        record_cycle(report.counts if report else {}, report.retried if report else 0,
                     self.clock.now() - started, report is not None)
        record_rules(self.book.status())
        try:
            store = SqliteStore(self.cfg.state_path)
            try:
                counts = store.outbox_counts()
            finally:
                store.close()
        except (OSError, RuntimeError, sqlite3.Error):  # the cycle's own error is what matters here
            return
        for status in ("pending", "sending", "dead"):
            OUTBOX.labels(status).set(counts.get(status, 0))

    def _loop(self, once: bool, max_cycles: int | None) -> None:
        while not STOP.is_set():
            rules = self.reload_rules()
            self.reload_feeds()
            started = self.clock.now()
            self.cycles += 1
            try:
                if once:
                    due = list(self.cfg.feeds)
                else:
                    store = SqliteStore(self.cfg.state_path)
                    due = due_feeds(store, self.cfg.feeds, started)
                    store.close()
                report = run_cycle(self.cfg, rules, self.notifier, self.clock, due)
                if due or report.retried:
                    log.info("cycle %d: %s", self.cycles, report.summary())
                self._record(report, started)
            except Exception as e:  # one bad cycle must not end a long-lived worker
                self._record(None, started, f"{type(e).__name__}: {e}")
                if once:
                    raise
                log.exception("cycle %d failed; its stories are replayed next cycle", self.cycles)
            if once or (max_cycles is not None and self.cycles >= max_cycles):
                break
            self.idle(max(0.0, self.cfg.tick - (self.clock.now() - started)))


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime if path else 0.0
    except OSError:
        return 0.0


class RuleLoadError(RuntimeError):
    """Rules are invalid at start-up: the worker refuses to start."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        super().__init__("\n".join(str(p) for p in ruleset.problems))


def backtest(feed_paths: list[str], rules_dir: str, out: str, state_path: str | None = None,
             cycle: float = 900.0, channel: str = DEFAULT_CHANNEL, window: float = DEFAULT_WINDOW) -> dict[str, int]:
    """Run the same stages over local feed files; write every alert that would have been sent to `out` (JSONL).

    Nothing is sent. State goes to a temporary file unless `state_path` is given.
    """
    from pipeline.sources.transform import ReadFeedFiles

    loaded = load_rules(rules_dir)
    if not loaded.ok:
        raise RuleLoadError(loaded)
    files = expand_feed_paths(feed_paths)
    Path(out).write_text("", encoding="utf-8")
    beam, options, runner = _beam()
    with tempfile.TemporaryDirectory(prefix="newswatch-backtest-") as tmp:
        state = state_path or str(Path(tmp) / "state.db")
        p = beam.Pipeline(runner=runner(), options=options([]))
        stories = p | "Files" >> beam.Create(files) | "ReadFeedFiles" >> ReadFeedFiles(cycle, time.time())
        stages(stories, loaded, state, NotifierSpec("jsonl", str(Path(out).resolve())), channel, window)
        result = p.run()
        result.wait_until_finish()
        store = SqliteStore(state)
        store.commit_cycle()
        store.close()
        return counters(result)


def expand_feed_paths(paths: list[str]) -> list[str]:
    """Files as given; directories expanded to the feed-like files in them (xml, rss, atom), sorted."""
    files: list[str] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files.extend(str(f) for f in sorted(p.rglob("*")) if f.is_file() and f.suffix in (".xml", ".rss", ".atom"))
        elif p.is_file():
            files.append(str(p))
        else:
            raise FileNotFoundError(f"{raw}: no such feed file or directory")
    return files


def story_time(value: object) -> float:
    """A story line's `published` as epoch seconds: a number (or a string of one), or a date as feeds and APIs
    write them — ISO 8601 / RFC 3339 (`2026-12-01T08:00:00Z`; without a zone, UTC) or RFC 822
    (`Tue, 01 Dec 2026 08:00:00 GMT`). Raises ValueError saying what is accepted."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        with contextlib.suppress(ValueError):
            if math.isfinite(number := float(text)):
                return number
        with contextlib.suppress(ValueError):  # (Python 3.10's fromisoformat does not read a final Z)
            when = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" else text)
            return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()
        with contextlib.suppress(TypeError, ValueError, IndexError):
            when = email.utils.parsedate_to_datetime(text)
            return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()
    raise ValueError(f"published is {value!r}; give epoch seconds (1796112000) or a date such as "
                     "2026-12-01T08:00:00Z or 'Tue, 01 Dec 2026 08:00:00 GMT', or leave it out")


def read_story_lines(path: str, unique_ids: bool = False) -> list[Story]:
    """Stories from JSON lines: `id`, `title`, `source` required; `summary`, `link`, `published` (see
    `story_time`) optional; with `unique_ids`, a line repeating an earlier line's id is a bad line too.

    Raises ValueError naming each bad line (the first `SHOWN_BAD_LINES` of them, and how many more), what is wrong
    with it and what a line needs: one run shows every line to fix, not one at a time.
    """
    stories: list[Story] = []
    bad: list[str] = []
    count = 0
    first_line: dict[str, int] = {}  # id -> the line it was first on (with `unique_ids`)
    now = time.time()
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                if not isinstance(d, dict):
                    raise ValueError(f"a JSON {type(d).__name__}, not an object")
                if missing := [k for k in ("id", "title", "source") if d.get(k) is None]:
                    raise ValueError(f"no {', '.join(missing)}")
                published = story_time(d["published"]) if d.get("published") not in (None, "") else now
            except ValueError as e:
                what = f"not JSON ({e.msg}, column {e.colno})" if isinstance(e, json.JSONDecodeError) else str(e)
                problem = f"not a story line: {what}"
            else:
                problem = ""
                if unique_ids and (first := first_line.setdefault(str(d["id"]), n)) != n:
                    problem = f"id {str(d['id'])!r} is used twice (first on line {first}): ids must be unique"
            if problem:
                count += 1
                if len(bad) < SHOWN_BAD_LINES:
                    bad.append(f"{path}:{n}: {problem}")
                continue
            stories.append(Story(
                id=str(d["id"]), feed_url=f"input:{d['source']}", source=str(d["source"]), title=str(d["title"]),
                summary=str(d.get("summary") or ""), link=str(d.get("link") or ""), guid="", published=published,
                fetched=published,
            ))
    if count == 1:
        raise ValueError(f"{bad[0]}. {LINE_NEEDS}")
    if count:
        more = [f"... and {count - len(bad)} more"] if count > len(bad) else []
        raise ValueError("\n".join([*bad, *more, f"{count} of {count + len(stories)} lines cannot be used "
                                                  f"(nothing was done). {LINE_NEEDS}"]))
    return stories


SHOWN_BAD_LINES = 20  # bad story lines named in the error, at most (then how many more)
LINE_NEEDS = "Each line is one JSON object with id, title and source (summary, link, published optional)"


CLUSTER_BATCH = 20_000  # stories a pipeline run of `cluster_file`: a big worker cycle's worth


def cluster_file(input_path: str, out: str, window: float = DEFAULT_WINDOW,
                 batch: int = CLUSTER_BATCH) -> dict[str, int]:
    """Cluster the stories of a JSONL file through the production dedup stage (DedupStories on Beam) and write
    `{"id", "cluster_id", "score", "reason"}` per story, in input order. Returns the numbers of stories, of
    clusters, and of stories by reason.

    The stories go in order of time, `batch` at a time, each batch one pipeline run on the same state file, as
    the worker's cycles do: the same results as one run (the stage takes a cycle's stories in this order
    too), with Beam holding one batch instead of the whole file (one run over 100,000 stories took 1 GiB)."""
    from pipeline.dedup.transform import DedupStories, WriteClusterRows

    stories = read_story_lines(input_path, unique_ids=True)  # the output names stories by id
    order = {story.id: i for i, story in enumerate(stories)}
    stories.sort(key=lambda s: (s.fetched, s.published, s.id))
    beam, options, runner = _beam()
    # The output is opened first (a wrong path fails before the work), and emptied only once the rows are in.
    with open(out, "a", encoding="utf-8") as sink, tempfile.TemporaryDirectory(prefix="newswatch-cluster-") as tmp:
        rows = Path(tmp) / "rows.jsonl"
        for start in range(0, len(stories), batch):
            p = beam.Pipeline(runner=runner(), options=options([]))
            (p | "Stories" >> beam.Create(stories[start : start + batch])
               | "DedupStories" >> DedupStories(str(Path(tmp) / "state.db"), window)
               | "WriteRows" >> WriteClusterRows(str(rows)))
            p.run().wait_until_finish()
        lines = rows.read_text(encoding="utf-8").splitlines() if rows.exists() else []
        decoded = sorted((json.loads(x) for x in lines), key=lambda d: order[d["id"]])
        sink.truncate(0)
        sink.write("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in decoded))
    return {"stories": len(decoded), "clusters": len({d["cluster_id"] for d in decoded}),
            **Counter(d["reason"] for d in decoded)}
