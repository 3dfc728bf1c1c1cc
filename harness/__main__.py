"""``python -m harness``: the ``harness`` command, for those who reach for it the lm-eval way."""

import sys

from harness.cli import main

if __name__ == "__main__":
    sys.exit(main())
