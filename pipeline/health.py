"""Observability of the long-lived worker: Prometheus metrics and an HTTP endpoint with `/healthz` (the loop
is alive), `/readyz` (the last cycle succeeded recently) and `/metrics` (Prometheus text format).

Metrics live in one registry of this module; the stages increment the few that happen inside a cycle (Slack
429s), the worker records everything else after each cycle from Beam's counters.
"""

from __future__ import annotations

import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger("newswatch")

REGISTRY = CollectorRegistry()
CYCLES = Counter("newswatch_cycles", "Poll cycles run, by outcome", ["outcome"], registry=REGISTRY)
CYCLE_SECONDS = Histogram("newswatch_cycle_duration_seconds", "Duration of a poll cycle", registry=REGISTRY,
                          buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300))
FEEDS = Counter("newswatch_feeds_polled", "Feed polls, by result (ok includes not_modified)", ["result"],
                registry=REGISTRY)
STORIES = Counter("newswatch_stories", "Stories read from feeds (new items)", registry=REGISTRY)
ITEMS_SKIPPED = Counter("newswatch_items_skipped", "Feed items skipped (old, no title or text)", registry=REGISTRY)
CLUSTERS = Counter("newswatch_clusters_new", "Story clusters founded", registry=REGISTRY)
MATCHES = Counter("newswatch_rule_matches", "Rule matches", registry=REGISTRY)
ALERTS = Counter("newswatch_alerts", "Alerts, by outcome (reserved, sent, failed, retried)", ["outcome"],
                 registry=REGISTRY)
SLACK_429 = Counter("newswatch_slack_rate_limited", "Slack 429 answers", registry=REGISTRY)
OUTBOX = Gauge("newswatch_outbox", "Alerts in the outbox, by status (pending, sending, dead)", ["status"],
               registry=REGISTRY)
RULES = Gauge("newswatch_rules_loaded", "Rules in use", registry=REGISTRY)
RULES_OK = Gauge("newswatch_rules_reload_ok", "1 when every rule file loaded cleanly, 0 when some file is broken "
                 "(its last good version is in use)", registry=REGISTRY)
RULE_RELOADS = Gauge("newswatch_rules_reloads", "Rule reloads since start", registry=REGISTRY)
LAST_SUCCESS = Gauge("newswatch_last_cycle_success_timestamp_seconds", "When the last cycle succeeded",
                     registry=REGISTRY)


def record_cycle(counts: dict[str, int], retried: int, seconds: float, ok: bool) -> None:
    """After a cycle: its Beam counters and outcome into the metrics."""
    CYCLES.labels("ok" if ok else "failed").inc()
    CYCLE_SECONDS.observe(seconds)
    if ok:
        LAST_SUCCESS.set(time.time())
    for key, result in (("feeds_ok", "ok"), ("feeds_not_modified", "not_modified"), ("feeds_failed", "failed"),
                        ("feeds_quarantined", "quarantined")):
        FEEDS.labels(result).inc(counts.get(key, 0))
    STORIES.inc(counts.get("stories", 0))
    ITEMS_SKIPPED.inc(counts.get("items_skipped", 0))
    CLUSTERS.inc(counts.get("clusters_new", 0))
    MATCHES.inc(counts.get("matches", 0))
    for key, outcome in (("alerts_reserved", "reserved"), ("alerts_sent", "sent"), ("alerts_failed", "failed")):
        ALERTS.labels(outcome).inc(counts.get(key, 0))
    ALERTS.labels("retried").inc(retried)


def record_rules(status: dict[str, Any]) -> None:
    RULES.set(float(status["rules"]))
    RULES_OK.set(1.0 if status["ok"] else 0.0)
    RULE_RELOADS.set(float(status["reloads"]))


class Health:
    """What `/healthz` and `/readyz` answer: the loop beats at least every `live_within` seconds; the last
    successful cycle is at most `ready_within` seconds old."""

    def __init__(self, live_within: float, ready_within: float) -> None:
        self.live_within, self.ready_within = live_within, ready_within
        self.heartbeat = time.monotonic()
        self.last_ok: float | None = None
        self.last_error = ""

    def beat(self) -> None:
        self.heartbeat = time.monotonic()

    def cycle(self, ok: bool, error: str = "") -> None:
        self.beat()
        if ok:
            self.last_ok, self.last_error = time.monotonic(), ""
        else:
            self.last_error = error

    def live(self) -> tuple[bool, str]:
        age = time.monotonic() - self.heartbeat
        return age <= self.live_within, f"loop last seen {age:.0f} s ago (limit {self.live_within:.0f} s)"

    def ready(self) -> tuple[bool, str]:
        if self.last_ok is None:
            return False, "no cycle has succeeded yet" + (f"; last error: {self.last_error}" if self.last_error else "")
        age = time.monotonic() - self.last_ok
        why = f"last successful cycle {age:.0f} s ago (limit {self.ready_within:.0f} s)"
        return age <= self.ready_within, why + (f"; last error: {self.last_error}" if self.last_error else "")


class HealthServer:
    """`/healthz`, `/readyz`, `/metrics` on `host:port` (port 0: an ephemeral port, see `.port`)."""

    def __init__(self, health: Health, host: str = "127.0.0.1", port: int = 9464) -> None:
        state = health

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    body, status, ctype = generate_latest(REGISTRY), 200, CONTENT_TYPE_LATEST
                elif path in ("/healthz", "/readyz"):
                    ok, why = state.live() if path == "/healthz" else state.ready()
                    body, status, ctype = f"{'ok' if ok else 'not ok'}: {why}\n".encode(), 200 if ok else 503, \
                        "text/plain; charset=utf-8"
                else:
                    body, status, ctype = b"not found: try /healthz, /readyz or /metrics\n", 404, "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        threading.Thread(target=self._httpd.serve_forever, name="health", daemon=True).start()
        log.info("health and metrics on http://%s:%d/ (/healthz, /readyz, /metrics)", host, self.port)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
