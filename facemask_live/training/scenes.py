"""Face crops cut from PASCAL VOC annotated scenes, split BY SOURCE IMAGE into train / val / test.

The crops are cut exactly like the app cuts detector boxes (``pipeline.crop_faces``: the box grown by
``margin`` times its size on every side, clipped to the image), so that the classifier sees the same kind
of crop in training as live.  Every face of one photo lands in the same split, and photos whose crops are
exact (md5) or near (dHash) copies of each other are merged into one group first, so that no split holds
a copy of another split's face.  The result is an image-folder tree (``<out>/<split>/<label>/*.png``, PNG
so that no second JPEG generation is added) plus ``splits.json`` listing the source images of each split.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from facemask_live.core.geometry import crop
from facemask_live.sources.voc import VOC_LABELS, annotated_images, find_image, read_voc

from .data import DEFAULT_CROP_MARGIN, DataError, _dhash, near_duplicate_pairs

# VOC_LABELS (voc.py): the scene sets' VOC names -> the app's labels, also the folder names written.
SPLITS = ("train", "val", "test")
FORMAT = "facemask-live-scene-crops/1"


@dataclass(frozen=True)
class SceneCropSettings:
    scenes: tuple[str, ...]  # folders with images/ and annotations/
    out: str  # where the crop tree and splits.json go
    margin: float = DEFAULT_CROP_MARGIN
    fractions: tuple[float, float, float] = (0.70, 0.15, 0.15)  # train, val, test (of faces, per stratum)
    min_face: int = 16  # shorter box side in pixels; smaller faces are too blurred to teach anything
    dup_threshold: int = 24
    seed: int = 1337

    def __post_init__(self) -> None:
        if not self.scenes:
            raise ValueError("scene crops: give at least one scenes folder")
        if len(self.fractions) != 3 or any(f < 0 for f in self.fractions) or abs(sum(self.fractions) - 1) > 1e-6:
            raise ValueError(f"scene crops: split fractions must be three numbers >= 0 summing to 1, got {self.fractions}")
        if not 0 <= self.margin <= 2:
            raise ValueError(f"scene crops: margin {self.margin} out of range 0..2")
        if self.min_face < 1:
            raise ValueError(f"scene crops: min_face must be >= 1, got {self.min_face}")

    def key(self) -> dict:
        """What the crop tree depends on (a cached tree is reused only when this matches)."""
        d = asdict(self)
        d.pop("out")
        d["scenes"] = [str(Path(s).resolve()) for s in self.scenes]
        d["fractions"] = list(self.fractions)
        return d


@dataclass
class SceneCrop:
    source: str  # "<scenes folder name>/<image stem>"
    label: str
    image: np.ndarray  # BGR crop
    size: int  # shorter side of the annotated box, pixels


def cut_crop(image: np.ndarray, box: tuple[int, int, int, int], margin: float) -> np.ndarray:
    """The same cut as ``facemask_live.engine.pipeline.crop_faces`` for one box."""
    return crop(image, box, margin)


def read_scene_crops(settings: SceneCropSettings) -> list[SceneCrop]:
    import cv2

    crops: list[SceneCrop] = []
    for folder in map(Path, settings.scenes):
        images, annotations = folder / "images", folder / "annotations"
        if not images.is_dir() or not annotations.is_dir():
            raise DataError(f"--scenes {folder}: expected sub-folders images/ and annotations/ (PASCAL VOC)")
        xmls = annotated_images(annotations)
        if not xmls:
            raise DataError(f"--scenes {folder}: no .xml annotations in {annotations}")
        for xml in xmls:
            voc = read_voc(xml)
            path = find_image(images, xml, voc.filename)
            img = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_COLOR) if path else None
            if img is None:
                print(f"warning: no readable image for {xml}, skipped", file=sys.stderr)
                continue
            for obj in voc.objects:
                label = VOC_LABELS.get(obj.label)
                x1, y1, x2, y2 = box = obj.int_box
                side = min(x2 - x1, y2 - y1)
                if label is None or side < settings.min_face:
                    continue
                face = cut_crop(img, box, settings.margin)
                if face.size:
                    crops.append(SceneCrop(f"{folder.name}/{xml.stem}", label, np.ascontiguousarray(face), side))
    if not crops:
        raise DataError("--scenes: no faces of the known labels found")
    return crops


def source_groups(crops: list[SceneCrop], dup_threshold: int) -> dict[str, str]:
    """Map each source image to a group leader: images sharing an exact or near-duplicate face are one group."""
    import cv2

    parent = {c.source: c.source for c in crops}

    def root(s: str) -> str:
        while parent[s] != s:
            parent[s] = parent[parent[s]]
            s = parent[s]
        return s

    hashes = np.stack([np.stack(_dhash(cv2.cvtColor(c.image, cv2.COLOR_BGR2GRAY))) for c in crops])
    by_md5: dict[str, str] = {}
    for c in crops:
        m = hashlib.md5(c.image.tobytes()).hexdigest()
        if m in by_md5:
            parent[root(c.source)] = root(by_md5[m])
        else:
            by_md5[m] = c.source
    for i, js in near_duplicate_pairs(hashes, dup_threshold, desc="scene near-duplicates"):
        for j in js:
            a, b = root(crops[i].source), root(crops[int(j)].source)
            if a != b:
                parent[b] = a
    return {s: root(s) for s in parent}


def split_sources(crops: list[SceneCrop], groups: dict[str, str], settings: SceneCropSettings) -> dict[str, str]:
    """Source image -> split.  Groups holding the rare class (the least frequent label) are split
    separately from the rest so that every split gets its share of it; within a stratum the groups are
    shuffled (fixed seed) and filled test first, then val, by face count."""
    labels, counts = np.unique([c.label for c in crops], return_counts=True)
    rare = str(labels[np.argmin(counts)])
    members: dict[str, list[SceneCrop]] = {}
    for c in crops:
        members.setdefault(groups[c.source], []).append(c)
    strata: dict[bool, list[str]] = {True: [], False: []}
    for g in sorted(members):
        strata[any(c.label == rare for c in members[g])].append(g)
    rng = np.random.default_rng(settings.seed)
    split_of_group: dict[str, str] = {}
    _, f_val, f_test = settings.fractions
    for gs in strata.values():
        rng.shuffle(gs)
        total = sum(len(members[g]) for g in gs)
        taken = 0
        for g in gs:
            if taken < f_test * total:
                split_of_group[g] = "test"
            elif taken < (f_test + f_val) * total:
                split_of_group[g] = "val"
            else:
                split_of_group[g] = "train"
            taken += len(members[g])
    return {s: split_of_group[g] for s, g in groups.items()}


def prepare_scene_crops(settings: SceneCropSettings) -> dict:
    """Write ``<out>/{train,val,test}/<label>/*.png`` and ``<out>/splits.json``; reuse them when the settings match.

    Returns the splits.json content (per split: source images and crop counts per label)."""
    import cv2

    out = Path(settings.out)
    manifest_path = out / "splits.json"
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
            if manifest.get("format") == FORMAT and manifest.get("settings") == settings.key():
                print(f"scene crops: reusing {out}", file=sys.stderr)
                return manifest
        except (OSError, ValueError):
            pass
    crops = read_scene_crops(settings)
    groups = source_groups(crops, settings.dup_threshold)
    split_of = split_sources(crops, groups, settings)
    for split in SPLITS:
        for label in VOC_LABELS.values():
            d = out / split / label
            d.mkdir(parents=True, exist_ok=True)
            for old in d.glob("*.png"):
                old.unlink()
    counts = {s: {lab: 0 for lab in VOC_LABELS.values()} for s in SPLITS}
    index: dict[str, int] = {}
    for c in crops:
        split = split_of[c.source]
        k = index[c.source] = index.get(c.source, -1) + 1
        name = c.source.replace("/", "__") + f"__{k:02d}_{c.size}px.png"
        if not cv2.imwrite(str(out / split / c.label / name), c.image):
            raise DataError(f"cannot write scene crop {out / split / c.label / name}")
        counts[split][c.label] += 1
    n_groups = len(set(groups.values()))
    manifest = {
        "format": FORMAT,
        "settings": settings.key(),
        "what": "face crops cut from the VOC boxes like the app cuts detector boxes; split by source image "
                "(near-duplicate images grouped first); sources listed per split",
        "faces": len(crops),
        "source_images": len(groups),
        "duplicate_merged_groups": len(groups) - n_groups,
        "counts": counts,
        "sources": {s: sorted(src for src, sp in split_of.items() if sp == s) for s in SPLITS},
    }
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"scene crops: {len(crops)} faces from {len(groups)} images -> {out} "
          + "  ".join(f"{s}: {counts[s]}" for s in SPLITS), file=sys.stderr)
    return manifest
