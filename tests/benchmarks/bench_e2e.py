"""End-to-end benchmark: feeds on loopback -> the worker's real cycles (Beam, fetch, parse, dedup, rules, outbox)
-> the fake Slack Web API, reporting stories/s, latency from fetch to Slack post (p50/p99) and CPU per cycle.

    python tests/benchmarks/bench_e2e.py                      # 20 feeds x 5 new stories per cycle, 20 cycles
    python tests/benchmarks/bench_e2e.py --feeds 5 --per-feed 2 --cycles 3    # the CI smoke version

The feed server and the fake Slack run in a child process, so "CPU per cycle" is the worker's alone. Every poll
of a feed adds `--per-feed` new stories (distinct, each matching the Kherson rule, so each becomes one cluster
and one Slack post). Latency: the Slack message's `ts` (the fake stamps real time, like Slack) minus the
story's fetch time (the cluster's `first_seen`). Slack pacing is lifted (a fake server), so this measures the
pipeline, not Slack's 1-message-a-second limit. Baseline in the same run: the same cycle with no new stories
(the fixed cost of a cycle: Beam and 304-free polling).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import statistics
import sys
import tempfile
import time
import urllib.request
from email.utils import formatdate
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_RNG = random.Random(1)
# Distinct made-up words (random letters), so stories differ the way different news do: the dedup must keep
# them apart, and does (the state line of the output says how many clusters).
WORDS = sorted({"".join(_RNG.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(_RNG.randint(6, 9)))
                for _ in range(3000)})


def serve(per_feed: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """Child process: feed server + fake Slack; reports their URLs, then serves until killed."""
    from pipeline.demo.server import FeedServer, Request, Response
    from pipeline.testing import FakeSlack

    rng = random.Random(3)
    items: dict[str, list[str]] = {}
    grow = {"on": False}

    def route(req: Request) -> Response:
        feed = items.setdefault(req.path, [])
        if grow["on"]:
            for _ in range(per_feed):
                n = len(feed)
                w = rng.sample(WORDS, 6)
                feed.append(f"<item><title>Kherson {w[0]} {w[1]} evacuated as {w[2]} {w[3]} {w[4]} {w[5]}</title>"
                            f"<link>http://example.org{req.path}/{n}</link><guid>{req.path}-{n}</guid>"
                            f"<pubDate>{formatdate(time.time(), usegmt=True)}</pubDate></item>")
        body = (f"<?xml version='1.0'?><rss version='2.0'><channel><title>Outlet {req.path}</title>"
                f"{''.join(feed[-50:])}</channel></rss>").encode()
        return Response(200, {"Content-Type": "application/rss+xml"}, body)

    class Feeds(FeedServer):
        pass

    server = Feeds({f"/f{i}.xml": route for i in range(1000)}).start()
    slack = FakeSlack()
    out.put((server.base_url, slack.base_url, slack.token))
    import threading

    def control() -> None:  # a tiny side channel: a request to /grow switches story growth on
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class H(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                grow["on"] = self.path == "/grow"
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        out.put(httpd.server_address[1])
        httpd.serve_forever()

    threading.Thread(target=control, daemon=True).start()
    while True:
        time.sleep(3600)


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run(feeds: int, per_feed: int, cycles: int) -> None:
    from pipeline.alerts.notifier import NotifierSpec
    from pipeline.app import run_cycle
    from pipeline.clock import SystemClock
    from pipeline.config import WorkerConfig
    from pipeline.model import FeedSpec
    from pipeline.rules.loader import load_rules
    from pipeline.state.sqlite import SqliteStore

    q: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    child = multiprocessing.Process(target=serve, args=(per_feed, q), daemon=True)
    child.start()
    feed_url, slack_url, token = q.get(timeout=60)
    control = q.get(timeout=60)
    os.environ["SLACK_BOT_TOKEN"], os.environ["NEWSWATCH_SLACK_API_URL"] = token, slack_url
    with tempfile.TemporaryDirectory() as tmp:
        cfg = WorkerConfig(tuple(FeedSpec(f"{feed_url}/f{i}.xml", "", (), 10) for i in range(feeds)),
                           str(REPO / "rules"), str(Path(tmp) / "s.db"), max_item_age=None, digest_after=100_000,
                           slack_pace=100_000, slack_burst=100_000)
        rules, spec, clock = load_rules(cfg.rules_dir), NotifierSpec.from_env(100_000, 100_000), SystemClock()
        rows = []
        for label, grow in (("baseline: no new stories", False), ("new stories every cycle", True)):
            urllib.request.urlopen(f"http://127.0.0.1:{control}/{'grow' if grow else 'stop'}", timeout=5).read()
            run_cycle(cfg, rules, spec, clock)  # warm-up
            walls, cpus, stories = [], [], 0
            for _ in range(cycles):
                t0, c0 = time.perf_counter(), cpu()
                report = run_cycle(cfg, rules, spec, clock)
                walls.append(time.perf_counter() - t0)
                cpus.append(cpu() - c0)
                stories += report.counts.get("stories_new", 0)
            rows.append((label, stories, sum(walls), statistics.median(walls), statistics.median(cpus)))
        store = SqliteStore(cfg.state_path)
        n_stories, n_clusters = store._exec("SELECT count(*), count(DISTINCT cluster_id) FROM stories").fetchone()
        by_status = dict(store._exec("SELECT status, count(*) FROM alerts GROUP BY status").fetchall())
        first_seen = {}
        for (payload,) in store._exec("SELECT payload FROM alerts WHERE status = 'sent'").fetchall():
            d = json.loads(payload)
            first_seen[d["key"]] = float(d["first_seen"])
        store.close()
        lat = sorted(t for t in latencies(slack_url, token, first_seen))
    child.kill()
    print(f"state: {n_stories} stories in {n_clusters} clusters; alerts by status: {by_status}")
    print(f"{feeds} feeds x {per_feed} new stories per poll, {cycles} measured cycles each (after a warm-up)")
    print(f"{'run':<28} {'stories':>8} {'stories/s':>10} {'cycle s (median)':>17} {'CPU s/cycle':>12}")
    for label, n, wall, med, c in rows:
        print(f"{label:<28} {n:>8} {n / wall:>10.1f} {med:>17.2f} {c:>12.2f}")
    if lat:
        p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print(f"latency fetch -> Slack post over {len(lat)} alerts: p50 {p50:.2f} s, p99 {p99:.2f} s, "
              f"max {lat[-1]:.2f} s")


def latencies(slack_url: str, token: str, first_seen: dict[str, float]) -> list[float]:
    """Slack message ts minus the story's fetch time, per alert, from the fake's channel history."""
    out = []
    for channel in ("C0UKRAINE01", "C0NEWSWATCH"):
        cursor = ""
        while True:
            req = urllib.request.Request(f"{slack_url}conversations.history?channel={channel}&limit=1000"
                                         f"&include_all_metadata=true&cursor={cursor}",
                                         headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(req, timeout=30) as resp:
                data = json.loads(resp.read())
            for m in data.get("messages", []):
                key = ((m.get("metadata") or {}).get("event_payload") or {}).get("key")
                if key in first_seen:
                    out.append(float(m["ts"]) - first_seen[key])
            cursor = (data.get("response_metadata") or {}).get("next_cursor", "")
            if not cursor:
                break
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--feeds", type=int, default=20)
    ap.add_argument("--per-feed", type=int, default=5, help="new stories per feed per poll")
    ap.add_argument("--cycles", type=int, default=20)
    args = ap.parse_args()
    from pipeline.telemetry import setup_logging

    setup_logging(30)
    run(args.feeds, args.per_feed, args.cycles)
    return 0


if __name__ == "__main__":
    sys.exit(main())
