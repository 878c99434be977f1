"""Plate images for the recognizer: every labelled plate we have, as a context image + 4 corners.

Keeping the plate inside some context (rather than a finished crop) lets augmentation jitter the
corners and re-rectify, which is what teaches the recognizer to forgive detector errors. Real
groups are read in place from the shared data folder; the validation split is the shared,
hash-based one so that every trainer and every evaluation agree on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from streamer.charset import encode, normalize_text
from streamer.geometry import box_to_corners, corners_to_box
from trainer.data.ccpd import read_ccpd
from trainer.data.shared import read_crops, read_scenes, split_of

CONTEXT_MARGIN = 0.35  # of the plate size, kept around plates cut from scenes


@dataclass
class PlateSample:
    context: np.ndarray  # BGR
    corners: np.ndarray  # (4, 2) TL, TR, BR, BL in context pixels
    text: str  # normalised
    group: str  # e.g. "cn", "ccpd", "br", "eu-scene"


def cut_context(image: np.ndarray, corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop the plate plus a margin out of a large scene, so samples stay small in memory."""
    x1, y1, x2, y2 = corners_to_box(corners)
    mx, my = (x2 - x1) * CONTEXT_MARGIN, (y2 - y1) * CONTEXT_MARGIN * 2
    h, w = image.shape[:2]
    cx1, cy1 = int(max(0, x1 - mx)), int(max(0, y1 - my))
    cx2, cy2 = int(min(w, x2 + mx + 1)), int(min(h, y2 + my + 1))
    return image[cy1:cy2, cx1:cx2].copy(), corners - np.array([cx1, cy1], np.float32)


def _valid(text: str) -> bool:
    try:
        encode(text)
    except ValueError:
        return False
    return True


def load_crop_samples(root: Path, split: str) -> list[PlateSample]:
    labels, _ = read_crops(root)
    out = []
    for lab in labels:
        if split_of(Path(lab.image).name) != split or not _valid(lab.text):
            continue
        img = cv2.imread(str(lab.image))
        if img is None:
            continue
        h, w = img.shape[:2]
        corners = box_to_corners([0, 0, w, h])
        out.append(PlateSample(img, corners, normalize_text(lab.text), lab.region.lower()))
    return out


def load_ccpd_samples(root: Path, split: str) -> list[PlateSample]:
    labels, _ = read_ccpd(root / "ccpd")
    out = []
    for lab in labels:
        if split_of(Path(lab.image).name) != split:
            continue
        img = cv2.imread(str(lab.image))
        if img is None:
            continue
        context, corners = cut_context(img, lab.corners)
        out.append(PlateSample(context, corners, normalize_text(lab.text), "ccpd"))
    return out


def load_scene_samples(root: Path, split: str) -> list[PlateSample]:
    """Scenes label only a box: its corners stand in for the plate's (they are near-frontal)."""
    labels, _ = read_scenes(root / "scenes" / "labels.jsonl")
    out = []
    for lab in labels:
        if split_of(Path(lab.image).name) != split:
            continue
        img = None
        for plate in lab.plates:
            if not plate.text or not _valid(plate.text):
                continue
            img = cv2.imread(str(lab.image)) if img is None else img
            if img is None:
                break
            context, corners = cut_context(img, box_to_corners(plate.box))
            group = f"{lab.region.lower()}-scene"
            out.append(PlateSample(context, corners, normalize_text(plate.text), group))
    return out


def load_real_samples(root: Path, split: str) -> dict[str, list[PlateSample]]:
    """All real labelled plates of one split, grouped by where they came from."""
    groups: dict[str, list[PlateSample]] = {}
    for sample in (
        load_crop_samples(root, split)
        + load_ccpd_samples(root, split)
        + load_scene_samples(root, split)
    ):
        groups.setdefault(sample.group, []).append(sample)
    return groups
