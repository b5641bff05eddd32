"""The dedup stage's compiled kernels (`_native.c`), or None where they are not built.

`_native.c` is built when newswatch is installed, if a C compiler is there (it is optional: without one the
install goes on without it). Each kernel computes exactly what a piece of numpy or Python code of this package
computes (the code it replaces stays beside it, runs when `KERNELS` is None, and is the reference the kernels are
tested against: tests/unit/test_native.py). Besides the dedup stage's own code, the state's identity index
(`pipeline.state.identities`) uses them: it serves the dedup stage alone. README, "Dedup speed", has what they
are worth. Set NEWSWATCH_PURE_PYTHON=1 to run without them.
"""

from __future__ import annotations

import os
from types import ModuleType


def switched_off() -> bool:
    """Is NEWSWATCH_PURE_PYTHON set (other than to 0 or empty)?"""
    return os.environ.get("NEWSWATCH_PURE_PYTHON", "") not in ("", "0")


def load() -> ModuleType | None:
    """The kernels, unless they are `switched_off` or were not built."""
    if switched_off():
        return None
    try:
        from pipeline.dedup import _native
    except ImportError:
        return None
    return _native


KERNELS = load()  # read at each call, so a test can set it to None for the reference results
