"""``python -m metalearn``: the command line, as the ``metalearn`` script runs it."""

import sys

from metalearn.cli import main

sys.exit(main())
