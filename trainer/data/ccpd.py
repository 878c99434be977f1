"""CCPD file-name labels: area-tilt-bbox-corners-characters-brightness-blur."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streamer.charset import PROVINCES
from streamer.geometry import order_corners

ALPHABETS = "ABCDEFGHJKLMNPQRSTUVWXYZO"
ADS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789O"


@dataclass
class CcpdLabel:
    image: Path
    text: str
    box: np.ndarray
    corners: np.ndarray
    area: float
    tilt: tuple[int, int]
    brightness: int
    blur: int


def _points(field: str) -> np.ndarray:
    return np.array([[float(v) for v in p.split("&")] for p in field.split("_")], np.float32)


def parse_ccpd_name(path: Path) -> CcpdLabel:
    parts = Path(path).stem.split("-")
    if len(parts) != 7:
        raise ValueError(f"{path}: not a CCPD label name (expected 7 '-'-separated fields)")
    try:
        area, tilt, bbox, corners, chars, brightness, blur = parts
        idx = [int(v) for v in chars.split("_")]
        text = PROVINCES[idx[0]] + ALPHABETS[idx[1]] + "".join(ADS[i] for i in idx[2:])
        return CcpdLabel(
            image=Path(path),
            text=text,
            box=_points(bbox).reshape(4),
            corners=order_corners(_points(corners)),
            area=float(area),
            tilt=tuple(int(v) for v in tilt.split("_")),
            brightness=int(brightness),
            blur=int(blur),
        )
    except (ValueError, IndexError) as exc:
        raise ValueError(f"{path}: malformed CCPD label name ({exc})") from None


def read_ccpd(root: Path) -> tuple[list[CcpdLabel], list[tuple[Path, str]]]:
    labels, skipped = [], []
    for path in sorted(Path(root).rglob("*.jpg")):
        try:
            labels.append(parse_ccpd_name(path))
        except ValueError as exc:
            skipped.append((path, str(exc)))
    return labels, skipped
