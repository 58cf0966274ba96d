#!/usr/bin/env python3
"""Every share figure of two or more ``python -m facemask_live.evaluate --json`` files, side by side.

    python tools/compare_evaluations.py base.json int8.json [more.json ...] [--tolerance 0.5]

Compares each file with the first: every recall, precision, accuracy and share (per class, per size band), in
percent, and the difference in points. Exits 1 when a figure of a later file is worse than the first's by more
than ``--tolerance`` points (the bar a cheaper model must meet to be adopted; docs/performance.md), else 0.
Figures where higher is worse (the share of faces not judged) count as worse when they rise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

BANDS = ("all", "height_20_40", "min_height_40")
LOWER_IS_BETTER = ("unknown",)  # a face left unjudged is a loss


def figures(report: dict) -> dict[str, float]:
    """{name: value in percent} of every ratio in an evaluate report (leaves named recall/precision/accuracy/share)."""
    out: dict[str, float] = {}

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, [*path, str(k)])
        elif isinstance(node, float) and any(p in ("recall", "precision", "accuracy", "share") for p in path[-2:]):
            out["/".join(path)] = 100.0 * node

    for band in BANDS:
        if band in report:
            walk({k: v for k, v in report[band].items() if k not in ("match_iou", "confusion")}, [band])
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("reports", nargs="+", help="evaluate --json files; the first is the baseline")
    p.add_argument("--tolerance", type=float, default=0.5, help="points a figure may lose (default: 0.5)")
    args = p.parse_args(argv)
    if len(args.reports) < 2:
        print("error: give a baseline and at least one other report", file=sys.stderr)
        return 2
    try:
        rows = [figures(json.loads(Path(f).read_text())) for f in args.reports]
    except (OSError, ValueError) as e:
        print(f"error: cannot read an evaluate report: {e}", file=sys.stderr)
        return 2
    names = [Path(f).stem for f in args.reports]
    print(f"{'figure':<52}" + "".join(f"{n[:22]:>24}" for n in names))
    worst = [0.0] * len(rows)
    for key in rows[0]:
        cells = [f"{rows[0][key]:>24.1f}"]
        for i, row in enumerate(rows[1:], 1):
            if key not in row:
                cells.append(f"{'-':>24}")
                continue
            diff = row[key] - rows[0][key]
            loss = diff if any(k in key.split("/") for k in LOWER_IS_BETTER) else -diff
            worst[i] = max(worst[i], loss)
            cells.append(f"{row[key]:>16.1f} ({diff:+5.1f})")
        print(f"{key:<52}" + "".join(cells))
    failed = False
    for i in range(1, len(rows)):
        ok = worst[i] <= args.tolerance
        failed |= not ok
        print(f"{names[i]}: largest loss {worst[i]:.1f} points -> {'within' if ok else 'NOT within'} {args.tolerance} points")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
