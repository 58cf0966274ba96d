"""PASCAL VOC annotation reading (the format of the annotated scene sets), no TensorFlow, no OpenCV."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SourceError

# Image file suffixes the scanners accept (lower case; compare with ``path.suffix.lower()``).
IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


@dataclass(frozen=True, slots=True)
class VocObject:
    label: str  # the <name> as written in the file (e.g. with_mask)
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels (xmax/ymax as written, rounded)


@dataclass(frozen=True, slots=True)
class VocImage:
    path: str | None  # the <filename> element (a file name, not a full path), None when absent
    width: int  # <size><width>, 0 when absent
    height: int
    objects: list[VocObject] = field(default_factory=list)


def read_voc(xml_path: str | Path) -> VocImage:
    """Parse one PASCAL VOC file; a broken file or box is a :class:`SourceError` naming the file."""
    xml_path = Path(xml_path)
    try:
        root = ET.parse(xml_path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise SourceError(f"annotation {xml_path} is not a readable PASCAL VOC XML file ({exc})") from None
    if root.tag != "annotation":
        raise SourceError(f"annotation {xml_path} is not a PASCAL VOC file (root element <{root.tag}>)")
    filename = (root.findtext("filename") or "").strip() or None
    try:
        width = int(float(root.findtext("size/width") or 0))
        height = int(float(root.findtext("size/height") or 0))
    except ValueError:
        raise SourceError(f"annotation {xml_path}: <size> is not numeric") from None
    objects = []
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        bb = obj.find("bndbox")
        try:
            x1, y1, x2, y2 = (int(round(float(bb.findtext(k)))) for k in ("xmin", "ymin", "xmax", "ymax"))
        except (AttributeError, TypeError, ValueError):
            raise SourceError(f"annotation {xml_path}: an object {name!r} has no valid <bndbox>") from None
        objects.append(VocObject(name, (x1, y1, x2, y2)))
    return VocImage(filename, width, height, objects)
