"""``python -m facemask_live.evaluate``: the entry point kept at the top (the code is in :mod:`facemask_live.measure.evaluate`)."""

import sys

from facemask_live.measure.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
