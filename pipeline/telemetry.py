"""Logging set-up and metric names in one place.

`setup_logging` must run before `import apache_beam`: Beam's BigQuery module logs at import time, which calls
`logging.basicConfig()` implicitly and would silently swallow ours.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

NAMESPACE = "newswatch"
FEEDS_OK = "feeds_ok"
FEEDS_FAILED = "feeds_failed"
FEEDS_NOT_MODIFIED = "feeds_not_modified"
FEEDS_QUARANTINED = "feeds_quarantined"
STORIES = "stories"
ITEMS_SKIPPED = "items_skipped"
STORIES_NEW = "stories_new"
CLUSTERS_NEW = "clusters_new"
MATCHES = "matches"
ALERTS_RESERVED = "alerts_reserved"
ALERTS_SENT = "alerts_sent"
ALERTS_FAILED = "alerts_failed"


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "apitools not found" not in record.getMessage()


def setup_logging(level: int = logging.INFO) -> None:
    """Human-readable logs on stderr; Beam's own loggers at WARNING."""
    root = logging.getLogger()
    if not any(getattr(h, "_newswatch", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
        handler.addFilter(_DropNoise())
        handler._newswatch = True  # type: ignore[attr-defined]
        root.handlers = [handler]
    root.setLevel(level)
    for name in ("apache_beam", "root.apache_beam"):
        logging.getLogger(name).setLevel(logging.WARNING)


def counters(result: Any) -> dict[str, int]:
    """Our Beam counters from a finished pipeline result, by short name."""
    from apache_beam.metrics.metric import MetricsFilter

    out: dict[str, int] = {}
    for c in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]:
        out[c.key.metric.name] = out.get(c.key.metric.name, 0) + int(c.committed or c.attempted or 0)
    return out
