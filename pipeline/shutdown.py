"""Graceful shutdown: SIGINT/SIGTERM set `STOP`; a watchdog exits the process if it does not stop in time.

Beam's local runner does not run `teardown` on SIGTERM, so we never rely on it: work in flight finishes or
stays in the outbox, and the worker loop checks `STOP` between steps.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType

STOP = threading.Event()
log = logging.getLogger("newswatch")


def install(grace_seconds: float = 10.0) -> None:
    """First signal: stop after the current step. Second signal or `grace_seconds` later: exit at once."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if STOP.is_set():
            log.warning("second signal: exiting now")
            os._exit(130)
        log.info("%s received: finishing the current step, then exiting (again to force)",
                 signal.Signals(signum).name)
        STOP.set()
        timer = threading.Timer(grace_seconds, _force_exit, args=(grace_seconds,))
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _force_exit(grace: float) -> None:
    log.error("did not stop within %.0f s: exiting; unsent alerts stay in the outbox", grace)
    os._exit(1)
