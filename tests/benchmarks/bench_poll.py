"""Benchmark: one poll cycle over N feeds on loopback, conditional GET on vs off (the naive baseline).

    python tests/benchmarks/bench_poll.py                 # 10,000 feeds (the issue's figure)
    python tests/benchmarks/bench_poll.py --feeds 200     # the smoke version CI runs

The feed server runs in a separate process on 8 loopback addresses (127.0.0.1-8), so per-host limits apply as
they would across real hosts. Of the feeds, 90 % honour ETags (304), 5 % ignore validators and send the same
body, 5 % publish a new item every poll. Each feed carries 20 items (about 9 KB); old items fall outside
max_item_age, so only new items travel on to dedup, rules and alerts.

Modes: "conditional" is the worker as shipped (ETag / Last-Modified, body hash, parsing only the items whose
bytes changed); "naive" turns all three off, fetching and parsing every feed in full every cycle, as a reader
without validators does.

Per mode, a warm-up cycle fetches every feed in full (first contact), then the measured cycle polls them all
again through the real worker path (`run_cycle`: Beam on FnApiRunner, fetch, parse, dedup, rules, outbox). The
table gives wall time and this process's CPU time (all threads) for the measured cycle of each mode, and the
ratio naive / conditional. The server's own CPU is not counted.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HOSTS = 8
ITEMS = 20
OLD = formatdate(time.time() - 10 * 86400, usegmt=True)  # archived items keep their date between polls


def feed_body(i: int, poll: int, fresh: bool) -> bytes:
    """Feed i as served at poll number `poll`; `fresh` feeds gain one new (recent) item per poll."""
    old = OLD
    items = [
        f"<item><title>Feed {i} archived story {k} about municipal budgets and road repairs</title>"
        f"<link>http://news{i}.example/{k}</link><guid>f{i}-{k}</guid><pubDate>{old}</pubDate>"
        f"<description>Archived paragraph {k} of feed {i}: council members debated the annual budget, "
        f"road repairs and the new library opening hours at length.</description></item>"
        for k in range(ITEMS)
    ]
    if fresh:
        now = formatdate(time.time(), usegmt=True)
        items.insert(0, f"<item><title>Feed {i} bulletin {poll}: {'ABCDEFGHIJ'[poll % 10]}{i} update on "
                        f"harbour traffic</title><link>http://news{i}.example/new/{poll}</link>"
                        f"<guid>f{i}-new-{poll}</guid><pubDate>{now}</pubDate><description>Bulletin "
                        f"{poll}-{i}.</description></item>")
    return (f"<?xml version='1.0'?><rss version='2.0'><channel><title>Outlet {i}</title>"
            f"{''.join(items)}</channel></rss>").encode()


def serve(n_feeds: int) -> None:
    """Server process: print one base URL per host, then serve until stdin closes."""
    polls: dict[int, int] = {}
    lock = threading.Lock()
    cache: dict[int, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            i = int(self.path.strip("/").split(".")[0])
            kind = "etag" if i % 20 < 18 else ("same" if i % 20 == 18 else "fresh")
            with lock:
                polls[i] = polls.get(i, 0) + 1
                poll = polls[i]
            headers = {"Content-Type": "application/rss+xml"}
            if kind == "etag":
                tag = f'"v-{i}"'
                headers["ETag"] = tag
                if self.headers.get("If-None-Match") == tag:
                    self._send(304, headers, b"")
                    return
            if kind == "fresh":
                body = feed_body(i, poll, fresh=True)
            else:
                with lock:
                    body = cache.get(i) or cache.setdefault(i, feed_body(i, 0, fresh=False))
            self._send(200, headers, body)

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    for h in range(HOSTS):
        httpd = ThreadingHTTPServer((f"127.0.0.{h + 1}", 0), Handler)
        httpd.daemon_threads = True
        httpd.request_queue_size = 256
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        print(f"http://127.0.0.{h + 1}:{httpd.server_address[1]}", flush=True)
    sys.stdin.read()


def cpu() -> float:
    """CPU seconds of this process, all threads."""
    t = os.times()
    return t.user + t.system


def measure(urls: list[str], n: int, use_validators: bool, workdir: Path, workers: int = 16,
            per_host: int = 2) -> dict[str, float]:
    """Warm-up cycle, then one measured cycle over all feeds; returns the measured cycle's figures."""
    from dataclasses import replace

    from pipeline.alerts.notifier import NotifierSpec
    from pipeline.app import run_cycle
    from pipeline.clock import SystemClock
    from pipeline.config import WorkerConfig
    from pipeline.model import FeedSpec
    from pipeline.rules.loader import load_rules
    from pipeline.sources.poll import PollSettings

    repo = Path(__file__).resolve().parents[2]
    feeds = tuple(FeedSpec(f"{urls[i % HOSTS]}/{i}.xml", "") for i in range(n))
    mode = "conditional" if use_validators else "naive"
    cfg = WorkerConfig(feeds, str(repo / "rules"), str(workdir / f"{mode}.db"), max_item_age=72 * 3600.0,
                       polling=PollSettings(workers=workers, per_host=per_host, use_validators=use_validators))
    rules = load_rules(cfg.rules_dir).rules
    spec, clock = NotifierSpec("jsonl", str(workdir / f"{mode}.jsonl")), SystemClock()
    run_cycle(cfg, rules, spec, clock)  # warm-up: first contact, every feed fetched and parsed
    wall0, cpu0 = time.perf_counter(), cpu()
    report = run_cycle(replace(cfg), rules, spec, clock)
    c = report.counts
    return {"wall": time.perf_counter() - wall0, "cpu": cpu() - cpu0, "ok": c.get("feeds_ok", 0),
            "unchanged": c.get("feeds_not_modified", 0), "failed": c.get("feeds_failed", 0),
            "stories": c.get("stories", 0)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--feeds", type=int, default=10_000, help="number of feeds (default 10,000)")
    ap.add_argument("--workers", type=int, default=16, help="fetch threads (default 16, the worker's default)")
    ap.add_argument("--per-host", type=int, default=2, help="requests in flight per host (default 2)")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.feeds)
        return 0
    from pipeline.telemetry import setup_logging

    setup_logging(logging.WARNING)
    server = subprocess.Popen([sys.executable, __file__, "--serve", "--feeds", str(args.feeds)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    urls = [server.stdout.readline().strip() for _ in range(HOSTS)]
    try:
        with tempfile.TemporaryDirectory(prefix="newswatch-bench-") as tmp:
            results = {
                "conditional": measure(urls, args.feeds, True, Path(tmp), args.workers, args.per_host),
                "naive (validators off)": measure(urls, args.feeds, False, Path(tmp), args.workers, args.per_host),
            }
    finally:
        server.terminate()
    print(f"\none poll cycle over {args.feeds} feeds on {HOSTS} loopback hosts (90% 304, 5% unchanged body, "
          f"5% new item); {args.workers} fetch threads, {args.per_host} per host; {os.cpu_count()} cores")
    print(f"{'mode':<30} {'wall s':>8} {'CPU s':>8} {'feeds ok':>9} {'unchanged':>10} {'failed':>7} {'new items':>10}")
    for name, r in results.items():
        print(f"{name:<30} {r['wall']:>8.2f} {r['cpu']:>8.2f} {r['ok']:>9.0f} {r['unchanged']:>10.0f} "
              f"{r['failed']:>7.0f} {r['stories']:>10.0f}")
    a, b = results["conditional"], results["naive (validators off)"]
    cpu_x, wall_x = b["cpu"] / max(a["cpu"], 1e-9), b["wall"] / max(a["wall"], 1e-9)
    print(f"naive / conditional: CPU x{cpu_x:.1f}, wall x{wall_x:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
