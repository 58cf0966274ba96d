#!/usr/bin/env python3
"""Average the weights of RetinaFace ONNX files that share one graph (a "model soup").

    python tools/average_detectors.py --out soup/retinaface_mnet025_masked.onnx \\
        facemask_live/models/retinaface_mnet025_masked.onnx run_seed7/retinaface_mnet025.onnx
    python -m facemask_live.evaluate ... --detector-dir soup      # score it like any detector

train_detector.py's default export writes new weights into the base file's own graph, so runs fine-tuned from
the same base (other seeds, --ema, --ignore-detectors) have the same initializers in the same order, and their
mean is a detector of the same size and speed. Every float initializer is averaged; integer ones (shapes) must
be equal. docs/accuracy.md has what the soups measured.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from facemask_live.core.errors import FacemaskError  # noqa: E402
from facemask_live.training.detector.onnx_file import save_checked  # noqa: E402


class SoupError(FacemaskError):
    pass


def average(paths: list[Path], out: Path) -> int:
    """Write the mean of the models' float weights to ``out``; returns how many tensors were averaged."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    models = []
    for p in paths:
        try:
            models.append(onnx.load(str(p)))
        except FileNotFoundError:
            raise SoupError(f"model not found: {p}") from None
        except Exception as e:  # protobuf decode errors have no common base class
            raise SoupError(f"not an ONNX model: {p} ({type(e).__name__})") from None
    first = models[0].graph
    names = [t.name for t in first.initializer]
    ops = [n.op_type for n in first.node]
    for p, m in zip(paths[1:], models[1:]):
        if [t.name for t in m.graph.initializer] != names or [n.op_type for n in m.graph.node] != ops:
            raise SoupError(f"{p} is not the same graph as {paths[0]} (only runs exported into one base graph average)")
    averaged, tensors = 0, []
    for i, name in enumerate(names):
        arrays = [numpy_helper.to_array(m.graph.initializer[i]) for m in models]
        if any(a.shape != arrays[0].shape for a in arrays):
            raise SoupError(f"tensor {name} has other shapes in {paths[0]} and the others")
        if arrays[0].dtype.kind == "f":
            mean = np.mean(np.stack(arrays).astype(np.float64), axis=0).astype(arrays[0].dtype)
            averaged += 1
        elif all(np.array_equal(arrays[0], a) for a in arrays[1:]):
            mean = arrays[0]
        else:
            raise SoupError(f"integer tensor {name} differs between the models")
        tensors.append(numpy_helper.from_array(mean, name))
    del first.initializer[:]
    first.initializer.extend(tensors)
    try:
        save_checked(models[0], out, f"facemask-live tools/average_detectors.py (mean of {len(models)} models)")
    except OSError as e:
        raise SoupError(f"cannot write {out}: {e.strerror or e}") from None
    return averaged


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("models", nargs="+", type=Path, help="RetinaFace ONNX files exported into the same base graph")
    p.add_argument("--out", required=True, type=Path,
                   help="the averaged model (name it retinaface_mnet025_masked.onnx to use it with --detector-dir)")
    args = p.parse_args(argv)
    if len(args.models) < 2:
        p.error("give at least two models to average")
    try:
        n = average(args.models, args.out)
    except SoupError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"averaged {n} weight tensors of {len(args.models)} models -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
