"""CCPD labels, which live in the image file names.

A CCPD name has 7 ``-``-separated fields, e.g.
``025-95_113-154&383_386&473-386&473_177&454_154&383_363&402-0_0_22_27_27_33_16-37-15.jpg``:
area ratio, tilt (horizontal_vertical degrees), bounding box ``x1&y1_x2&y2``, the 4 plate
corners (starting bottom-right), the character indices, brightness and blur. Decoding them here,
once, keeps every trainer and evaluation agreeing on what a CCPD plate says.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streamer.charset import PROVINCES
from streamer.geometry import order_corners

#: CCPD's tables as published; each ends with an "O" placeholder that stands for "no character",
#: kept so that the indices in the file names line up.
CCPD_PROVINCES = (*PROVINCES, "O")
ALPHABETS = tuple("ABCDEFGHJKLMNPQRSTUVWXYZO")
ADS = tuple("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789O")

#: blue (CCPD2019) plates have 7 characters, green new-energy (CCPD2020) plates 8.
PLATE_LENGTHS = (7, 8)
#: CCPD's folder of hard-subset examples whose names are the subset, not a label.
UNLABELED_FOLDER = "unlabeled_samples"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class CcpdLabel:
    image: Path
    text: str
    box: np.ndarray  # float32 (4,): x1, y1, x2, y2
    corners: np.ndarray  # float32 (4, 2): TL, TR, BR, BL
    area: float  # plate area / image area
    tilt: tuple[int, int]  # horizontal, vertical degrees
    brightness: int
    blur: int


def parse_ccpd_name(path: Path | str) -> CcpdLabel:
    """Decode one CCPD file name; a ValueError names the file so a bad label can be found."""
    path = Path(path)
    fields = path.stem.split("-")
    if len(fields) != 7:
        raise ValueError(
            f"{path}: not a CCPD label name: expected 7 '-'-separated fields "
            f"(area-tilt-box-corners-characters-brightness-blur), found {len(fields)}"
        )
    area, tilt, box, corners, characters, brightness, blur = fields
    try:
        return CcpdLabel(
            image=path,
            text=decode_characters(characters),
            box=decode_box(box),
            corners=order_corners(decode_points(corners, 4)),
            area=decode_area(area),
            tilt=decode_tilt(tilt),
            brightness=int(brightness),
            blur=int(blur),
        )
    except ValueError as exc:
        raise ValueError(f"{path}: malformed CCPD label name: {exc}") from None


def decode_characters(field: str) -> str:
    """Plate text from CCPD's indices: province, then a letter, then letters or digits."""
    indices = [int(v) for v in field.split("_")]
    if len(indices) not in PLATE_LENGTHS:
        raise ValueError(f"{len(indices)} character indices in {field!r}, expected 7 or 8")
    tables = [CCPD_PROVINCES, ALPHABETS] + [ADS] * (len(indices) - 2)
    return "".join(_lookup(table, i, pos) for pos, (table, i) in enumerate(zip(tables, indices)))


def _lookup(table: tuple[str, ...], index: int, position: int) -> str:
    # The placeholder is refused rather than read as the letter O, which Chinese plates never use.
    if not 0 <= index < len(table) - 1:
        raise ValueError(
            f"character {position + 1} has index {index}, outside 0..{len(table) - 2}"
            + (" (CCPD's 'O' no-character placeholder)" if index == len(table) - 1 else "")
        )
    return table[index]


def decode_points(field: str, count: int) -> np.ndarray:
    """``x&y`` points joined by ``_`` as a (count, 2) float32 array."""
    points = [p.split("&") for p in field.split("_")]
    if len(points) != count or any(len(p) != 2 for p in points):
        raise ValueError(f"expected {count} 'x&y' points in {field!r}")
    return np.array(points, dtype=np.float32)


def decode_box(field: str) -> np.ndarray:
    box = decode_points(field, 2).reshape(4)
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f"box {field!r} is empty (x2 <= x1 or y2 <= y1)")
    return box


def decode_area(field: str) -> float:
    """CCPD writes the ratio's digits after ``0.``: ``025`` is 0.025 of the image area."""
    if not field.isdigit():
        raise ValueError(f"area ratio {field!r} is not a digit string")
    return float(f"0.{field}")


def decode_tilt(field: str) -> tuple[int, int]:
    parts = field.split("_")
    if len(parts) != 2:
        raise ValueError(f"tilt {field!r} is not 'horizontal_vertical'")
    return int(parts[0]), int(parts[1])


def read_ccpd(root: Path | str) -> tuple[list[CcpdLabel], list[tuple[Path, str]]]:
    """Every labelled CCPD image under ``root``, plus the (path, reason) of each one skipped.

    Unreadable names are skipped rather than raised so that one bad file does not stop a
    training run; the reasons are returned so that callers can report them.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"CCPD folder not found: {root}")
    labels: list[CcpdLabel] = []
    skipped: list[tuple[Path, str]] = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        if UNLABELED_FOLDER in path.relative_to(root).parts:
            skipped.append((path, "unlabeled sample: the file name is a CCPD subset, not a label"))
            continue
        try:
            labels.append(parse_ccpd_name(path))
        except ValueError as exc:
            skipped.append((path, str(exc)))
    return labels, skipped
