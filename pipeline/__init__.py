"""newswatch: alerts for regional developments from RSS/Atom feeds, on Apache Beam.

Importing the package has no side effects; `pipeline.cli` is the entry point.
"""

__version__ = "0.1.0"
