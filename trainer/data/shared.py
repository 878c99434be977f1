"""Readers for the ../shared/data label formats (scenes, detscenes, crops, videos)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def data_root() -> Path:
    env = os.environ.get("PLATESTREAM_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "data"


def split_of(key: str, val_fraction: float = 0.15) -> str:
    h = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "val" if h < val_fraction else "train"


@dataclass
class PlateBox:
    text: str | None
    box: np.ndarray


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


def read_scenes(labels_file: Path) -> tuple[list[SceneLabel], list[tuple[str, str]]]:
    root = Path(labels_file).parent.parent
    out, skipped = [], []
    for n, line in enumerate(Path(labels_file).read_text(encoding="utf-8").splitlines(), 1):
        try:
            d = json.loads(line)
            plates = [PlateBox(p["text"], np.asarray(p["box"], np.float32)) for p in d["plates"]]
            out.append(SceneLabel(root / d["image"], d["region"], d["source"], plates))
        except (ValueError, KeyError, TypeError) as exc:
            skipped.append((f"{labels_file}:{n}", str(exc)))
    return out, skipped


def read_crops(root: Path) -> tuple[list[CropLabel], list[tuple[str, str]]]:
    labels_file = Path(root) / "crops" / "labels.csv"
    out, skipped = [], []
    with labels_file.open(encoding="utf-8") as f:
        for n, row in enumerate(csv.DictReader(f), 2):
            try:
                out.append(
                    CropLabel(Path(root) / row["image"], row["text"], row["region"], row["source"])
                )
            except (KeyError, TypeError) as exc:
                skipped.append((f"{labels_file}:{n}", str(exc)))
    return out, skipped
