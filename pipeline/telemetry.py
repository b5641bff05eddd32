"""Logging set-up and metric names in one place.

`setup_logging` must run before `import apache_beam`: Beam's BigQuery module logs at import time, which calls
`logging.basicConfig()` implicitly and would silently swallow ours.
"""

from __future__ import annotations

import json
import logging
import sys
import time
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


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
               "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup_logging(level: int = logging.INFO, fmt: str = "human") -> None:
    """Logs on stderr, human-readable or JSON lines (`fmt="json"`); Beam's own loggers at WARNING."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "_newswatch", False)]
    if not ours or getattr(ours[0], "_format", "") != fmt:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter() if fmt == "json" else
                             logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
        handler.addFilter(_DropNoise())
        handler._newswatch = True  # type: ignore[attr-defined]
        handler._format = fmt  # type: ignore[attr-defined]
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
