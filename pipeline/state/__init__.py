"""Durable state outside Beam: dedup clusters, seen stories, the alert outbox ledger.

Beam state dies with the process on local runners and bundles may be replayed elsewhere, so anything that
must survive a restart lives here. `Store` is the interface; `SqliteStore` the embedded default.
"""

from pipeline.state.sqlite import SqliteStore
from pipeline.state.store import AlertHistory, Store

__all__ = ["AlertHistory", "SqliteStore", "Store"]
