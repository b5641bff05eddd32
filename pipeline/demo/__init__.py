"""The bundled demo: sample feeds (RSS 2.0 and Atom) served on loopback, and the server that serves them."""

from pathlib import Path

FEEDS_DIR = Path(__file__).parent / "feeds"
LATER_DIR = Path(__file__).parent / "feeds-later"
