"""Scenes with plate boxes (and corners where labelled) for detector training.

Training tiles follow SCRFD's sample redistribution: each tile is a random crop of the scene at a
random scale around the one the runtime letterbox would use, so that plates of every size, and
small ones most of all, are common. Scenes whose labels give only a box (not corners) train the
score and box but not the corners. Where a group labels only some of the plates in its images,
the others can be found with a trained detector and left out of the score loss
(``mark_unlabelled``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from streamer.geometry import box_iou, box_to_corners, is_area_shrink, shrink
from trainer.data.augment import photometric
from trainer.data.ccpd import read_ccpd
from trainer.data.shared import read_scenes, split_of

#: scenes are cached in memory no larger than this (longer side), enough for 2x the 640 input.
CACHE_SIDE = 1280
#: the runtime's input longer side; tiles are cut at scales around it.
BASE_SIDE = 640
FLIP_ORDER = [1, 0, 3, 2]  # TL, TR, BR, BL -> mirrored
#: share of tiles turned in-plane, and by how much at most (degrees): a tilted plate on a jeep's
#: bumper or a motorbike is missed by a detector that has only seen level ones.
ROTATE_SHARE, ROTATE_DEGREES = 0.25, 12.0
#: a tile's scale is the runtime letterbox's times a factor drawn log-uniformly from this range
TILE_SCALES = (0.5, 2.2)
#: ``--small-plate-share``: the plate widths (px) a small-plate tile draws log-uniformly. CCPD's
#: close-ups make plates of 100-400 px at the runtime's scale, so the image-relative scales
#: above never show a CCPD plate under ~60 px, and the embedded detector scored CCPD photos
#: tiled 4x4 (a 4K frame of plates ~57 px at the input) 0.4-0.6 and found 306 of 400.
SMALL_PLATE_WIDTHS = (16.0, 64.0)
#: a plate is a target when this share of its box is in the tile; one cut by the tile's edge
#: is a region the score is not trained on: with clipped boxes it taught the detector to box
#: the halves of large plates, with whole ones to box what the tile does not show
WHOLE_SHARE = 0.95


@dataclass
class Tile:
    """A training crop: the plates wholly in it (boxes, corners, which corners are labelled)
    and where no score is taught: the clipped boxes of plates its edge cuts and of the scene's
    unlabelled plates."""

    image: np.ndarray
    boxes: np.ndarray  # (M, 4)
    corners: np.ndarray  # (M, 4, 2)
    has_corners: np.ndarray  # (M,)
    ignore: np.ndarray  # (K, 4)


@dataclass
class DetScene:
    image: np.ndarray  # BGR, longer side <= CACHE_SIDE
    boxes: np.ndarray  # (M, 4)
    corners: np.ndarray  # (M, 4, 2)
    has_corners: np.ndarray  # (M,) bool
    group: str
    name: str
    #: (K, 4) plates seen but not labelled (``mark_unlabelled``): neither plate nor background
    ignore: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))


def load_scene(path: Path, boxes, corners, has_corners, group: str) -> DetScene | None:
    img = cv2.imread(str(path))
    if img is None:
        return None
    scale = min(1.0, CACHE_SIDE / max(img.shape[:2]))
    if scale < 1:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4) * scale
    corners = np.asarray(corners, np.float32).reshape(-1, 4, 2) * scale
    return DetScene(img, boxes, corners, np.asarray(has_corners, bool), group, path.name)


#: groups whose images box some of their plates, not all: the scenes (one plate an image, as the
#: data README says) and the Kaggle set (its labels leave out cars behind the one photographed)
PARTLY_LABELLED = ("scene-", "det-kaggle_andrewmvd")
#: a detection this confident that no label covers is a plate seen but not labelled
UNLABELLED_SCORE = 0.3


def mark_unlabelled(groups: dict[str, list[DetScene]], model: Path) -> int:
    """Give the scenes of the partly labelled groups, as ignore regions, the plates ``model``
    finds in them (both looks of ``platestream read``) that no label covers; returns how many.
    Scored as background, a real plate behind the labelled one is a wrong label. (Removing
    them did not raise recall on the small plates the detector misses: the detector sidecar's
    rounds 42 and 43.)"""
    from streamer.config import DetectorConfig
    from streamer.detector import Detector

    detector = Detector(DetectorConfig(model=Path(model), score_threshold=UNLABELLED_SCORE))
    count = 0
    for name, scenes in groups.items():
        if not name.startswith(PARTLY_LABELLED):
            continue
        for scene in scenes:
            found = [d.box for d in detector.detect_still(scene.image)]
            boxes = np.array(found, np.float32).reshape(-1, 4)
            if len(boxes) and len(scene.boxes):
                boxes = boxes[box_iou(boxes, scene.boxes).max(1) < 0.3]
            scene.ignore = boxes
            count += len(boxes)
    return count


def load_det_scenes(root: Path, split: str) -> dict[str, list[DetScene]]:
    """CCPD (with corners), labelled scenes and detection-only scenes, grouped by source."""
    groups: dict[str, list[DetScene]] = {}

    def add(scene: DetScene | None) -> None:
        if scene is not None:
            groups.setdefault(scene.group, []).append(scene)

    ccpd, _ = read_ccpd(root / "ccpd")
    for lab in ccpd:
        if split_of(Path(lab.image).name) == split:
            add(load_scene(Path(lab.image), [lab.box], [lab.corners], [True], "ccpd"))
    for labels_file, prefix in (("scenes", "scene"), ("detscenes", "det")):
        labels, _ = read_scenes(root / labels_file / "labels.jsonl")
        for lab in labels:
            if split_of(Path(lab.image).name) != split or not lab.plates:
                continue
            boxes = [p.box for p in lab.plates]
            group = f"{prefix}-{Path(lab.image).parent.name}"
            add(
                load_scene(
                    Path(lab.image),
                    boxes,
                    [box_to_corners(b) for b in boxes],
                    [False] * len(boxes),
                    group,
                )
            )
    return groups


def random_tile(
    scene: DetScene,
    rng: np.random.Generator,
    tile: int,
    strength: float = 0.5,
    rotate_share: float = ROTATE_SHARE,
    rotate_degrees: float = ROTATE_DEGREES,
    scales: tuple[float, float] = TILE_SCALES,
    small_share: float = 0.0,
) -> Tile:
    """A (tile x tile) training crop at a random scale, offset, flip and turn, and its plates.

    A ``small_share`` of the tiles (SCRFD's sample redistribution by object size) are cut
    around a plate scaled to a width drawn from ``SMALL_PLATE_WIDTHS``, whatever the scene's
    own scale, so that close-up photos teach small plates too."""
    h, w = scene.image.shape[:2]
    scale = BASE_SIDE / max(h, w) * np.exp(rng.uniform(*np.log(scales)))
    # no draw unless asked for, so that a seed cuts the tiles it cut before the option
    small = small_share > 0 and len(scene.boxes) > 0 and rng.random() < small_share
    if small or (len(scene.boxes) and rng.random() < 0.85):
        box = scene.boxes[rng.integers(len(scene.boxes))]
        if small:
            width = np.exp(rng.uniform(*np.log(SMALL_PLATE_WIDTHS)))
            scale = min(width / max(box[2] - box[0], 1.0), BASE_SIDE / max(h, w) * scales[1])
        cx, cy = box.reshape(2, 2).mean(0)
        cx, cy = (
            cx * scale + rng.uniform(-0.4, 0.4) * tile,
            cy * scale + rng.uniform(-0.4, 0.4) * tile,
        )
    else:
        cx, cy = rng.uniform(0, w * scale), rng.uniform(0, h * scale)
    tx, ty = tile / 2 - cx, tile / 2 - cy
    flip = rng.random() < 0.5
    m = np.array([[scale, 0, tx], [0, scale, ty]], np.float32)
    if flip:
        m[0] = [-scale, 0, tile - tx]
    angle = rng.uniform(-rotate_degrees, rotate_degrees) if rng.random() < rotate_share else 0.0
    if angle:
        turn = cv2.getRotationMatrix2D((tile / 2, tile / 2), angle, 1.0)
        m = (turn @ np.vstack([m, [0, 0, 1]])).astype(np.float32)
    img = cv2.warpAffine(
        *shrunk_for_warp(scene.image, m, scale),
        (tile, tile),
        flags=cv2.INTER_LINEAR,
        borderValue=(114, 114, 114),
    )
    corners = scene.corners @ m[:, :2].T + m[:, 2]
    if flip:
        corners = corners[:, FLIP_ORDER]
    # the labelled box, not the corners' hull: CCPD scores against its own box (IoU 0.7); a
    # turned plate's box is the hull of its turned outline: its corners where they are known
    outline = box_outlines(scene.boxes)
    if angle:
        outline = np.where(scene.has_corners[:, None, None], scene.corners, outline)
    boxes = hulls_under(outline, m)
    clipped = boxes.clip(0, tile)
    area = (boxes[:, 2:] - boxes[:, :2]).prod(1)
    visible = (clipped[:, 2:] - clipped[:, :2]).clip(0).prod(1) / np.maximum(area, 1e-6)
    seen = (visible > 0) & ((clipped[:, 2] - clipped[:, 0]) >= 2)
    whole = seen & (visible >= WHOLE_SHARE)
    return Tile(
        photometric(img, rng, strength),
        boxes[whole],
        corners[whole],
        scene.has_corners[whole],
        np.concatenate([clipped[seen & ~whole], moved_boxes(scene.ignore, m, tile)]),
    )


def shrunk_for_warp(
    image: np.ndarray, m: np.ndarray, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """The picture and affine map to warp a tile from: where the runtime's letterbox would
    average the scene shrunk to ``scale`` (``streamer.geometry.shrink``) rather than sample it,
    so must the tile, or its small plates alias as no frame's do."""
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if not is_area_shrink(w, size[0]):
        return image, m
    return shrink(image, size), m * np.array([w / size[0], h / size[1], 1], np.float32)


def box_outlines(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) boxes as (N, 4, 2) outlines, corner by corner as ``box_to_corners`` gives them."""
    x1, y1, x2, y2 = boxes.reshape(-1, 4).T
    return np.stack([np.stack(p, -1) for p in ((x1, y1), (x2, y1), (x2, y2), (x1, y2))], 1)


def hulls_under(outlines: np.ndarray, m: np.ndarray) -> np.ndarray:
    """The (N, 4) boxes around (N, 4, 2) outlines moved by the affine map ``m``."""
    b = outlines @ m[:, :2].T + m[:, 2]
    return np.concatenate([b.min(1), b.max(1)], 1)


def moved_boxes(boxes: np.ndarray, m: np.ndarray, tile: int) -> np.ndarray:
    """Boxes under the tile's affine map ``m``, clipped to the tile, those left inside it."""
    moved = hulls_under(box_outlines(boxes), m).clip(0, tile)
    return moved[(moved[:, 2] > moved[:, 0]) & (moved[:, 3] > moved[:, 1])].astype(np.float32)
