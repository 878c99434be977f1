"""Readers for the shared data folder's label files (scenes, detscenes, crops, videos).

The data is read in place from ``../shared/data`` (never copied into the repository); image and
video paths in the label files are relative to that folder. A malformed row is skipped and
reported as ("file:line", reason) rather than raised, so one bad label does not stop a training
run but is still visible in ``platestream-train data-stats``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np

#: the data folder beside the repository checkout; ``$PLATESTREAM_DATA`` overrides it.
DATA_ROOT = Path(__file__).resolve().parents[2].parent / "shared" / "data"

T = TypeVar("T")

#: (where, reason) of a skipped label, where is "file:line".
Skipped = tuple[str, str]


def data_root() -> Path:
    """The data folder, read at call time so that tests and users can point elsewhere."""
    env = os.environ.get("PLATESTREAM_DATA")
    return Path(env) if env else DATA_ROOT


def split_of(key: str, val_fraction: float = 0.15) -> str:
    """Either "train" or "val", from a stable hash of ``key`` (a file name).

    Every trainer and evaluation calls this, so they all hold out the same files; a hash rather
    than a random draw keeps the split fixed as files are added.
    """
    h = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "val" if h < val_fraction else "train"


@dataclass
class PlateBox:
    text: str | None  # None where only the box is labelled (detscenes)
    box: np.ndarray  # float32 (4,): x1, y1, x2, y2


@dataclass
class SceneLabel:
    image: Path
    region: str
    source: str
    plates: list[PlateBox]


@dataclass
class CropLabel:
    image: Path
    text: str
    region: str
    source: str


@dataclass
class VideoLabel:
    video: Path
    region: str
    plates: list[str]  # readable plates of the clip; empty where unknown
    source: str
    note: str


def read_scenes(labels_file: Path | str) -> tuple[list[SceneLabel], list[Skipped]]:
    """``scenes/labels.jsonl`` or ``detscenes/labels.jsonl`` (whose plate texts are null).

    Image paths are relative to the data root, the labels file's grandparent.
    """
    labels_file = Path(labels_file)
    root = labels_file.parent.parent
    labels: list[SceneLabel] = []
    skipped: list[Skipped] = []
    with _open_labels(labels_file) as f:
        lines = f.read().splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            labels.append(_scene_label(json.loads(line), root))
        except (ValueError, KeyError, TypeError) as exc:
            skipped.append((f"{labels_file}:{n}", _reason(exc)))
    return labels, skipped


def _scene_label(row: dict, root: Path) -> SceneLabel:
    plates = [PlateBox(_optional_text(p["text"]), _box(p["box"])) for p in row["plates"]]
    return SceneLabel(_existing(root, row["image"]), row["region"], row["source"], plates)


def _optional_text(text: object) -> str | None:
    if text is None:
        return None
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"plate text {text!r} is neither a non-empty string nor null")
    return text


def _box(values: object) -> np.ndarray:
    if not isinstance(values, list) or len(values) != 4:
        raise ValueError(f"box {values!r} is not [x1, y1, x2, y2]")
    box = np.array([float(v) for v in values], dtype=np.float32)
    if not np.isfinite(box).all() or box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f"box {values!r} is empty or not finite")
    return box


def read_crops(root: Path | str) -> tuple[list[CropLabel], list[Skipped]]:
    """``crops/labels.csv``: one tight plate crop a row."""
    root = Path(root)
    columns = ("image", "text", "region", "source")
    return _read_csv(root / "crops" / "labels.csv", columns, partial(_crop_label, root))


def _crop_label(root: Path, row: dict[str, str]) -> CropLabel:
    if not row["text"].strip():
        raise ValueError("empty plate text")
    return CropLabel(_existing(root, row["image"]), row["text"], row["region"], row["source"])


def read_videos(root: Path | str) -> tuple[list[VideoLabel], list[Skipped]]:
    """``videos/labels.csv``: the plates a viewer can read in each clip, separated by ``|``."""
    root = Path(root)
    columns = ("video", "region", "plates", "source", "note")
    return _read_csv(root / "videos" / "labels.csv", columns, partial(_video_label, root))


def _video_label(root: Path, row: dict[str, str]) -> VideoLabel:
    plates = [p.strip() for p in row["plates"].split("|") if p.strip()]
    video = _existing(root, row["video"])
    return VideoLabel(video, row["region"], plates, row["source"], row["note"])


def _read_csv(
    labels_file: Path, columns: tuple[str, ...], make_label: Callable[[dict[str, str]], T]
) -> tuple[list[T], list[Skipped]]:
    """A label per row; a row with too few or too many fields, or that ``make_label`` refuses
    with a ValueError, is skipped."""
    labels: list[T] = []
    skipped: list[Skipped] = []
    with _open_labels(labels_file, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{labels_file}: header lacks the columns {missing}")
        for row in reader:
            try:
                if None in row or any(row[c] is None for c in columns):
                    raise ValueError(f"expected {len(reader.fieldnames)} fields")
                labels.append(make_label(row))
            except ValueError as exc:
                skipped.append((f"{labels_file}:{reader.line_num}", str(exc)))
    return labels, skipped


def _open_labels(labels_file: Path, newline: str | None = None):
    if not labels_file.is_file():
        raise FileNotFoundError(
            f"labels file not found: {labels_file} (is the data folder at {labels_file.parents[1]}?"
            " set PLATESTREAM_DATA to point elsewhere)"
        )
    return labels_file.open(encoding="utf-8", newline=newline)


def _existing(root: Path, relative: object) -> Path:
    """A labelled file that is not there is a bad label: caught here, not mid-training."""
    if not isinstance(relative, str) or not relative.strip():
        raise ValueError(f"file path {relative!r} is empty")
    path = root / relative
    if not path.is_file():
        raise ValueError(f"file not found: {path}")
    return path


def _reason(exc: Exception) -> str:
    return f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
