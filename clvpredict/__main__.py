"""``python -m clvpredict``: the same as the ``clvpredict`` command."""

import sys

from .cli import main

sys.exit(main())
