"""``platestream-train data-stats``: what the readers decode from the shared data, and what not.

Run it after the data folder changes: a label format drift shows up as skipped rows here, with
the reason, instead of as a quietly smaller training set.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from trainer.data.ccpd import UNLABELED_FOLDER, read_ccpd
from trainer.data.shared import Skipped, data_root, read_crops, read_scenes, read_videos

#: (group, decoded, skipped); skipped is None on per-region rows, whose failures have no region.
StatRow = tuple[str, int, int | None]


def ccpd_rows(root: Path) -> tuple[list[StatRow], list[str]]:
    """One row per CCPD folder (blue, green, unlabeled_samples)."""
    labels, skipped = read_ccpd(root / "ccpd")
    decoded = Counter(_top_folder(lab.image, root / "ccpd") for lab in labels)
    failed = Counter(_top_folder(path, root / "ccpd") for path, _ in skipped)
    rows = [(f"ccpd/{g}", decoded[g], failed[g]) for g in sorted(decoded.keys() | failed.keys())]
    notes = [reason for path, reason in skipped if UNLABELED_FOLDER not in path.parts]
    return rows, notes


def _top_folder(path: Path, root: Path) -> str:
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 else "."


def grouped_rows(name: str, keys: list[str], skipped: list[Skipped]) -> list[StatRow]:
    """A total row for a labels file, then one row per key (region or source folder)."""
    counts = Counter(keys)
    return [(name, len(keys), len(skipped))] + [
        (f"  {key}", n, None) for key, n in sorted(counts.items())
    ]


def data_stats(root: Path) -> tuple[list[StatRow], list[str]]:
    """Rows for every data group and the reasons of every skipped label (unlabeled CCPD aside)."""
    rows, notes = ccpd_rows(root)
    scenes, scenes_skipped = read_scenes(root / "scenes" / "labels.jsonl")
    det, det_skipped = read_scenes(root / "detscenes" / "labels.jsonl")
    crops, crops_skipped = read_crops(root)
    videos, videos_skipped = read_videos(root)
    for name, keys, skipped in (
        ("scenes", [s.region for s in scenes], scenes_skipped),
        ("detscenes", [s.image.parent.name for s in det], det_skipped),
        ("crops", [c.region for c in crops], crops_skipped),
        ("videos", [v.region for v in videos], videos_skipped),
    ):
        rows += grouped_rows(name, keys, skipped)
        notes += [f"{where}: {reason}" for where, reason in skipped]
    return rows, notes


def run_data_stats(args: argparse.Namespace) -> int:
    root = Path(args.data) if args.data else data_root()
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root} (set PLATESTREAM_DATA or --data)")
    rows, notes = data_stats(root)
    print(f"data: {root}")
    print(f"{'group':34s}{'decoded':>9s}{'skipped':>9s}")
    for group, decoded, skipped in rows:
        print(f"{group:34s}{decoded:>9d}{'' if skipped is None else skipped:>9}")
    for note in notes:
        print(f"skipped {note}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "data-stats", help="count the labels decoded and skipped per group of the shared data"
    )
    p.add_argument("--data", help="data folder (default: ../shared/data or $PLATESTREAM_DATA)")
    p.set_defaults(func=run_data_stats)
