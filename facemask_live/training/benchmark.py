"""Latency of an exported classifier in the app's runtimes (median ms per call at batch 1 and 4, 1 and 2 threads)."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from facemask_live.core.errors import ModelError


def versions(tf, keras) -> dict:
    v = {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
         "numpy": np.__version__}
    for mod in ("onnxruntime", "tf2onnx", "onnx", "ai_edge_litert", "cv2"):
        try:
            m = __import__(mod)
            v[mod] = getattr(m, "__version__", "?")
        except Exception:  # noqa: BLE001
            pass
    return v


def benchmark(candidates: dict, base_meta: dict, out: Path, name: str, repeats: int = 40, reference=None) -> dict:
    """Median latency of one runtime call (preprocessed batch) for 1 and 4 crops at 1 and 2 threads.

    With reference=(x, y) each engine's output on x must match y (the Keras output) first."""
    from facemask_live.detection.classify import MaskClassifier

    size = base_meta["input"]["size"]
    res = {"what": "median ms per runtime call on a preprocessed batch, this machine", "cpu": platform.processor() or platform.machine(),
           "cpu_count": os.cpu_count(), "engines": {}}
    rng = np.random.default_rng(0)
    for engine, path in candidates.items():
        tmp_meta = out / f".{name}.{engine}.bench.json"
        tmp_meta.write_text(json.dumps({**base_meta, "model_file": path.name, "engine": engine}))
        try:
            r = {}
            if reference is not None:
                got = MaskClassifier(tmp_meta, threads=1).infer(reference[0])
                err = float(np.max(np.abs(got - reference[1]))) if np.all(np.isfinite(got)) else float("inf")
                if not err < 1e-3:
                    raise ModelError(f"output differs from the Keras model (max abs diff {err:g})")
                r["max_abs_diff_vs_keras"] = err
            for threads in (1, 2):
                clf = MaskClassifier(tmp_meta, threads=threads)
                for n in (1, 4):
                    x = rng.uniform(-1, 1, (n, size[0], size[1], 3)).astype(np.float32)
                    for _ in range(5):
                        clf.infer(x)
                    ts = []
                    for _ in range(repeats):
                        t = time.perf_counter()
                        clf.infer(x)
                        ts.append((time.perf_counter() - t) * 1000)
                    r[f"batch{n}_threads{threads}_ms"] = round(float(np.median(ts)), 3)
            r["score_ms"] = round(float(np.mean([v for k, v in r.items() if k.endswith("_ms")])), 3)
            r["file_bytes"] = path.stat().st_size
            res["engines"][engine] = r
            print(f"benchmark {engine}: {r}", file=sys.stderr)
        except Exception as e:  # noqa: BLE001
            res.setdefault("failed", {})[engine] = str(e)[:200]
            print(f"warning: {engine} model rejected: {e}", file=sys.stderr)
        finally:
            tmp_meta.unlink(missing_ok=True)
    return res
