"""The `newswatch` command line: run | demo | backtest | cluster | feeds status | rules check | rules test."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline import __version__
from pipeline.progress import Progress
from pipeline.telemetry import setup_logging

if TYPE_CHECKING:
    from pipeline.config import WorkerConfig

EPILOG = """\
examples:
  newswatch demo                                  bundled sample feeds on loopback, alerts on the console
  newswatch run --config deploy/worker.example.yaml --once
  newswatch backtest --feeds feeds/ --rules rules/ --out alerts.jsonl
  newswatch rules check rules/
  newswatch rules test kherson-evacuation --text "У Херсоні оголосили евакуацію"
  newswatch cluster stories.jsonl --out clusters.jsonl
  newswatch feeds status --config deploy/worker.example.yaml
  newswatch alerts dead-letters --config deploy/worker.example.yaml
  newswatch silence add --config deploy/worker.example.yaml --rule kherson-evacuation --for 2h

environment:
  SLACK_BOT_TOKEN     send alerts to Slack (chat.postMessage) instead of printing them
  NEWSWATCH_SLACK_API_URL   Slack Web API base URL (default https://slack.com/api/; for tests and proxies)
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="newswatch",
        description="Alerts for regional developments: polls RSS/Atom feeds, merges syndicated copies of a "
                    "story, matches YAML watch rules and sends one alert per story (Slack or console).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"newswatch {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--log-format", choices=("human", "json"), default="human",
                   help="log lines for people (default) or one JSON object a line, for log shippers")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the long-lived worker", description=(
        "Poll the configured feeds forever (one bounded Beam pipeline per cycle on FnApiRunner). Alerts go to "
        "Slack when SLACK_BOT_TOKEN is set, else to the console. Ctrl-C or SIGTERM stops cleanly; alerts not "
        "yet delivered stay in the outbox and are sent on the next start."))
    run.add_argument("--config", required=True, help="worker config YAML (see deploy/worker.example.yaml)")
    run.add_argument("--once", action="store_true", help="run a single poll cycle and exit")
    run.add_argument("--runner", help="instead of the local worker loop, submit one streaming pipeline (the "
                                      "same stages, a tick every polling.tick) to this Beam runner: "
                                      "DataflowRunner, FlinkRunner, PortableRunner, ...")
    run.add_argument("--pipeline-option", action="append", default=[], metavar="--KEY=VALUE",
                     help="with --runner: passed to Beam's PipelineOptions, repeatable "
                          "(e.g. --pipeline-option=--flink_master=localhost:8081)")
    run.add_argument("--stop-after", type=float, metavar="SECONDS",
                     help="with --runner: stop ticking after this long (a bounded run; default: run until "
                          "cancelled, in streaming mode)")

    demo = sub.add_parser("demo", help="run the worker on bundled sample feeds served on loopback", description=(
        "Serves the bundled sample feeds (RSS 2.0 and Atom, 6 outlets) on 127.0.0.1 and runs the worker on "
        "them with the rules in ./rules. One outlet picks up the Kherson story after the first poll, so the "
        "second cycle shows an update. Ctrl-C stops."))
    demo.add_argument("--rules", default="rules", help="rules directory (default: ./rules)")
    demo.add_argument("--interval", type=float, default=5.0, help="seconds between polls (default 5)")
    demo.add_argument("--state", help="state file (default: a fresh temporary one, so the demo alerts again)")
    demo.add_argument("--cycles", type=int, help="stop after this many cycles (default: run until Ctrl-C)")

    bt = sub.add_parser("backtest", help="replay local feed files through the same stages; write alerts as JSONL",
                        description=(
        "Runs the same dedup, rule and alert stages over local RSS/Atom files in one bounded pipeline and "
        "writes every alert that would have been sent, one JSON object a line. Items are replayed as if the "
        "feeds were polled every --cycle-minutes. Sends nothing; uses a temporary state file unless --state."))
    bt.add_argument("--feeds", nargs="+", required=True, metavar="PATH", help="feed files or directories of them")
    bt.add_argument("--rules", required=True, help="rules directory")
    bt.add_argument("--out", required=True, help="output JSONL file (overwritten)")
    bt.add_argument("--state", help="state file to use and keep (default: temporary)")
    bt.add_argument("--cycle-minutes", type=float, default=15.0, help="simulated poll interval (default 15)")
    bt.add_argument("--channel", default="#newswatch", help="default Slack channel recorded in alerts")

    cl = sub.add_parser("cluster", help="cluster stories from JSON lines with the production dedup stage",
                        description=(
        "Reads stories as JSON lines (id, title, source; summary, link, published optional) and writes one line "
        "per story: {\"id\", \"cluster_id\", \"score\", \"reason\"}, through the same dedup stage the worker runs. "
        "Stories are taken in order of `published` (epoch seconds or a date: 2026-12-01T08:00:00Z, RFC 822). "
        "Reasons: new-cluster (founds a cluster), similar-title / similar-lead (a near-duplicate: score 0-100), "
        "same-link (another feed's story with the same canonical URL or GUID), same-item (the same feed's item "
        "again: its GUID, or its text under a new GUID, link or id). Ids must be unique: the output names stories "
        "by id. A line that is not a story, or repeats an id, is named with its line number (every such line, "
        "in one run) and nothing is written."))
    cl.add_argument("input", help="stories, one JSON object a line")
    cl.add_argument("--out", required=True, help="output JSONL (overwritten)")
    cl.add_argument("--window-hours", type=float, default=72.0, help="cluster window (default 72)")

    feeds = sub.add_parser("feeds", help="inspect feeds")
    fsub = feeds.add_subparsers(dest="feeds_command", required=True, metavar="SUBCOMMAND")
    status = fsub.add_parser("status", help="per-feed health: last success, errors, interval, quarantine",
                             description="Reads the worker's state file and prints, per configured feed: status "
                                         "(ok / failing / quarantined / never polled), last success, consecutive "
                                         "failures, current interval, items per day, next poll and last error.")
    status.add_argument("--config", required=True, help="worker config YAML")
    status.add_argument("--json", action="store_true", help="one JSON object per feed instead of a table")

    alerts = sub.add_parser("alerts", help="the outbox: dead letters and retries")
    asub = alerts.add_subparsers(dest="alerts_command", required=True, metavar="SUBCOMMAND")
    dead = asub.add_parser("dead-letters", help="alerts Slack refused for good, with the reason", description=(
        "Lists alerts that failed permanently (channel not found, bot not in channel, bad token, message "
        "rejected): they are kept, not retried, until `newswatch alerts retry`."))
    dead.add_argument("--config", required=True, help="worker config YAML (for the state file)")
    dead.add_argument("--json", action="store_true", help="one JSON object per alert")
    retry = asub.add_parser("retry", help="send dead-lettered alerts again on the next cycle",
                            description="Puts dead letters (by key or key prefix, or all) back in the outbox; the "
                                        "running worker sends them on its next cycle.")
    retry.add_argument("--config", required=True, help="worker config YAML (for the state file)")
    retry.add_argument("keys", nargs="*", help="alert keys or key prefixes (as listed by dead-letters)")
    retry.add_argument("--all", action="store_true", help="every dead letter")

    silence = sub.add_parser("silence", help="mute a rule for a while")
    ssub = silence.add_subparsers(dest="silence_command", required=True, metavar="SUBCOMMAND")
    sadd = ssub.add_parser("add", help="mute a rule", description=(
        "Mutes a rule: while the silence lasts, its matches reserve no alert (nothing is sent later either)."))
    sadd.add_argument("--config", required=True, help="worker config YAML (for the state file)")
    sadd.add_argument("--rule", required=True, help="rule id")
    sadd.add_argument("--for", dest="duration", required=True, help="how long: 90m, 2h, 1d or seconds")
    sadd.add_argument("--comment", default="", help="why (shown by `silence list`)")
    slist = ssub.add_parser("list", help="active silences")
    slist.add_argument("--config", required=True, help="worker config YAML (for the state file)")
    sexp = ssub.add_parser("expire", help="end a silence now")
    sexp.add_argument("--config", required=True, help="worker config YAML (for the state file)")
    sexp.add_argument("id", type=int, help="silence id (from `silence list`)")

    rules = sub.add_parser("rules", help="work with rule files")
    rsub = rules.add_subparsers(dest="rules_command", required=True, metavar="SUBCOMMAND")
    check = rsub.add_parser("check", help="validate rule files and run their examples", description=(
        "Validates every *.yaml/*.yml rule file under DIR and checks each rule's examples.match / "
        "examples.no_match. Prints path:line: message for each problem; exit status 1 if any."))
    check.add_argument("dir", nargs="?", default="rules", help="rules directory (default: ./rules)")
    test = rsub.add_parser("test", help="show which stories a rule matches and why", description=(
        "Runs a rule (by id, from --rules) or every rule of a file against texts, a feed or story lines, and "
        "prints for each story MATCH with the explanation (clause, term, the text found, its word position, and "
        "how: alias, gazetteer name, inflection, wildcard, fuzzy) or the reason it does not match; then whether "
        "the rules' examples pass. Exit status 1 if an example fails or nothing could be read."))
    test.add_argument("target", help="a rule file, or a rule id found in --rules")
    test.add_argument("--rules", default="rules", help="rules directory: rule ids and global exclusions "
                                                       "(default: ./rules)")
    given = test.add_mutually_exclusive_group(required=True)
    given.add_argument("--text", action="append", help="a text to test (repeatable)")
    given.add_argument("--feed", help="an RSS/Atom feed: URL or local file")
    given.add_argument("--stories", help="JSON lines with id, title, source (summary, link optional)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging(logging.DEBUG if args.verbose else logging.INFO, args.log_format)
    from pipeline.state.sqlite import StateError

    try:
        if args.command == "rules":
            return _rules_check(args.dir) if args.rules_command == "check" else _rules_test(args)
        commands = {"feeds": _feeds_status, "alerts": _alerts, "silence": _silence, "cluster": _cluster,
                    "backtest": _backtest, "run": _run}
        return commands.get(args.command, _demo)(args)
    except StateError as e:  # a corrupt, foreign or locked state file: said plainly, for every command
        print(e, file=sys.stderr)
        return 2


def _rules_check(directory: str) -> int:
    from pipeline.rules.loader import check_examples, load_rules

    loaded = load_rules(directory)
    problems = list(loaded.problems)
    for rule in loaded.rules:
        problems.extend(check_examples(rule, loaded.exclusions))
    for p in problems:
        print(p, file=sys.stderr)
    n_ex = sum(len(r.examples_match) + len(r.examples_no_match) for r in loaded.rules)
    if problems:
        print(f"{len(problems)} problem(s) in {directory}", file=sys.stderr)
        return 1
    print(f"ok: {len(loaded.rules)} rule(s) and {len(loaded.exclusions)} global exclusion(s) in "
          f"{len(loaded.files)} file(s), {n_ex} example(s) pass")
    return 0


def _alerts(args: argparse.Namespace) -> int:
    import time

    from pipeline.state.sqlite import SqliteStore

    cfg = _config(args.config)
    if cfg is None:
        return 2
    store = SqliteStore(cfg.state_path)
    try:
        if args.alerts_command == "retry":
            if not args.keys and not args.all:
                print("give alert keys (see `newswatch alerts dead-letters`) or --all", file=sys.stderr)
                return 2
            n = store.retry_dead(None if args.all else args.keys)
            print(f"{n} dead letter(s) back in the outbox; the worker sends them on its next cycle")
            return 0 if n or args.all else 1
        letters = store.dead_letters()
        for alert, error, when in letters:
            if args.json:
                print(json.dumps({"key": alert.key, "rule_id": alert.rule_id, "kind": alert.kind,
                                  "channel": alert.channel, "title": alert.title, "error": error, "failed": when}))
            else:
                stamp = time.strftime("%Y-%m-%d %H:%M", time.gmtime(when))
                print(f"{alert.key[:12]}  {stamp}  {alert.rule_id} {alert.kind} -> {alert.channel}: {alert.title}\n"
                      f"              {error}")
        if not args.json:
            print(f"{len(letters)} dead letter(s)" + ("; after fixing the cause: newswatch alerts retry KEY... "
                                                       "--config ..." if letters else ""))
        return 0
    finally:
        store.close()


def _silence(args: argparse.Namespace) -> int:
    import time

    from pipeline.state.sqlite import SqliteStore
    from pipeline.yamlsrc import parse_duration

    cfg = _config(args.config)
    if cfg is None:
        return 2
    store, now = SqliteStore(cfg.state_path), time.time()
    try:
        if args.silence_command == "add":
            seconds = parse_duration(args.duration)
            if seconds is None or seconds <= 0:
                print(f"--for: {args.duration!r} is not a duration like 90m, 2h, 1d", file=sys.stderr)
                return 2
            sid = store.add_silence(args.rule, now + seconds, args.comment, now)
            stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(now + seconds))
            print(f"silence {sid}: rule {args.rule} muted until {stamp}")
            return 0
        if args.silence_command == "expire":
            if store.expire_silence(args.id, now):
                print(f"silence {args.id} expired")
                return 0
            print(f"no active silence {args.id}", file=sys.stderr)
            return 1
        active = store.silences(now)
        for sid, rule, until, comment in active:
            stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(until))
            print(f"{sid:>4}  {rule}  until {stamp}" + (f"  ({comment})" if comment else ""))
        print(f"{len(active)} active silence(s)")
        return 0
    finally:
        store.close()


def _rules_test(args: argparse.Namespace) -> int:
    from pipeline.app import read_story_lines
    from pipeline.rules import tester

    sel = tester.select(args.target, args.rules)
    if sel.problems:
        for p in sel.problems:
            print(p, file=sys.stderr)
        return 1
    try:
        if args.text:
            stories = tester.text_stories(args.text)
        elif args.feed:
            stories = tester.feed_stories(args.feed)
        else:
            stories = read_story_lines(args.stories)
    except (OSError, ValueError) as e:
        print(f"cannot read the stories to test: {e}", file=sys.stderr)
        return 1
    results, failures = tester.run(sel, stories)
    print(tester.report(sel, results, failures))
    return 1 if failures else 0


def _config(path: str) -> WorkerConfig | None:
    """The worker config, or None after printing its problems (file:line each)."""
    from pipeline.config import load_config
    from pipeline.errors import ConfigError

    try:
        return load_config(path)
    except ConfigError as e:
        print(f"{e}\nconfig is invalid; fix the lines above", file=sys.stderr)
        return None


def _feeds_status(args: argparse.Namespace) -> int:
    import time

    from pipeline.sources.status import render_table, status_rows
    from pipeline.state.sqlite import SqliteStore

    cfg = _config(args.config)
    if cfg is None:
        return 2
    if not Path(cfg.state_path).exists():
        print(f"{cfg.state_path}: no state file yet; start the worker first (newswatch run --config "
              f"{args.config})", file=sys.stderr)
        return 1
    store = SqliteStore(cfg.state_path)
    states = store.feed_states([f.url for f in cfg.feeds])
    store.close()
    now = time.time()
    rows = status_rows(cfg.feeds, states, now)
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
    else:
        print(render_table(rows, now))
    return 0


def _cluster(args: argparse.Namespace) -> int:
    from pipeline.app import cluster_file

    try:
        with Progress("clustering stories"):
            counts = cluster_file(args.input, args.out, args.window_hours * 3600)
    except OSError as e:
        what = "write" if e.filename == args.out else "read"
        print(f"cluster: cannot {what} {e.filename}: {e.strerror}" if e.filename else f"cluster: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    reasons = ", ".join(f"{n} {reason}" for reason, n in counts.items() if reason not in ("stories", "clusters"))
    print(f"cluster: {counts['stories']} stories -> {counts['clusters']} clusters{f' ({reasons})' if reasons else ''}, "
          f"written to {args.out}")
    return 0


def _backtest(args: argparse.Namespace) -> int:
    from pipeline.app import RuleLoadError, backtest

    try:
        with Progress("backtest: feed files read"):
            counts = backtest(args.feeds, args.rules, args.out, args.state, args.cycle_minutes * 60, args.channel)
    except RuleLoadError as e:
        print(f"{e}\nrules are invalid; fix them (newswatch rules check {args.rules})", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(e, file=sys.stderr)
        return 2
    lines = Path(args.out).read_text(encoding="utf-8").splitlines()
    kinds = [json.loads(line)["kind"] for line in lines]
    print(f"backtest: {counts.get('stories', 0)} items, {counts.get('clusters_new', 0)} stories, "
          f"{counts.get('matches', 0)} rule matches -> {kinds.count('new')} new + {kinds.count('update')} update "
          f"alert(s) written to {args.out}")
    return 0


def _start_worker(cfg: WorkerConfig, once: bool, max_cycles: int | None = None) -> int:
    from pipeline import shutdown
    from pipeline.alerts.notifier import NotifierSpec
    from pipeline.app import RuleLoadError, Worker

    spec = NotifierSpec.from_env(cfg.slack_pace, cfg.slack_burst, cfg.slack_timeout)
    log = logging.getLogger("newswatch")
    where = {"slack": "Slack", "webhook": "a Slack incoming webhook"}.get(spec.kind, "the console")
    log.info("newswatch %s: %d feed(s), rules %s, state %s, alerts to %s", __version__, len(cfg.feeds),
             cfg.rules_dir, cfg.state_path, where)
    shutdown.install()
    try:
        Worker(cfg, spec).run(once=once, max_cycles=max_cycles)
    except RuleLoadError as e:
        print(f"{e}\nrules are invalid; fix them (newswatch rules check {cfg.rules_dir})", file=sys.stderr)
        return 2
    log.info("stopped")
    return 0


def _run(args: argparse.Namespace) -> int:
    cfg = _config(args.config)
    if cfg is None:
        return 2
    return _submit_streaming(cfg, args) if args.runner else _start_worker(cfg, args.once)


def _submit_streaming(cfg: WorkerConfig, args: argparse.Namespace) -> int:
    import time

    from pipeline.alerts.notifier import NotifierSpec
    from pipeline.app import _beam
    from pipeline.rules.loader import load_rules
    from pipeline.streaming import build

    rules = load_rules(cfg.rules_dir)
    if not rules.ok:
        print("\n".join(str(p) for p in rules.problems) + f"\nrules are invalid; fix them (newswatch rules check "
              f"{cfg.rules_dir})", file=sys.stderr)
        return 2
    beam, options, _ = _beam()
    argv = [f"--runner={args.runner}", *args.pipeline_option]
    if args.stop_after is None:
        argv.append("--streaming")
    start = time.time()
    stop = start + args.stop_after if args.stop_after is not None else None
    p = beam.Pipeline(options=options(argv))
    build(p, cfg, rules, NotifierSpec.from_env(cfg.slack_pace, cfg.slack_burst, cfg.slack_timeout), start, stop)
    logging.getLogger("newswatch").info("submitting the streaming pipeline to %s (a tick every %g s)", args.runner,
                                        max(1.0, cfg.tick))
    result = p.run()
    result.wait_until_finish()
    logging.getLogger("newswatch").info("pipeline finished: %s", result.state)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from pipeline.config import WorkerConfig
    from pipeline.demo import FEEDS_DIR, LATER_DIR, OUTLETS
    from pipeline.demo.server import FeedServer
    from pipeline.model import FeedSpec

    rules_dir = Path(args.rules)
    if not rules_dir.is_dir():
        print(f"{rules_dir}: rules directory not found; run from the repository root or pass --rules DIR",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="newswatch-demo-") as tmp, \
            FeedServer.from_directory(FEEDS_DIR, LATER_DIR) as server:
        logging.getLogger("newswatch").info("demo feeds served at %s/ (%d feeds)", server.base_url,
                                            len(server.routes))
        cfg = WorkerConfig(
            feeds=tuple(FeedSpec(u, *OUTLETS.get(u.rsplit("/", 1)[1], ("", ())), args.interval)
                        for u in server.urls()),
            rules_dir=str(rules_dir.resolve()),
            state_path=str(Path(args.state).resolve()) if args.state else str(Path(tmp) / "demo-state.db"),
            poll_interval=args.interval,
            tick=args.interval,
            max_item_age=None,  # the bundled stories are from December 2022
        )
        return _start_worker(cfg, once=False, max_cycles=args.cycles)
