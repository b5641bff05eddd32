"""`python -m pipeline ...` is the same as the `newswatch` console script."""

import sys

from pipeline.cli import main

sys.exit(main())
