"""The detector's training scenes packed into one file, for a machine that has no data folder.

A rented GPU machine gets only what is sent to it, and the real scenes are 150 MB as files;
packed at a capped size as JPEG they travel in a third of that. The pack is a training
convenience made from the data folder on the spot: it is never committed (the data's licences
forbid it) and never used for validation, which reads the files in place.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np

from trainer.data.detection import DetScene

#: what a pack holds; bumped when the layout changes so that an old pack fails clearly.
PACK_FORMAT = "platestream-scene-pack/1"


def encode_scene(scene: DetScene, max_side: int, quality: int) -> dict:
    """One scene as JPEG bytes no larger than ``max_side``, its labels scaled to match."""
    scale = min(1.0, max_side / max(scene.image.shape[:2]))
    image = scene.image
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"could not encode scene {scene.name}")
    return {
        "jpeg": jpeg.tobytes(),
        "boxes": scene.boxes * scale,
        "corners": scene.corners * scale,
        "has_corners": scene.has_corners,
        "group": scene.group,
        "name": scene.name,
    }


def decode_scene(row: dict) -> DetScene:
    image = cv2.imdecode(np.frombuffer(row["jpeg"], np.uint8), cv2.IMREAD_COLOR)
    return DetScene(
        image, row["boxes"], row["corners"], row["has_corners"], row["group"], row["name"]
    )


def write_scene_pack(
    groups: dict[str, list[DetScene]], path: Path, max_side: int, quality: int
) -> int:
    """Write the groups' scenes to ``path``; returns its size in bytes."""
    rows = {
        name: [encode_scene(s, max_side, quality) for s in scenes]
        for name, scenes in groups.items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump({"format": PACK_FORMAT, "groups": rows}, f, protocol=pickle.HIGHEST_PROTOCOL)
    return path.stat().st_size


def read_scene_pack(path: Path) -> dict[str, list[DetScene]]:
    """The groups of a pack written by :func:`write_scene_pack`."""
    with open(path, "rb") as f:
        pack = pickle.load(f)
    if not isinstance(pack, dict) or pack.get("format") != PACK_FORMAT:
        raise ValueError(f"{path} is not a {PACK_FORMAT} file")
    return {name: [decode_scene(r) for r in rows] for name, rows in pack["groups"].items()}
