"""Synthetic masked faces: mask templates put on real unmasked faces, reproducibly from a seed.

Long because the landmark geometry, the warping and its command line are one recipe, read top to bottom.

    python -m facemask_live.training.synth_masks --seed 7 --out /tmp/synth [--max-crops 1500] [--sheet SHEET.png]

Sources are the ``without_mask`` faces of the **train** photos of the fixed scene splits (``scene_splits.json``
and ``crowd_splits.json`` in ``facemask_live/models/report/``; val and test photos are never read) and the
unmasked crops of ``masks-2class/train``. Each face is run through the app's RetinaFace detector, whose five
landmarks (the eyes, the nose tip, the mouth corners) give the six anchor points of ``masks.cfg`` (MaskTheFace
convention: ``mask_a`` / ``mask_c`` the cheeks at nose height, ``mask_b`` the nose bridge, ``mask_d`` / ``mask_f``
the jaw at lower-lip height, ``mask_e`` the chin). The frontal, ``_left`` or ``_right`` view of a template is
chosen by head turn (where the nose tip lies between the eyes), warped onto the six points with a perspective
transform (least squares over the six pairs), shaded to the face's light and alpha-blended.

Variants: ``proper`` (over the nose: label ``mask``), ``below_nose`` (the top edge under the nose tip) and
``chin`` (the mask pulled down onto the chin, mouth free): both ``incorrect_mask``, the app's label of a mask worn
below the nose. Output: ``OUT/<label>/*.png`` (an image-folder tree for ``train_mobilenet.py --extra-train``),
``OUT/synth_manifest.json`` (every face: source, template, variant, landmarks) and a sample sheet.
Everything random is drawn from ``numpy.random.default_rng([seed, crc32(face id)])``: the same seed gives the same
images, whatever the order or the subset.
"""

from __future__ import annotations

import argparse
import configparser
import json
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
REPORT = ROOT / "facemask_live" / "models" / "report"
DEFAULT_SPLITS = (REPORT / "scene_splits.json", REPORT / "crowd_splits.json")
DEFAULT_TEMPLATES = SHARED / "mask-templates"
DEFAULT_CROPS = SHARED / "masks-2class" / "train" / "without_mask"
# gas masks are left out by default: nobody queues at an entrance in one
DEFAULT_FAMILIES = ("surgical", "surgical_blue", "surgical_green", "N95", "KN95", "cloth")
VARIANTS = {"proper": "mask", "below_nose": "incorrect_mask", "chin": "incorrect_mask"}
DEFAULT_VARIANT_SHARES = (0.5, 0.3, 0.2)  # proper, below_nose, chin
FORMAT = "facemask-live-synthetic-masks/1"
CROP_MARGIN = 0.1  # the app's crop margin (pipeline.crop_faces), as the scene crops are cut


class SynthError(Exception):
    """Bad input for the synthetic-mask command (one line for the user)."""


@dataclass(frozen=True)
class Template:
    name: str  # section of masks.cfg, e.g. "surgical_blue_left"
    family: str  # "surgical_blue"
    view: str  # "frontal" | "left" | "right"
    image: np.ndarray  # BGRA
    points: np.ndarray  # (6, 2) float32, mask_a .. mask_f in template pixels


def load_templates(folder: str | Path, families: tuple[str, ...] | None = DEFAULT_FAMILIES) -> dict[str, dict[str, Template]]:
    """``{family: {view: Template}}`` from ``folder/masks.cfg`` (only families with all three views)."""
    import cv2

    folder = Path(folder)
    cfg_path = folder / "masks.cfg"
    if not cfg_path.is_file():
        raise SynthError(f"--templates {folder}: no masks.cfg there")
    cfg = configparser.ConfigParser()
    try:
        cfg.read(cfg_path)
    except configparser.Error as e:
        raise SynthError(f"--templates {cfg_path}: unreadable ({str(e).splitlines()[0]})") from None
    out: dict[str, dict[str, Template]] = {}
    for name in cfg.sections():
        sec = cfg[name]
        family, view = name, "frontal"
        for side in ("left", "right"):
            if name.endswith("_" + side):
                family, view = name[: -len(side) - 1], side
        if families is not None and family not in families:
            continue
        try:
            pts = np.array([[float(v) for v in sec[f"mask_{k}"].split(",")] for k in "abcdef"], np.float32)
        except (KeyError, ValueError):
            raise SynthError(f"--templates {cfg_path}: [{name}] needs mask_a .. mask_f as 'x, y'") from None
        path = folder / sec.get("template", f"{name}.png")
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None or img.ndim != 3 or img.shape[2] != 4:
            raise SynthError(f"--templates: {path} is not a readable image with an alpha channel")
        out.setdefault(family, {})[view] = Template(name, family, view, img, pts)
    out = {f: v for f, v in out.items() if set(v) == {"frontal", "left", "right"}}
    if not out:
        raise SynthError(f"--templates {folder}: no template family with frontal, _left and _right views"
                         + (f" among {', '.join(families)}" if families else ""))
    return out


# ---------------------------------------------------------------- geometry


def head_turn(landmarks: np.ndarray) -> float:
    """Where the nose tip lies between the eyes, along the eye line: 0 at the image-left eye, 1 at the
    image-right eye, 0.5 for a frontal face (may fall outside 0..1 on a profile)."""
    el, er, nose = landmarks[0], landmarks[1], landmarks[2]
    axis = er - el
    d2 = float(axis @ axis)
    if d2 < 1e-6:
        return 0.5
    return float((nose - el) @ axis / d2)


def choose_view(turn: float, threshold: float = 0.3) -> str:
    """The template view for a head turn: ``left`` when the nose is near the image-left eye (the face turned to
    the image's left: the templates' ``_left`` views have the nose bridge at their left side), ``right`` mirrored."""
    if turn < threshold:
        return "left"
    if turn > 1 - threshold:
        return "right"
    return "frontal"


def plausible_landmarks(landmarks: np.ndarray, box) -> bool:
    """Eyes above the nose above the mouth (along the face's own axis), points inside the (grown) box, the eyes
    apart: a detector's landmarks that can carry a mask."""
    el, er, nose, ml, mr = landmarks
    eyes, mouth = (el + er) / 2, (ml + mr) / 2
    down = mouth - eyes
    h = float(np.hypot(*down))
    x1, y1, x2, y2 = box
    size = max(x2 - x1, y2 - y1)
    if h < 0.15 * size or h > 0.9 * size or float(np.hypot(*(er - el))) < 0.12 * size:
        return False
    u = down / h
    t_nose = float((nose - eyes) @ u)
    if not 0.15 * h < t_nose < 0.95 * h:
        return False
    if float((er - el) @ np.array([u[1], -u[0]])) <= 0:  # the right eye must be on the image right of the axis
        return False
    pad = 0.25 * size
    return bool(np.all(landmarks[:, 0] > x1 - pad) and np.all(landmarks[:, 0] < x2 + pad)
                and np.all(landmarks[:, 1] > y1 - pad) and np.all(landmarks[:, 1] < y2 + pad))


def anchor_points(landmarks: np.ndarray, variant: str = "proper") -> np.ndarray:
    """The six ``masks.cfg`` points (a .. f, (6, 2)) on a face, from its five landmarks.

    The face frame: ``u`` points from the eye centre to the mouth centre (length ``h``), ``v`` along the eye
    line. Heights along ``u`` (0 = eye line, 1 = mouth line): nose bridge 0.3, cheeks 0.55, jaw at the lower lip
    1.2, chin 1.65. Widths: beyond each eye by a share of the eye distance that grows on the side turned towards
    the camera (the nose position, :func:`head_turn`, tells how far the head is turned). ``below_nose`` moves the
    top edge under the nose tip; ``chin`` moves the whole mask below the mouth."""
    el, er, nose, ml, mr = (np.asarray(p, np.float64) for p in landmarks)
    eyes, mouth = (el + er) / 2, (ml + mr) / 2
    down = mouth - eyes
    h = max(float(np.hypot(*down)), 1e-3)
    u = down / h
    v = np.array([u[1], -u[0]])  # image-right when u points down (image y grows downwards)
    de = float((er - el) @ v)
    scale = max(de, 0.85 * h)  # a profile's eyes are close together: the face is not narrower than this
    turn = float(np.clip(head_turn(np.asarray(landmarks, np.float64)), -0.2, 1.2))
    left_ext = scale * (0.15 + 0.9 * np.clip(turn, 0, 1))  # beyond the image-left eye
    right_ext = scale * (0.15 + 0.9 * np.clip(1 - turn, 0, 1))
    t_nose = float((nose - eyes) @ u)
    # the nose line: the bridge sits between the eyes' centre and the nose tip, pulled towards the tip sideways
    x_l = float((el - eyes) @ v) - left_ext
    x_r = float((er - eyes) @ v) + right_ext
    x_nose = float((nose - eyes) @ v)
    x_mouth_l, x_mouth_r = float((ml - eyes) @ v), float((mr - eyes) @ v)
    jaw_l = min(x_mouth_l - 0.75 * left_ext, x_l + 0.25 * scale)
    jaw_r = max(x_mouth_r + 0.75 * right_ext, x_r - 0.25 * scale)
    top_b, top_side, low_side, chin = 0.3 * t_nose, 0.6 * t_nose + 0.05 * h, 1.2 * h, 1.65 * h
    bridge_x = 0.4 * x_nose + 0.6 * (x_mouth_l + x_mouth_r) / 2
    chin_x = 0.2 * x_nose + 0.8 * (x_mouth_l + x_mouth_r) / 2
    if variant == "below_nose":  # the top edge just under the nose tip, the rest where it was
        shift = t_nose + 0.12 * h - top_b
        top_b += shift
        top_side += shift * 0.85
        low_side += 0.08 * h
        chin += 0.08 * h
    elif variant == "chin":  # pulled down below the lips: covers the chin and the jaw, mouth free
        shift = 1.12 * h - top_b
        top_b += shift
        top_side += shift * 0.95
        low_side, chin = low_side + 0.65 * h, chin + 0.55 * h
    elif variant != "proper":
        raise ValueError(f"unknown variant {variant!r} (choose from {', '.join(VARIANTS)})")
    local = np.array([
        [x_l, top_side], [bridge_x, top_b], [x_r, top_side],
        [jaw_l, low_side], [chin_x, chin], [jaw_r, low_side],
    ])
    return (eyes + local[:, :1] * v + local[:, 1:] * u).astype(np.float32)


def put_mask(image: np.ndarray, landmarks: np.ndarray, template: Template, variant: str = "proper",
             rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``image`` (BGR) with ``template`` warped onto the face of ``landmarks`` and alpha-blended.

    Returns (new image, alpha (H, W) float32 0..1 of the mask). ``rng`` adds small variation (anchor jitter,
    brightness); without it the result is the plain warp."""
    import cv2

    h, w = image.shape[:2]
    dst = anchor_points(landmarks, variant)
    src = template.points.astype(np.float32)
    span = float(np.hypot(*(dst[2] - dst[0]))) + 1e-3
    if rng is not None:
        dst = dst + rng.normal(0, 0.025 * span, dst.shape).astype(np.float32)
    # shrink the template first (area filter) so the warp does not alias a 320 px mask onto a 30 px face
    f = min(1.0, 1.5 * span / max(float(np.hypot(*(src[2] - src[0]))), 1.0))
    tpl = template.image
    if f < 1.0:
        tpl = cv2.resize(tpl, (max(2, round(tpl.shape[1] * f)), max(2, round(tpl.shape[0] * f))), interpolation=cv2.INTER_AREA)
        src = src * np.float32([tpl.shape[1] / template.image.shape[1], tpl.shape[0] / template.image.shape[0]])
    H, _ = cv2.findHomography(src, dst, 0)
    if H is None:
        raise ValueError("no perspective transform for these landmarks")
    warped = cv2.warpPerspective(tpl, H, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    alpha = warped[..., 3].astype(np.float32) / 255.0
    if span < 60:  # soften the edge on small faces like the camera's blur
        alpha = cv2.GaussianBlur(alpha, (0, 0), 0.6)
    colour = warped[..., :3].astype(np.float32)
    # shade to the face: the light on the skin around the eyes and nose sets the mask's brightness
    el, er, nose = landmarks[0], landmarks[1], landmarks[2]
    r = max(2, int(0.5 * np.hypot(*(er - el))))
    cx, cy = (int(round(c)) for c in (el + er + nose) / 3)
    patch = image[max(0, cy - r): cy + r + 1, max(0, cx - r): cx + r + 1]
    skin = float(cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY).mean()) if patch.size else 128.0
    gain = float(np.clip(0.35 + skin / 170.0, 0.5, 1.1))
    if rng is not None:
        gain *= float(rng.uniform(0.88, 1.05))
    colour *= gain
    out = image.astype(np.float32) * (1 - alpha[..., None]) + colour * alpha[..., None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), alpha


# ---------------------------------------------------------------- sources


@dataclass
class FaceSource:
    id: str  # stable name: "scene/<set>/<stem>/<k>" or "crop/<file name>"
    path: Path
    box: tuple[int, int, int, int] | None  # annotated box in the photo (None: the file is a face crop)


def scene_faces(splits_files, min_face: int) -> list[FaceSource]:
    """The ``without_mask`` boxes (shorter side >= ``min_face``) of the **train** photos of each split file."""
    from facemask_live.sources.voc import find_image, read_voc

    faces: list[FaceSource] = []
    for sf in map(Path, splits_files):
        try:
            manifest = json.loads(sf.read_text())
            folders = {Path(f).name: Path(f) for f in manifest["settings"]["scenes"]}
            train = manifest["sources"]["train"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise SynthError(f"--splits {sf}: not a scene split file ({type(e).__name__})") from None
        for source in train:
            set_name, stem = source.split("/", 1)
            folder = folders.get(set_name)
            if folder is None or not folder.is_dir():
                folder = SHARED / set_name  # another checkout: the same set under ../shared/data
            xml = folder / "annotations" / f"{stem}.xml"
            if not xml.is_file():
                raise SynthError(f"--splits {sf}: {xml} not found (is ../shared/data there?)")
            voc = read_voc(xml)
            img = find_image(folder / "images", xml, voc.filename)
            if img is None:
                continue
            for k, obj in enumerate(voc.objects):
                x1, y1, x2, y2 = obj.int_box
                if obj.label == "without_mask" and min(x2 - x1, y2 - y1) >= min_face:
                    faces.append(FaceSource(f"scene/{set_name}/{stem}/{k}", Path(img), (x1, y1, x2, y2)))
    return faces


def crop_faces(folder: str | Path | None, max_crops: int, seed: int) -> list[FaceSource]:
    """Up to ``max_crops`` unmasked face crops of ``folder``, a seeded sample in name order."""
    from facemask_live.sources.voc import IMAGE_EXTS

    if folder is None or max_crops <= 0:
        return []
    folder = Path(folder)
    if not folder.is_dir():
        raise SynthError(f"--crops {folder}: not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS)
    if len(files) > max_crops:
        pick = np.random.default_rng([seed, 0xC0]).choice(len(files), max_crops, replace=False)
        files = [files[i] for i in sorted(pick)]
    return [FaceSource(f"crop/{p.name}", p, None) for p in files]


def face_rng(seed: int, face_id: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(face_id.encode())])


def pick(rng: np.random.Generator, templates: dict[str, dict[str, Template]], turn: float,
         shares: tuple[float, float, float]) -> tuple[Template, str]:
    family = sorted(templates)[int(rng.integers(len(templates)))]
    variant = list(VARIANTS)[int(rng.choice(3, p=np.asarray(shares) / sum(shares)))]
    return templates[family][choose_view(turn)], variant


def landmarks_for(detector, image: np.ndarray, box) -> np.ndarray | None:
    """The detector's five landmarks of the face at ``box`` (best IoU >= 0.4), or of the face nearest the centre
    of a crop (``box`` None); None if the detector finds none there or its points cannot carry a mask."""
    from facemask_live.core.geometry import iou

    faces = [f for f in detector.detect(image) if f.landmarks is not None]
    if box is None:
        h, w = image.shape[:2]
        box = (0.2 * w, 0.2 * h, 0.8 * w, 0.8 * h)
        need = 0.15
    else:
        need = 0.4
    best, best_iou = None, need
    for f in faces:
        o = iou(f.box, box)
        if o >= best_iou:
            best, best_iou = f, o
    if best is None or not plausible_landmarks(np.asarray(best.landmarks, np.float64), best.box):
        return None
    return np.asarray(best.landmarks, np.float32)


def synthesise(face: FaceSource, image: np.ndarray, detector, templates, seed: int,
               shares: tuple[float, float, float]) -> tuple[np.ndarray, dict] | None:
    """One synthetic face crop (BGR) and its manifest record, or None when the face has no usable landmarks."""
    import cv2

    from facemask_live.core.geometry import crop

    if face.box is None:  # a face crop: give the detector some context around it
        h, w = image.shape[:2]
        p = int(0.3 * max(h, w))
        padded = cv2.copyMakeBorder(image, p, p, p, p, cv2.BORDER_REPLICATE)
        lm = landmarks_for(detector, padded, (p, p, p + w, p + h))
        if lm is None:
            return None
        lm = lm - p
        work, cut = image, None
    else:
        x1, y1, x2, y2 = face.box
        g = int(0.8 * max(x2 - x1, y2 - y1))  # the mask is drawn on a region around the face, not the whole photo
        H, W = image.shape[:2]
        ox, oy = max(0, x1 - g), max(0, y1 - g)
        region = image[oy: min(H, y2 + g), ox: min(W, x2 + g)]
        lm = landmarks_for(detector, image, face.box)  # the whole photo, as the app sees it
        if lm is None:
            return None
        work, cut = region.copy(), (x1 - ox, y1 - oy, x2 - ox, y2 - oy)
        lm = lm - np.float32([ox, oy])
    rng = face_rng(seed, face.id)
    turn = head_turn(lm)
    template, variant = pick(rng, templates, turn, shares)
    try:
        out, _ = put_mask(work, lm, template, variant, rng)
    except ValueError:
        return None
    if cut is not None:
        out = np.ascontiguousarray(crop(out, cut, CROP_MARGIN))
    record = {"id": face.id, "source": str(face.path), "box": list(face.box) if face.box else None,
              "landmarks": np.round(lm, 1).tolist(), "turn": round(turn, 3), "template": template.name,
              "variant": variant, "label": VARIANTS[variant]}
    return out, record


def sample_sheet(images: list[tuple[np.ndarray, str]], cols: int = 8, cell: int = 96) -> np.ndarray:
    """A grid of ``cell`` px faces, each with its variant written under it."""
    import cv2

    rows = max(1, -(-len(images) // cols))
    sheet = np.full((rows * (cell + 14), cols * cell, 3), 255, np.uint8)
    for i, (img, text) in enumerate(images):
        r, c = divmod(i, cols)
        ih, iw = img.shape[:2]
        f = cell / max(ih, iw)
        small = cv2.resize(img, (max(1, round(iw * f)), max(1, round(ih * f))), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
        y0, x0 = r * (cell + 14), c * cell
        sheet[y0: y0 + small.shape[0], x0: x0 + small.shape[1]] = small
        cv2.putText(sheet, text, (x0 + 2, y0 + cell + 11), cv2.FONT_HERSHEY_SIMPLEX, 0.32, (0, 0, 0), 1, cv2.LINE_AA)
    return sheet


def sheet_caption(record: dict) -> str:
    short = {"proper": "ok", "below_nose": "below", "chin": "chin"}
    return f"{short[record['variant']]} {record['template']}"[:18]


def _view(record: dict) -> str:
    t = record["template"]
    return "left" if t.endswith("_left") else "right" if t.endswith("_right") else "frontal"


def sheet_picks(records: list[dict], n: int, seed: int) -> list[int]:
    """Indices for the sample sheet: a seeded sample in which every variant and the turned views
    (``_left`` / ``_right`` templates) are shown, up to ``n // 6`` each, the rest at random."""
    order = [int(i) for i in np.random.default_rng([seed, 0x5EE7]).permutation(len(records))]
    chosen: list[int] = []
    groups = [lambda r, v=v: r["variant"] == v for v in VARIANTS] + [lambda r, v=v: _view(r) == v for v in ("left", "right")]
    for belongs in groups:
        members = [i for i in order if belongs(records[i]) and i not in chosen]
        chosen += members[: max(1, n // 6)]
    chosen += [i for i in order if i not in chosen]
    return chosen[:n]


# ---------------------------------------------------------------- command


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m facemask_live.training.synth_masks",
        description="Put mask templates on the unmasked faces of the training scenes and crops (train split only), "
                    "placed from the RetinaFace detector's five landmarks; writes OUT/<label>/*.png for "
                    "train_mobilenet.py --extra-train, OUT/synth_manifest.json and a sample sheet.")
    p.add_argument("--seed", type=int, required=True, help="everything random follows from it (same seed, same images)")
    p.add_argument("--out", required=True, help="output folder (created; its mask/ and incorrect_mask/ PNGs are replaced)")
    p.add_argument("--splits", nargs="*", default=[str(s) for s in DEFAULT_SPLITS],
                   help="scene split files; the without_mask faces of their TRAIN photos are used "
                        "(default: the shipped scene_splits.json and crowd_splits.json; none: crops only)")
    p.add_argument("--crops", default=str(DEFAULT_CROPS), help="folder of unmasked face crops (default: masks-2class/train/without_mask)")
    p.add_argument("--max-crops", type=int, default=1500, help="how many of --crops to use, a seeded sample (0: none)")
    p.add_argument("--templates", default=str(DEFAULT_TEMPLATES), help="folder with masks.cfg and the template PNGs")
    p.add_argument("--families", nargs="+", default=list(DEFAULT_FAMILIES), help="template families to use")
    p.add_argument("--shares", nargs=3, type=float, default=list(DEFAULT_VARIANT_SHARES), metavar=("PROPER", "BELOW_NOSE", "CHIN"),
                   help="how often each variant is drawn (default 0.5 0.3 0.2)")
    p.add_argument("--min-face", type=int, default=24, help="smallest scene face used (shorter box side, pixels)")
    p.add_argument("--limit", type=int, default=0, help="use only the first N faces (0: all; for a quick look)")
    p.add_argument("--sheet", default=None, help="sample sheet PNG (default: OUT/synth_samples.png)")
    p.add_argument("--sheet-size", type=int, default=40, help="faces on the sample sheet")
    p.add_argument("--detector-dir", default=None, help="folder with the RetinaFace ONNX files (default: the shipped models)")
    p.add_argument("--threads", type=int, default=1, help="detector threads")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _faces_and_out(args: argparse.Namespace) -> tuple[list, Path]:
    """The unmasked faces to use and the output folder, emptied of an earlier run's pictures."""
    if args.max_crops < 0 or args.limit < 0 or args.min_face < 1 or args.sheet_size < 0:
        raise SynthError("--max-crops, --limit and --sheet-size must be >= 0, --min-face >= 1")
    if any(s < 0 for s in args.shares) or sum(args.shares) <= 0:
        raise SynthError("--shares: three numbers >= 0, not all 0")
    faces = scene_faces(args.splits, args.min_face) + crop_faces(args.crops if args.max_crops else None, args.max_crops, args.seed)
    if args.limit:
        faces = faces[: args.limit]
    if not faces:
        raise SynthError("no unmasked faces to put masks on (check --splits and --crops)")
    out = Path(args.out)
    try:
        for label in set(VARIANTS.values()):
            (out / label).mkdir(parents=True, exist_ok=True)
            for old in (out / label).glob("*.png"):
                old.unlink()
    except OSError as e:
        raise SynthError(f"--out {out}: cannot write there ({e.strerror})") from None
    return faces, out


def _write_sheet(args: argparse.Namespace, records: list[dict], out: Path) -> Path | None:
    """The sample sheet of the training report (None without --sheet-size)."""
    import cv2

    picks = sheet_picks(records, args.sheet_size, args.seed) if args.sheet_size else []
    if not picks:
        return None
    sheet_path = Path(args.sheet) if args.sheet else out / "synth_samples.png"
    tiles = [(cv2.imread(str(out / records[i]["file"])), sheet_caption(records[i])) for i in picks]
    sheet_path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(sheet_path), sample_sheet(tiles), [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise SynthError(f"--sheet: cannot write {sheet_path}")
    return sheet_path


def run(args: argparse.Namespace) -> dict:
    import cv2
    from tqdm import tqdm

    from facemask_live.detection.detect import create_detector

    faces, out = _faces_and_out(args)
    templates = load_templates(args.templates, tuple(args.families))
    detector = create_detector("retinaface-masked", args.detector_dir, threads=args.threads, min_size=8)
    records: list[dict] = []
    skipped = 0
    cache: tuple[Path, np.ndarray] | None = None
    for face in tqdm(faces, desc="synthetic masks", unit="face", file=sys.stderr, disable=args.no_progress):
        if cache is None or cache[0] != face.path:
            cache = (face.path, cv2.imdecode(np.fromfile(str(face.path), np.uint8), cv2.IMREAD_COLOR))
        made = None if cache[1] is None else synthesise(face, cache[1], detector, templates, args.seed, tuple(args.shares))
        if made is None:
            skipped += 1
            continue
        crop_img, rec = made
        name = face.id.replace("/", "__").rsplit(".", 1)[0] + f"__{rec['variant']}.png"
        rec["file"] = f"{rec['label']}/{name}"
        if not cv2.imwrite(str(out / rec["file"]), crop_img):
            raise SynthError(f"--out: cannot write {out / rec['file']}")
        records.append(rec)
    if not records:
        raise SynthError(f"the detector found usable landmarks on none of the {len(faces)} faces")
    sheet_path = _write_sheet(args, records, out)
    counts: dict[str, int] = {}
    for r in records:
        counts[r["variant"]] = counts.get(r["variant"], 0) + 1
    manifest = {
        "format": FORMAT,
        "seed": args.seed,
        "settings": {k: v for k, v in vars(args).items() if k not in ("no_progress", "threads")},
        "faces_tried": len(faces),
        "made": len(records),
        "skipped_no_landmarks": skipped,
        "variants": counts,
        "labels": {lab: sum(1 for r in records if r["label"] == lab) for lab in sorted(set(VARIANTS.values()))},
        "sheet": str(sheet_path) if sheet_path else None,
        "faces": records,
    }
    (out / "synth_manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        m = run(args)
    except SynthError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # the model files, OpenCV: one line, not a traceback
        from facemask_live.core.errors import ModelError

        if isinstance(e, ModelError):
            print(f"error: {e}", file=sys.stderr)
            return 2
        raise
    print(f"synthetic masks: {m['made']} faces from {m['faces_tried']} ({m['skipped_no_landmarks']} without usable "
          f"landmarks) -> {args.out}: " + ", ".join(f"{k} {v}" for k, v in sorted(m['variants'].items()))
          + (f"; sample sheet {m['sheet']}" if m["sheet"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
