"""The bundled demo: sample feeds (RSS 2.0 and Atom) served on loopback, and the server that serves them."""

from pathlib import Path

FEEDS_DIR = Path(__file__).parent / "feeds"
LATER_DIR = Path(__file__).parent / "feeds-later"

# Outlet names and tags of the bundled feeds, as a user would write them in a worker config.
OUTLETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "daily-mirror.xml": ("Daily Mirror", ("uk",)),
    "inkl.xml": ("inkl", ("aggregator",)),
    "kyiv-independent.xml": ("The Kyiv Independent", ("ukraine",)),
    "world-news-digest.xml": ("World News Digest", ("aggregator",)),
    "world-news-wire.xml": ("World News Wire", ("aggregator",)),
    "yahoo-news.xml": ("Yahoo News UK", ("aggregator",)),
}
