"""Training samples packed into one file, for a machine that has no data folder.

A rented GPU machine gets only what is sent to it, and the real scenes and crops are 200 MB as
files; packed at a capped size as JPEG the detector's train scenes travel in 55 MB and the
recognizer's plates in 30. A pack is a training convenience made from the data folder on the
spot: it is never committed (the data's licences forbid it) and never used for validation,
which reads the files in place.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import cv2
import numpy as np

from trainer.data.detection import DetScene
from trainer.data.plates import PlateSample

#: what a pack holds; bumped when the layout changes so that an old pack fails clearly.
PACK_FORMAT = "platestream-pack/2"

#: per kind of sample: its picture's field, and the label fields in that picture's pixels.
PICTURES = {
    DetScene: ("image", ("boxes", "corners", "ignore")),
    PlateSample: ("context", ("corners",)),
}
KINDS = {kind.__name__: kind for kind in PICTURES}


def encode_sample(sample: DetScene | PlateSample, max_side: int, quality: int) -> dict:
    """A sample's fields, its picture as JPEG bytes no larger than ``max_side`` and its labels
    scaled to match."""
    picture, scaled = PICTURES[type(sample)]
    row = {f.name: getattr(sample, f.name) for f in fields(sample)}
    image = row[picture]
    scale = min(1.0, max_side / max(image.shape[:2]))
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        row.update({name: row[name] * scale for name in scaled})
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"could not encode a {type(sample).__name__} of {image.shape}")
    row[picture] = jpeg.tobytes()
    return {"kind": type(sample).__name__, "fields": row}


def decode_sample(row: dict) -> DetScene | PlateSample:
    kind = KINDS[row["kind"]]
    values = dict(row["fields"])
    picture = PICTURES[kind][0]
    values[picture] = cv2.imdecode(np.frombuffer(values[picture], np.uint8), cv2.IMREAD_COLOR)
    return kind(**values)


def write_pack(groups: dict[str, list], path: Path, max_side: int, quality: int) -> int:
    """Write the groups' samples (scenes or plates) to ``path``; returns its size in bytes."""
    rows = {
        name: [encode_sample(s, max_side, quality) for s in samples]
        for name, samples in groups.items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump({"format": PACK_FORMAT, "groups": rows}, f, protocol=pickle.HIGHEST_PROTOCOL)
    return path.stat().st_size


def read_pack(path: Path) -> dict[str, list]:
    """The groups of a pack written by :func:`write_pack`."""
    with open(path, "rb") as f:
        pack = pickle.load(f)
    if not isinstance(pack, dict) or pack.get("format") != PACK_FORMAT:
        raise ValueError(f"{path} is not a {PACK_FORMAT} file")
    return {name: [decode_sample(r) for r in rows] for name, rows in pack["groups"].items()}


def add_pack_command(
    sub, name: str, samples: str, load_train: Callable[[], dict], max_side: int, quality: int
) -> None:
    """A ``pack-…`` subcommand writing ``load_train()``'s groups (the train split) to a pack."""

    def run(args) -> int:
        groups = load_train()
        size = write_pack(groups, Path(args.output), args.max_side, args.quality)
        count = sum(len(v) for v in groups.values())
        print(
            f"{count} train {samples} in {len(groups)} groups: {args.output}, {size / 1e6:.1f} MB"
        )
        return 0

    p = sub.add_parser(
        name, help=f"pack the train {samples} into one file, to train where the data folder is not"
    )
    p.add_argument("--output", default=f"runs/{samples}.pack")
    p.add_argument(
        "--max-side", type=int, default=max_side, help=f"longer side of packed {samples}"
    )
    p.add_argument("--quality", type=int, default=quality, help="JPEG quality")
    p.set_defaults(func=run)
