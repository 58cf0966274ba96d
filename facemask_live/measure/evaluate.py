"""Score the full per-frame pipeline (face detector + mask classifier) on PASCAL VOC annotated scenes.

Long because scoring, the threshold sweep and the command line share one Scorer.

    python -m facemask_live.evaluate --images DIR --annotations DIR [--json out.json] [--limit N]
        [--model PATH] [--confidence P] [--min-face PX] [--detector-size PX] ...

Every image is run exactly as the app runs one frame (detector, then one batched classifier call; no
tracker), and compared with the annotated face boxes (labels ``with_mask``, ``without_mask``,
``mask_weared_incorrect``):

* detection recall per class and precision, a detection matching a face at IoU >= ``--iou``
  (greedy one-to-one: detections by decreasing score, each takes the free face it overlaps most);
* classification accuracy on matched faces (classes the model does not have are left out);
* the share of unmasked people flagged (detected AND labelled as a violation) and of masked people
  shown as masked;

all for every face and for faces at least ``--min-height`` pixels high.  In that split a face counts by
its own box height; for precision, detections matched to a smaller face and unmatched detections smaller
than the limit are left out.  The scoring itself is :func:`score`, a pure function of boxes and faces.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facemask_live.app.options import OPTION_MAP
from facemask_live.core.errors import OutputError, SourceError, exit_code_of
from facemask_live.core.geometry import iou  # noqa: F401 - also part of this module's API
from facemask_live.core.results import UNKNOWN_LABEL, Box, Face
from facemask_live.outputs.sinks import write_json
from facemask_live.sources.voc import VOC_LABELS as LABEL_MAP
from facemask_live.sources.voc import annotated_images, find_image, read_voc

CLASSES = ("mask", "no_mask", "incorrect_mask")
BAND_MIN = 20  # the small-face band: annotated faces BAND_MIN to --min-height px high (issue 12's band)


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """One annotated face: box (x1, y1, x2, y2) in pixels and class (mask, no_mask, incorrect_mask)."""

    box: Box
    label: str

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]


@dataclass(slots=True)
class Scene:
    """One annotated image."""

    image: Path
    annotation: Path
    objects: list[GroundTruth]


# ----------------------------------------------------------------------------------------------- data


def parse_voc(path: Path, skipped: list[str] | None = None) -> tuple[str | None, list[GroundTruth]]:
    """(image file name from <filename> or None, faces) of one PASCAL VOC file; unknown labels are an error.
    A box with no area once rounded to pixels (a slip of the annotation tool) is left out and described in
    ``skipped`` when given: one such box should not stop the scoring of a whole set."""
    voc = read_voc(path)
    objects = []
    for obj in voc.objects:
        if obj.label not in LABEL_MAP:
            known = ", ".join(LABEL_MAP)
            raise SourceError(f"annotation {path}: unknown label {obj.label!r} (expected one of {known})")
        x1, y1, x2, y2 = obj.int_box
        if x2 <= x1 or y2 <= y1:
            if skipped is not None:
                skipped.append(f"{path.name}: {obj.label} {x1},{y1},{x2},{y2}")
            continue
        objects.append(GroundTruth((x1, y1, x2, y2), LABEL_MAP[obj.label]))
    return voc.filename, objects


def load_scenes(images: str | Path, annotations: str | Path, limit: int | None = None) -> list[Scene]:
    """Pair every ``*.xml`` in ``annotations`` (sorted by name; the first ``limit``) with its image."""
    images, annotations = Path(images), Path(annotations)
    for what, d in (("images", images), ("annotations", annotations)):
        if not d.is_dir():
            raise SourceError(f"{what} folder not found: {d} (pass --{what} DIR)")
    xmls = annotated_images(annotations)
    if not xmls:
        raise SourceError(f"no PASCAL VOC .xml files in {annotations} (pass the folder with the annotations as --annotations)")
    if limit is not None:
        xmls = xmls[:limit]
    scenes = []
    skipped: list[str] = []
    for xml in xmls:
        filename, objects = parse_voc(xml, skipped)
        image = find_image(images, xml, filename)
        if image is None:
            raise SourceError(f"no image for annotation {xml} in {images} (expected {filename or xml.stem + '.jpg'})")
        scenes.append(Scene(image, xml, objects))
    if skipped:
        print(f"note: left out {len(skipped)} annotated box(es) with no area (first: {skipped[0]})", file=sys.stderr)
    return scenes


# -------------------------------------------------------------------------------------------- scoring


def match(truth: Sequence[GroundTruth], faces: Sequence[Face], min_iou: float) -> list[tuple[int, int, float]]:
    """Greedy one-to-one matching: faces by decreasing score, each takes the unmatched ground truth it overlaps
    most if that IoU is >= ``min_iou``.  Returns (face index, truth index, IoU) triples."""
    taken: set[int] = set()
    pairs = []
    for fi in sorted(range(len(faces)), key=lambda i: -faces[i].score):
        best, best_iou = -1, min_iou
        for ti, gt in enumerate(truth):
            if ti in taken:
                continue
            v = iou(faces[fi].box, gt.box)
            if v >= best_iou:
                best, best_iou = ti, v
        if best >= 0:
            taken.add(best)
            pairs.append((fi, best, best_iou))
    return pairs


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


@dataclass(slots=True)
class Tally:
    """Counts of one split (every face, or faces at least N px high)."""

    truth: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0))
    found: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0))
    flagged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0))
    shown_masked: int = 0
    unknown: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0))  # found, not judged (quality gate)
    detections: int = 0
    true_positives: int = 0
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)  # truth -> predicted label -> count
    ious: list[float] = field(default_factory=list)

    def figures(self, model_labels: Sequence[str] | None) -> dict:
        total_truth, total_found = sum(self.truth.values()), sum(self.found.values())
        out: dict = {
            "faces": dict(self.truth),
            "detected": dict(self.found),
            "recall": {c: _ratio(self.found[c], self.truth[c]) for c in CLASSES} | {"all": _ratio(total_found, total_truth)},
            "detections": self.detections,
            "true_positives": self.true_positives,
            "false_positives": self.detections - self.true_positives,
            "precision": _ratio(self.true_positives, self.detections),
            "match_iou": _iou_summary(self.ious),
        }
        if model_labels is None:
            return out
        known = [c for c in CLASSES if c in model_labels]
        per_class = {}
        for c in known:
            row = self.confusion.get(c, {})
            n = sum(row.values())
            per_class[c] = {"faces": n, "correct": row.get(c, 0), "accuracy": _ratio(row.get(c, 0), n)}
        n_eval = sum(v["faces"] for v in per_class.values())
        n_correct = sum(v["correct"] for v in per_class.values())
        out["classification"] = {
            "faces": n_eval,
            "correct": n_correct,
            "accuracy": _ratio(n_correct, n_eval),
            "per_class": per_class,
            "confusion": {c: dict(self.confusion[c]) for c in CLASSES if c in self.confusion},
            "left_out": [c for c in CLASSES if c not in model_labels],
        }
        n_unknown = sum(self.unknown.values())
        out["unknown"] = {
            "faces": total_found,
            "count": n_unknown,
            "share": _ratio(n_unknown, total_found),
            "per_class": {c: {"count": self.unknown[c], "found": self.found[c], "share": _ratio(self.unknown[c], self.found[c])}
                          for c in CLASSES},
        }
        out["unmasked_flagged"] = {
            "faces": self.truth["no_mask"],
            "count": self.flagged["no_mask"],
            "share": _ratio(self.flagged["no_mask"], self.truth["no_mask"]),
        }
        out["masked_shown_masked"] = {
            "faces": self.truth["mask"],
            "count": self.shown_masked,
            "share": _ratio(self.shown_masked, self.truth["mask"]),
        }
        out["incorrect_flagged"] = {
            "faces": self.truth["incorrect_mask"],
            "count": self.flagged["incorrect_mask"],
            "share": _ratio(self.flagged["incorrect_mask"], self.truth["incorrect_mask"]),
        }
        return out


def _iou_summary(values: list[float]) -> dict | None:
    if not values:
        return None
    a = np.asarray(values)
    return {"mean": float(a.mean()), "p10": float(np.percentile(a, 10)), "median": float(np.median(a)), "min": float(a.min())}


class Scorer:
    """Accumulates :func:`match` results over images; :meth:`figures` gives every number as a dict.

    ``violation_labels`` are the classifier labels that count as "flagged"; ``model_labels`` are the
    classifier's labels, or None to score detection only (faces are then not expected to have labels).
    """

    def __init__(
        self,
        violation_labels: Iterable[str] = ("no_mask", "incorrect_mask"),
        model_labels: Sequence[str] | None = None,
        min_iou: float = 0.4,
        min_height: int = 40,
    ):
        if not 0.0 < min_iou <= 1.0:
            raise ValueError(f"min_iou must be in (0, 1], got {min_iou}")
        if min_height < 0:
            raise ValueError(f"min_height must be >= 0, got {min_height}")
        self.violation_labels = frozenset(violation_labels)
        self.model_labels = list(model_labels) if model_labels is not None else None
        self.min_iou = min_iou
        self.min_height = min_height
        self.all = Tally()
        self.band = Tally()  # faces from BAND_MIN px up to min_height: where the quality gate bites
        self.large = Tally()
        self.images = 0
        self.last_pairs: list = []  # the (face, truth, IoU) matches of the last image added

    def add(self, truth: Sequence[GroundTruth], faces: Sequence[Face]) -> dict:
        """Score one image; returns its own counts (faces, found, detections, false)."""
        self.images += 1
        pairs = self.last_pairs = match(truth, faces, self.min_iou)  # kept: --save-crops writes these same matches
        face_to_truth = {fi: (ti, v) for fi, ti, v in pairs}
        truth_found = {ti for _, ti, _ in pairs}
        big = [gt.height >= self.min_height for gt in truth]
        mid = [BAND_MIN <= gt.height < self.min_height for gt in truth]
        for ti, gt in enumerate(truth):
            for tally, inside in ((self.all, True), (self.band, mid[ti]), (self.large, big[ti])):
                if inside:
                    tally.truth[gt.label] += 1
        for fi, face in enumerate(faces):
            if fi in face_to_truth:
                ti, v = face_to_truth[fi]
                gt = truth[ti]
                for tally, inside in ((self.all, True), (self.band, mid[ti]), (self.large, big[ti])):
                    if not inside:
                        continue
                    tally.detections += 1
                    tally.true_positives += 1
                    tally.found[gt.label] += 1
                    tally.ious.append(v)
                    if self.model_labels is not None:
                        if face.label == UNKNOWN_LABEL:
                            tally.unknown[gt.label] += 1
                            continue  # not judged: neither flagged nor shown masked, and no classification to score
                        if face.label in self.violation_labels:
                            tally.flagged[gt.label] += 1
                        if gt.label == "mask" and face.label == "mask":
                            tally.shown_masked += 1
                        if gt.label in self.model_labels:
                            row = tally.confusion.setdefault(gt.label, {})
                            row[face.label] = row.get(face.label, 0) + 1
            else:
                self.all.detections += 1
                if face.height >= self.min_height:
                    self.large.detections += 1
                elif face.height >= BAND_MIN:
                    self.band.detections += 1
        return {"faces": len(truth), "found": len(truth_found), "detections": len(faces), "false": len(faces) - len(pairs)}

    def figures(self) -> dict:
        return {
            "images": self.images,
            "iou": self.min_iou,
            "min_height": self.min_height,
            "classifier_labels": self.model_labels,
            "violation_labels": sorted(self.violation_labels) if self.model_labels is not None else None,
            "all": self.all.figures(self.model_labels),
            f"height_{BAND_MIN}_{self.min_height}": self.band.figures(self.model_labels),
            f"min_height_{self.min_height}": self.large.figures(self.model_labels),
        }


def score(
    images: Iterable[tuple[Sequence[GroundTruth], Sequence[Face]]],
    violation_labels: Iterable[str] = ("no_mask", "incorrect_mask"),
    model_labels: Sequence[str] | None = None,
    min_iou: float = 0.4,
    min_height: int = 40,
) -> dict:
    """Every figure for a set of images, each given as (annotated faces, pipeline faces)."""
    scorer = Scorer(violation_labels, model_labels, min_iou, min_height)
    for truth, faces in images:
        scorer.add(truth, faces)
    return scorer.figures()


# ------------------------------------------------------------------------------------------------ CLI


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:5.1f} %"


def _frac(num: int, den: int) -> str:
    return f"{_pct(_ratio(num, den))} ({num}/{den})"


def format_table(figures: dict) -> str:
    """The figures of :meth:`Scorer.figures` as a readable table (every face | 20 to N px high | faces >= N px high)."""
    big_key = f"min_height_{figures['min_height']}"
    band_key = f"height_{BAND_MIN}_{figures['min_height']}"
    cols = [figures["all"], figures[band_key], figures[big_key]] if band_key in figures else [figures["all"], figures[big_key]]
    rows: list[tuple[str, list[str]]] = []

    def row(name: str, fn) -> None:
        rows.append((name, [fn(c) for c in cols]))

    row("annotated faces (mask/no_mask/incorrect)", lambda c: "/".join(str(c["faces"][k]) for k in CLASSES))
    for k in CLASSES:
        row(f"detection recall {k}", lambda c, k=k: _frac(c["detected"][k], c["faces"][k]))
    row("detection recall, every face", lambda c: _frac(sum(c["detected"].values()), sum(c["faces"].values())))
    row("detection precision", lambda c: _frac(c["true_positives"], c["detections"]))
    row(
        "IoU of matches: median (10th pct)",
        lambda c: "-" if not c["match_iou"] else f"{c['match_iou']['median']:.2f} ({c['match_iou']['p10']:.2f})",
    )
    if figures["classifier_labels"] is not None:
        row(
            "classification accuracy (matched faces)",
            lambda c: _frac(c["classification"]["correct"], c["classification"]["faces"]),
        )
        for k in CLASSES:
            if k in figures["classifier_labels"]:
                row(
                    f"  accuracy on {k}",
                    lambda c, k=k: _frac(
                        c["classification"]["per_class"][k]["correct"], c["classification"]["per_class"][k]["faces"]
                    ),
                )
        row("unmasked people flagged", lambda c: _frac(c["unmasked_flagged"]["count"], c["unmasked_flagged"]["faces"]))
        row(
            "masked people shown as masked", lambda c: _frac(c["masked_shown_masked"]["count"], c["masked_shown_masked"]["faces"])
        )
        row("incorrect-mask people flagged", lambda c: _frac(c["incorrect_flagged"]["count"], c["incorrect_flagged"]["faces"]))
        if "unknown" in cols[0]:
            row("not judged (unknown) of found faces", lambda c: _frac(c["unknown"]["count"], c["unknown"]["faces"]))
            for k in CLASSES:
                if k in figures["classifier_labels"]:
                    row(f"  unknown among found {k}", lambda c, k=k: _frac(c["unknown"]["per_class"][k]["count"],
                                                                              c["unknown"]["per_class"][k]["found"]))
    heads = ["every face"] + ([f"{BAND_MIN}-{figures['min_height']} px high"] if len(cols) == 3 else [])
    heads.append(f"faces >= {figures['min_height']} px high")
    w0 = max(len(r[0]) for r in rows)
    w = [max(len(heads[i]), *(len(r[1][i]) for r in rows)) for i in range(len(cols))]
    lines = [f"{'':{w0}}  " + "  ".join(f"{h:>{w[i]}}" for i, h in enumerate(heads))]
    lines += [f"{name:{w0}}  " + "  ".join(f"{v:>{w[i]}}" for i, v in enumerate(vals)) for name, vals in rows]
    return "\n".join(lines)


def format_sweep(rows: list[dict]) -> str:
    """One line per threshold of ``--sweep-confidence``: recall per class and precision in each height band, and
    with a classifier what the issue bars count on the larger faces."""
    first = rows[0]
    big_key, band_key = f"min_height_{first['min_height']}", f"height_{BAND_MIN}_{first['min_height']}"
    judged = first["classifier_labels"] is not None
    recall_heads = ["masked", "unmasked", "incorrect", "precision"]
    groups = [("", ["conf"]), (f"{BAND_MIN}-{first['min_height']} px high: found", recall_heads),
              (f">= {first['min_height']} px high: found", recall_heads)]
    if judged:
        groups.append((f">= {first['min_height']} px, classified", ["masked shown masked", "unmasked flagged",
                                                                   "incorrect flagged"]))
    table = []
    for r in rows:
        cells = [f"{r['confidence']:g}"]
        for c in (r[band_key], r[big_key]):
            cells += [_pct(c["recall"][k]) for k in CLASSES] + [_frac(c["true_positives"], c["detections"])]
        if judged:
            cells += [_pct(r[big_key][k]["share"]) for k in ("masked_shown_masked", "unmasked_flagged", "incorrect_flagged")]
        table.append(cells)
    heads = [h for _, hs in groups for h in hs]
    w = [max(len(heads[i]), *(len(cells[i]) for cells in table)) for i in range(len(heads))]
    top, col = [], 0
    for name, hs in groups:  # each group's title over its columns
        span = sum(w[col:col + len(hs)]) + 2 * (len(hs) - 1)
        top.append(f"{name:<{span}}")
        col += len(hs)
    out = ["  ".join(top).rstrip(), "  ".join(f"{h:>{w[i]}}" for i, h in enumerate(heads))]
    out += ["  ".join(f"{v:>{w[i]}}" for i, v in enumerate(cells)) for cells in table]
    return "\n".join(out)


def build_parser() -> argparse.ArgumentParser:
    from facemask_live.app.options import add_quality_options, non_negative_int, open_unit_float, positive_int, unit_float
    from facemask_live.detection.detect import DETECTORS

    p = argparse.ArgumentParser(
        prog="python -m facemask_live.evaluate",
        description="Score face detection and mask classification on PASCAL VOC annotated images "
        "(labels with_mask, without_mask, mask_weared_incorrect), exactly as the app runs each frame.",
    )
    p.add_argument("--images", metavar="DIR", help="folder with the images")
    p.add_argument("--annotations", metavar="DIR", help="folder with one PASCAL VOC .xml file per image")
    p.add_argument("--truth", metavar="FILE", help="instead of images: a truth.json of expected violation events per video "
                   "clip; runs every clip as the app does and compares the events (with --clips)")
    p.add_argument("--clips", metavar="DIR", help="folder with the clips named in --truth (default: the truth file's folder)")
    p.add_argument("--app-options", default="", metavar="'OPTIONS'",
                   help="--truth: more options for the app, e.g. '--alert-frames 3 --no-reid' (to measure a setting)")
    p.add_argument("--late-after", type=float, default=1.0, metavar="S",
                   help="--truth: an event more than S seconds after the person's face was first judged with a "
                   "violation label is late (default: 1.0)")
    p.add_argument("--json", metavar="FILE", help="also write every figure (and per-image counts) to FILE")
    p.add_argument("--limit", type=positive_int, metavar="N", help="only the first N annotation files (sorted by name)")
    p.add_argument(
        "--iou", type=unit_float, default=0.4, help="minimum IoU for a detection to match an annotated face (default: 0.4)"
    )
    p.add_argument(
        "--min-height", type=non_negative_int, default=40, metavar="PX", help="height limit of the second column (default: 40)"
    )
    p.add_argument("--detection-only", action="store_true", help="score the face detector only (no classifier needed)")
    p.add_argument("--save-crops", metavar="DIR",
                   help="also write the classifier's crop of every found and judged face to DIR/<annotated label>/ "
                   "(e.g. to choose a model's prior weights with 'train_mobilenet.py tune' on the faces the detector "
                   "finds, as the app sees them)")
    p.add_argument("--sweep-confidence", type=open_unit_float, nargs="+", metavar="P",
                   help="score every one of these detector thresholds in one pass (RetinaFace detectors): the "
                   "detector runs once at the lowest and each threshold keeps the faces scoring at least it, which "
                   "is what the app finds at that --confidence; prints one row per threshold (to choose --confidence "
                   "on your own annotated frames)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks on internal errors")
    g = p.add_argument_group("models (as in the app)")
    g.add_argument(
        "--model", metavar="PATH", help="classifier metadata .json or model file (default: facemask_live/models/mask_classifier.json)"
    )
    g.add_argument(
        "--violation-threshold",
        type=open_unit_float,
        default=None,
        metavar="P",
        help="probability of a violation label from which a face is flagged (default: the model's)",
    )
    g.add_argument("--detector", choices=DETECTORS, default=None, help="face detector (default: the app's)")
    g.add_argument("--detector-dir", metavar="DIR", help="folder with the face detector files (default: facemask_live/models/)")
    g.add_argument("--confidence", type=unit_float, default=None, help="face detector confidence threshold (default: the app's)")
    g.add_argument(
        "--min-face",
        type=non_negative_int,
        default=None,
        metavar="PX",
        help="ignore faces smaller than this (default: the app's)",
    )
    g.add_argument(
        "--detector-size",
        type=positive_int,
        default=None,
        metavar="PX",
        help="side of the detector's network input (default: the app's)",
    )
    g.add_argument(
        "--verify-faces",
        type=non_negative_int,
        default=None,
        metavar="N",
        help="low-confidence candidates re-checked per image (default: the app's; 0 = off)",
    )
    g.add_argument(
        "--candidate-confidence",
        type=unit_float,
        default=None,
        metavar="P",
        help="lowest score of a re-checked candidate (default: the app's)",
    )
    g.add_argument("--threads", type=positive_int, default=None, metavar="N", help="CPU threads (default: all cores)")
    add_quality_options(p)
    return p


# evaluate option -> (settings section, key); None as section: a key of Settings itself
MODEL_OPTIONS = {name: OPTION_MAP[name] for name in (
    "model", "violation_threshold", "detector", "detector_dir", "confidence", "min_face", "detector_size",
    "verify_faces", "candidate_confidence", "threads")}  # the app's own mapping, for the options evaluate shares
# the quality gate and re-identification options (options.add_quality_options; options.OPTION_MAP maps them)
QUALITY_OPTIONS = ("quality_gate", "judge_min_face", "judge_min_sharpness", "judge_min_confidence", "alert_min_confidence",
                   "alert_min_frontal", "alert_frames", "reid", "reid_max_age", "reid_min_similarity")


def given_model_options(args: argparse.Namespace) -> dict:
    """The model, quality and re-identification options given here (option dest -> value); the quality
    options have the app's defaults, so only those that differ from them count as given."""
    defaults = build_parser().parse_args(["--truth", "x"])
    given = {}
    for name in MODEL_OPTIONS:
        v = getattr(args, name, None)
        if v is not None:
            given[name] = v
    for name in QUALITY_OPTIONS:
        v = getattr(args, name, None)
        if v is not None and v != getattr(defaults, name):
            given[name] = v
    return given


def app_settings(args: argparse.Namespace):
    """The app's settings (its defaults, no tracker, the detector on every image) with the model options given here."""
    from facemask_live.app.options import apply_options, override
    from facemask_live.core.config import Settings

    base = override(Settings(), detector={"detect_every": 1}, tracking={"enabled": False})
    return apply_options(base, given_model_options(args))


def truth_settings(args: argparse.Namespace):
    """``--truth``: the app's settings from ``--app-options`` (as ``facemask-live`` takes them), with the model
    and quality options given here on top; cliptruth puts each clip in as the source."""
    import shlex

    from facemask_live.app.options import apply_options, settings_from_args
    from facemask_live.app.options import build_parser as app_parser
    from facemask_live.core.config import ConfigError

    def fail(message: str):  # one error line naming --app-options, not the app's whole usage
        raise ConfigError(f"--app-options: {message}")

    try:
        app_argv = shlex.split(args.app_options)
    except ValueError as exc:
        fail(str(exc))
    parser = app_parser()
    parser.error = fail
    settings = settings_from_args(parser.parse_args(app_argv), parser, app_argv)
    return apply_options(settings, given_model_options(args))


def evaluate(args: argparse.Namespace, out=None) -> dict:
    """Run the pipeline over the annotated images named by ``args``; returns the figures (also printed)."""
    import cv2

    from facemask_live.core.results import Frame
    from facemask_live.detection.classify import default_model_path

    out = out or sys.stdout
    scenes = load_scenes(args.images, args.annotations, args.limit)
    if args.json:
        parent = Path(args.json).expanduser().resolve().parent
        if not parent.is_dir():
            raise OutputError(f"cannot write {args.json}: folder {parent} does not exist")
        if Path(args.json).expanduser().is_dir():
            raise OutputError(f"cannot write {args.json}: it is a folder (pass a file name such as figures.json)")
    sweep = sorted(set(args.sweep_confidence or ()))
    if sweep and args.confidence is not None:
        raise SourceError("pass either --confidence or --sweep-confidence, not both")
    if sweep and args.save_crops:
        raise SourceError("--save-crops writes the faces of one threshold: leave out --sweep-confidence")
    settings = app_settings(args)
    if sweep:
        from facemask_live.app.options import override
        from facemask_live.detection.detect import RETINAFACE_FILES

        if settings.detector.name not in RETINAFACE_FILES:
            # the SSD's second look re-checks the candidates under the threshold, so a lower one is not a superset
            raise SourceError(f"--sweep-confidence needs a RetinaFace detector ({', '.join(RETINAFACE_FILES)}), "
                              f"not {settings.detector.name}: run once per --confidence instead")
        settings = override(settings, detector={"confidence": sweep[0]})
    detection_only = args.detection_only
    if args.save_crops and detection_only:
        raise SourceError("--save-crops writes what the classifier judged: leave out --detection-only")
    if not detection_only and not settings.classifier.model and not Path(default_model_path()).is_file():
        print(
            f"note: no classifier model at {default_model_path()}: scoring face detection only (pass --model PATH)",
            file=sys.stderr,
        )
        detection_only = True
        if args.save_crops:
            raise SourceError(f"--save-crops needs a classifier model: none at {default_model_path()} (pass --model PATH)")
    from facemask_live.engine.build import build_detector, build_pipeline

    if detection_only:
        cv2.setNumThreads(settings.detector_threads())
        detector, pipeline = build_detector(settings), None
        labels: dict = {}
    else:
        pipeline = build_pipeline(settings)
        detector = pipeline.detector
        labels = {"violation_labels": pipeline.classifier.violation_labels, "model_labels": list(pipeline.classifier.labels)}
    scorer = Scorer(**labels, min_iou=args.iou, min_height=args.min_height)
    # the lowest threshold's row is the main scorer itself (the pass ran at it); one more scorer per other threshold
    sweep_scorers = [scorer, *(Scorer(**labels, min_iou=args.iou, min_height=args.min_height) for _ in sweep[1:])]
    bar = None
    if args.progress:
        from tqdm import tqdm

        bar = tqdm(total=len(scenes), unit="image", desc="evaluate", file=sys.stderr, leave=False)
    per_image = []
    times = {"detect": 0.0, "classify": 0.0}
    try:
        for i, scene in enumerate(scenes):
            image = cv2.imread(str(scene.image), cv2.IMREAD_COLOR)
            if image is None:
                raise SourceError(f"cannot read image {scene.image} (not an image or corrupt)")
            if pipeline is None:
                t0 = time.perf_counter()
                faces = detector.detect(image)
                times["detect"] += time.perf_counter() - t0
            else:
                result = pipeline.process(Frame(image, i, 0.0, time.monotonic(), file=scene.image.name, source=str(args.images)))
                faces = result.faces
                times["detect"] += result.timings.get("detect", 0.0)
                times["classify"] += result.timings.get("classify", 0.0)
            counts = scorer.add(scene.objects, faces)
            for t, sc in zip(sweep[1:], sweep_scorers[1:]):
                # greedy NMS only lets a box suppress lower-scoring ones, and faces are judged one by one, so
                # the faces scoring >= t of a pass at the lowest threshold are those of a pass at t
                sc.add(scene.objects, [f for f in faces if f.score >= t])
            if args.save_crops and pipeline is not None:
                save_matched_crops(Path(args.save_crops), scene, image, faces, scorer.last_pairs,
                                   pipeline.classifier.crop_margin)
            per_image.append({"image": scene.image.name, **counts})
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    figures = scorer.figures()
    n = max(len(scenes), 1)
    figures["ms_per_image"] = {k: 1000 * v / n for k, v in times.items() if pipeline is not None or k == "detect"}
    figures["settings"] = {
        "images": str(args.images),
        "annotations": str(args.annotations),
        "limit": args.limit,
        "model": None if detection_only else str(getattr(pipeline.classifier, "model_path", settings.classifier.model)),
        "detector": detector_settings(detector),
    }
    figures["per_image"] = per_image
    what = "face detection only" if detection_only else f"detector + classifier ({', '.join(pipeline.classifier.labels)})"
    print(f"{len(scenes)} images, {what}, match at IoU >= {args.iou:g}", file=out)
    if sweep:
        # the main figures are those of the lowest threshold: the sweep's rows say it all
        figures["sweep"] = [{"confidence": t, **sc.figures()} for t, sc in zip(sweep, sweep_scorers)]
        print(format_sweep(figures["sweep"]), file=out)
    else:
        print(format_table(figures), file=out)
    ms = figures["ms_per_image"]
    print("time per image: " + ", ".join(f"{k} {v:.1f} ms" for k, v in ms.items()), file=out)
    if args.json:
        write_json(args.json, figures, "figures file")
    return figures


def save_matched_crops(root: Path, scene: Scene, image: np.ndarray, faces: Sequence[Face], pairs, margin: float) -> int:
    """Write the crop the classifier saw of each face matched to an annotation (``pairs``: the scorer's
    :func:`match` of this image; faces the quality gate left unjudged are skipped) as
    ``root/<annotated label>/<image stem>__<face>_<height>px.png``; returns the count."""
    import cv2

    from facemask_live.core.geometry import crop

    written = 0
    for fi, ti, _ in pairs:
        face, gt = faces[fi], scene.objects[ti]
        if face.label == UNKNOWN_LABEL:
            continue
        folder = root / gt.label
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"cannot write crops to {folder}: {e.strerror or e}") from None
        path = folder / f"{scene.image.stem}__{ti:02d}_{gt.height}px.png"
        if not cv2.imwrite(str(path), crop(image, face.box, margin)):
            raise OutputError(f"cannot write crop {path}")
        written += 1
    return written


def detector_settings(detector) -> dict:
    keys = (
        "name",
        "confidence",
        "min_size",
        "input_size",
        "verify_candidates",
        "candidate_confidence",
        "verify_confidence",
        "verify_size",
        "verify_context",
    )
    return {k: getattr(detector, k) for k in keys if hasattr(detector, k)}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    if args.truth is None and (args.images is None or args.annotations is None):
        parser.error("pass --images DIR and --annotations DIR (annotated scenes), or --truth FILE (video clips)")

    def action() -> int:
        if args.truth is not None:
            from facemask_live.measure.cliptruth import evaluate_truth

            clips = args.clips or str(Path(args.truth).parent)
            evaluate_truth(args.truth, clips, args.json, settings=truth_settings(args), late_after=args.late_after)
            return 0
        evaluate(args)
        return 0

    return exit_code_of(action, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
