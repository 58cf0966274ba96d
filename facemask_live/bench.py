"""``python -m facemask_live.bench``: the entry point kept at the top (the code is in :mod:`facemask_live.measure.bench`)."""

import sys

from facemask_live.measure.bench import main

if __name__ == "__main__":
    sys.exit(main())
