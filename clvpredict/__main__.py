"""``python -m clvpredict``: the same as the ``clvpredict`` command."""

import sys

from .jobs.cli import main

sys.exit(main())
