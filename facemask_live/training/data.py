"""Training data: image-folder scanning, exact/near-duplicate detection, group-preserving splits and
face crops cut from PASCAL VOC annotated scenes.  numpy + OpenCV only (no TensorFlow)."""

from __future__ import annotations

import hashlib
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from facemask_live.core.errors import FacemaskError
from facemask_live.sources.voc import IMAGE_EXTS

FOLDER_LABELS = {
    "with_mask": "mask",
    "without_mask": "no_mask",
    "mask_weared_incorrect": "incorrect_mask",
    "incorrect_mask": "incorrect_mask",
}
# Training crops are (tight-ish) face crops; the detector's boxes are cut with this margin on each
# side so that the live crops look like the training crops.  Scale jitter during training covers
# the remaining loose/tight/shifted variation.
DEFAULT_CROP_MARGIN = 0.1


class DataError(FacemaskError):
    """A dataset folder that cannot be used."""


def folder_label(name: str) -> str:
    return FOLDER_LABELS.get(name, name)


# --------------------------------------------------------------------------------------------
# dataset scanning / loading / duplicate detection (numpy + OpenCV only)
# --------------------------------------------------------------------------------------------


def scan_folder(data_dir: str | Path, what: str = "--data") -> tuple[list[Path], list[str], dict[str, str]]:
    """Return (files, folder names per file, folder->label map) for an image-folder dataset."""
    d = Path(data_dir)
    if not d.is_dir():
        raise DataError(f"{what} folder not found: {d}")
    classes = {}
    for sub in sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(f for f in sub.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTS)
        if files:
            classes[sub.name] = files
    if len(classes) < 2:
        found = ", ".join(classes) or "none"
        raise DataError(
            f"{what} {d} needs at least two class sub-folders with images "
            f"(found {len(classes)}: {found})"
        )
    files, folders = [], []
    for name, fs in classes.items():
        files += fs
        folders += [name] * len(fs)
    return files, folders, {name: folder_label(name) for name in classes}


HASH_GRID = 16  # dHash on a 17x16 grayscale thumbnail -> 256 bits (4 x uint64)
HASH_WORDS = HASH_GRID * HASH_GRID // 64


def _dhash(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """256-bit difference hash of a grayscale image and of its mirror image (4 uint64 words each).

    64-bit dHash (9x8) is too coarse for aligned face crops: different people collide at
    distance 3-5.  The 16x16 version separates them (near-copies <= ~20 bits, others >= ~30)."""
    import cv2

    small = cv2.resize(gray, (HASH_GRID + 1, HASH_GRID), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = np.packbits((small[:, 1:] > small[:, :-1]).ravel()).view(np.uint64)
    flipped = small[:, ::-1]
    fbits = np.packbits((flipped[:, 1:] > flipped[:, :-1]).ravel()).view(np.uint64)
    return bits, fbits


def load_images(files: list[Path], size: int | None, desc: str = "scanning"):
    """Read every file once: md5, dHash (plain + mirrored) and, if size, an RGB size x size copy.

    Returns (ok_mask, images or None, md5 list, hashes uint64 array (N, 2, 4): plain, mirrored).  Unreadable files are
    marked not ok (the caller skips and counts them)."""
    import cv2
    from tqdm import tqdm

    n = len(files)
    ok = np.zeros(n, bool)
    hashes = np.zeros((n, 2, HASH_WORDS), np.uint64)
    md5s = [""] * n
    images = np.zeros((n, size, size, 3), np.uint8) if size else None

    def work(i: int):
        try:
            data = np.fromfile(str(files[i]), np.uint8)
        except OSError:
            return
        if data.size == 0:
            return
        img = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if img is None or img.size == 0:
            return
        md5s[i] = hashlib.md5(data.tobytes()).hexdigest()
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        hashes[i] = _dhash(gray)
        if images is not None:
            images[i] = cv2.cvtColor(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        ok[i] = True

    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        for _ in tqdm(pool.map(work, range(n)), total=n, desc=desc, unit="img", file=sys.stderr):
            pass
    return ok, images, md5s, hashes


def _hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise Hamming distances between (n, W) and (m, W) uint64 hash arrays -> (n, m) int."""
    d = np.zeros((a.shape[0], b.shape[0]), np.int32)
    for k in range(a.shape[1]):
        d += np.bitwise_count(a[:, None, k] ^ b[None, :, k])
    return d


def near_duplicate_pairs(hashes: np.ndarray, threshold: int, rows=None, cols=None, desc="near-duplicates"):
    """Yield (i, j-array) for every row image i with its near-duplicates j among cols (i != j).

    Distance = min(plain-vs-plain, plain-vs-mirrored) Hamming distance of the 256-bit dHash, so
    mirrored copies count too.  Flat images (almost all bits equal) only match exactly."""
    from tqdm import tqdm

    n = len(hashes)
    rows = np.arange(n) if rows is None else np.asarray(rows)
    cols = np.arange(n) if cols is None else np.asarray(cols)
    bits = HASH_WORDS * 64
    pop = sum(np.bitwise_count(hashes[:, 0, k]).astype(np.int32) for k in range(HASH_WORDS))
    informative = (pop > bits // 20) & (pop < bits - bits // 20)
    hc, hcf = hashes[cols, 0], hashes[cols, 1]
    chunk = 256
    for s in tqdm(range(0, len(rows), chunk), desc=desc, unit="blk", file=sys.stderr, leave=False):
        r = rows[s : s + chunk]
        d = np.minimum(_hamming(hashes[r, 0], hc), _hamming(hashes[r, 0], hcf))
        d[~informative[r], :] = np.where(d[~informative[r], :] == 0, 0, threshold + 1)
        d[:, ~informative[cols]] = np.where(d[:, ~informative[cols]] == 0, 0, threshold + 1)
        for k, i in enumerate(r):
            j = cols[d[k] <= threshold]
            j = j[j != i]
            if len(j):
                yield int(i), j


def duplicate_groups(md5s: list[str], hashes: np.ndarray, threshold: int = 24) -> np.ndarray:
    """Group exact (md5 of the bytes) and near (256-bit dHash, also mirrored) duplicates.

    Near-duplicates are grouped around a leader (star clustering, no transitive chaining, which
    would glue thousands of similar aligned faces into one group).  Exact copies are always
    merged.  Returns a group id per image (singletons get their own id)."""
    n = len(md5s)
    neighbours: dict[int, np.ndarray] = dict(near_duplicate_pairs(hashes, threshold))
    group = np.full(n, -1, np.int64)
    for i in range(n):
        if group[i] >= 0:
            continue
        group[i] = i
        nb = neighbours.get(i)
        if nb is not None:
            free = nb[group[nb] < 0]
            group[free] = i
    # exact copies: same md5 -> same group (relabel the later group to the first one)
    first: dict[str, int] = {}
    remap: dict[int, int] = {}
    for i, m in enumerate(md5s):
        if m in first:
            a, b = group[first[m]], group[i]
            if a != b:
                remap[int(b)] = int(a)
        else:
            first[m] = i
    if remap:
        def root(g):
            while g in remap:
                g = remap[g]
            return g
        group = np.array([root(int(g)) for g in group])
    return group


def split_groups(groups: np.ndarray, labels: np.ndarray, val_fraction: float, seed: int) -> np.ndarray:
    """Stratified split keeping each duplicate group on one side. Returns a bool mask 'is val'."""
    rng = np.random.default_rng(seed)
    is_val = np.zeros(len(groups), bool)
    uniq, inverse = np.unique(groups, return_inverse=True)
    members = [[] for _ in uniq]
    for i, g in enumerate(inverse):
        members[g].append(i)
    by_class: dict[int, list[int]] = {}
    for g, m in enumerate(members):
        by_class.setdefault(int(labels[m[0]]), []).append(g)
    for c, gs in by_class.items():
        target = val_fraction * int((labels == c).sum())
        rng.shuffle(gs)
        taken = 0
        for g in gs:
            if taken >= target:
                break
            if taken + len(members[g]) > max(target * 1.1, 1) and len(members[g]) > 1:
                continue  # don't let one big group blow the quota
            is_val[members[g]] = True
            taken += len(members[g])
    return is_val


