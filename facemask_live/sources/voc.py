"""PASCAL VOC annotations (one ``.xml`` per image): reading them and pairing them with their images.

Used by ``python -m facemask_live.evaluate``, ``tools/check_scene_crops.py`` and the training data scan.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from facemask_live.core.errors import SourceError
from facemask_live.sources.capture import IMAGE_EXTS

__all__ = ["IMAGE_EXTS", "VOC_LABELS", "VocImage", "VocObject", "annotated_images", "find_image", "read_voc"]

# the face-mask data sets' VOC names -> the app's labels
VOC_LABELS = {"with_mask": "mask", "without_mask": "no_mask", "mask_weared_incorrect": "incorrect_mask"}


@dataclass(frozen=True, slots=True)
class VocObject:
    """One annotated object: its VOC name and box (x1, y1, x2, y2) as written in the file."""

    label: str
    box: tuple[float, float, float, float]

    @property
    def int_box(self) -> tuple[int, int, int, int]:
        """The box rounded to whole pixels."""
        x1, y1, x2, y2 = (int(round(v)) for v in self.box)
        return x1, y1, x2, y2


@dataclass(slots=True)
class VocImage:
    """One annotation file: ``path`` of the XML, the image's <filename> and <size>, and its objects."""

    path: Path
    filename: str | None
    width: int | None
    height: int | None
    objects: list[VocObject] = field(default_factory=list)


def _int(text: str | None) -> int | None:
    try:
        return int(float(text)) if text is not None else None
    except ValueError:
        return None


def read_voc(xml_path: str | Path) -> VocImage:
    """Read one PASCAL VOC file; an unreadable file or an object without a valid <bndbox> is a SourceError."""
    path = Path(xml_path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise SourceError(f"annotation {path} is not a readable PASCAL VOC XML file ({exc})") from None
    if root.tag != "annotation":
        raise SourceError(f"annotation {path} is not a PASCAL VOC file (root element <{root.tag}>, expected <annotation>)")
    size = root.find("size")
    width = _int(size.findtext("width")) if size is not None else None
    height = _int(size.findtext("height")) if size is not None else None
    objects = []
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        bb = obj.find("bndbox")
        try:
            x1, y1, x2, y2 = (float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
        except (AttributeError, TypeError, ValueError):
            raise SourceError(f"annotation {path}: an object {name!r} has no valid <bndbox> xmin/ymin/xmax/ymax") from None
        objects.append(VocObject(name, (x1, y1, x2, y2)))
    filename = (root.findtext("filename") or "").strip() or None
    return VocImage(path, filename, width, height, objects)


def find_image(images: Path, annotation: Path, filename: str | None) -> Path | None:
    """The image of an annotation: <filename> if it exists, else any image with the same stem as it or the XML."""
    if filename and (images / filename).is_file():
        return images / filename
    stems = [annotation.stem] + ([Path(filename).stem] if filename else [])
    for stem in stems:
        for suffix in IMAGE_EXTS:
            for cand in (images / (stem + suffix), images / (stem + suffix.upper())):
                if cand.is_file():
                    return cand
    return None


def annotated_images(annotations: str | Path) -> list[Path]:
    """The ``*.xml`` files of a folder, sorted by name."""
    return sorted(p for p in Path(annotations).iterdir() if p.suffix.lower() == ".xml" and p.is_file())
