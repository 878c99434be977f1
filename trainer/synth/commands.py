"""``platestream-train synth-samples`` and ``synth-video``: the synthetic generator from the shell.

``synth-samples`` exists to look at the generator's output and to time it; ``synth-video`` makes
the clips under ``sample_videos/`` (their README has the exact commands).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from trainer.synth.plates import REGIONS, render_plate
from trainer.synth.scenes import random_scene
from trainer.synth.video import synth_video


def parse_regions(text: str | None) -> list[str] | None:
    if not text:
        return None
    regions = [r.strip().upper() for r in text.split(",") if r.strip()]
    unknown = sorted(set(regions) - set(REGIONS))
    if unknown:
        raise ValueError(f"unknown regions {unknown}; known: {','.join(REGIONS)}")
    return regions


def parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def write_samples(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    regions = parse_regions(args.regions)

    start = time.perf_counter()
    plates = [render_plate(rng, regions) for _ in range(args.count)]
    plate_s = time.perf_counter() - start
    start = time.perf_counter()
    scenes = [random_scene(rng, parse_size(args.size), regions=regions) for _ in range(args.count)]
    scene_s = time.perf_counter() - start

    with open(out / "plates.csv", "w", encoding="utf-8") as f:
        f.write("image,text,region,source\n")
        for i, p in enumerate(plates):
            name = f"plate_{i:04d}.png"
            alpha = np.round(p.alpha * 255).astype(np.uint8)
            cv2.imwrite(str(out / name), np.dstack([p.image, alpha]))
            f.write(f"{name},{p.text},{p.region},synth:{p.style}\n")
    with open(out / "scenes.jsonl", "w", encoding="utf-8") as f:
        for i, (image, labels) in enumerate(scenes):
            name = f"scene_{i:04d}.png"
            cv2.imwrite(str(out / name), image)
            plates_json = [
                {
                    "text": lab["text"],
                    "region": lab["region"],
                    "box": [round(float(v), 2) for v in lab["box"]],
                    "corners": [
                        [round(float(x), 2), round(float(y), 2)] for x, y in lab["corners"]
                    ],
                }
                for lab in labels
            ]
            record = {"image": name, "source": "synth", "plates": plates_json}
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(
        f"{args.count} plates in {plate_s:.2f} s ({args.count / plate_s:.1f} plates/s), "
        f"{args.count} scenes {args.size} in {scene_s:.2f} s ({args.count / scene_s:.1f} scenes/s) "
        f"-> {out}"
    )
    return 0


def write_video(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    truth = synth_video(
        args.out,
        seconds=args.seconds,
        fps=args.fps,
        size=(args.width, args.height),
        seed=args.seed,
        regions=parse_regions(args.regions),
        max_plates=args.max_plates,
        scene=args.scene,
        crf=args.crf,
    )
    size_kb = Path(args.out).stat().st_size / 1024
    print(
        f"{args.out}: {truth['frames']} frames {truth['width']}x{truth['height']} "
        f"@ {truth['fps']} fps, {size_kb:.0f} kB, {len(truth['tracks'])} plates "
        f"({', '.join(t['text'] for t in truth['tracks'])}) in {time.perf_counter() - start:.1f} s",
        file=sys.stderr,
    )
    return 0


def register(subparsers) -> None:
    regions_help = f"comma-separated regions out of {','.join(REGIONS)} (default: all)"
    p = subparsers.add_parser(
        "synth-samples", help="write rendered plates and scenes as PNG, and time the generator"
    )
    p.add_argument("out", help="output folder")
    p.add_argument("--count", type=int, default=20, help="plates and scenes to write (each)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--regions", help=regions_help)
    p.add_argument("--size", default="640x480", help="scene size WxH (default 640x480)")
    p.set_defaults(func=write_samples)

    v = subparsers.add_parser(
        "synth-video", help="write a synthetic traffic video (H.264 MP4) and its JSON ground truth"
    )
    v.add_argument("out", help="output .mp4; the ground truth goes beside it as .json")
    v.add_argument("--seconds", type=float, default=8.0)
    v.add_argument("--fps", type=float, default=25.0)
    v.add_argument("--width", type=int, default=1280)
    v.add_argument("--height", type=int, default=720)
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--regions", help=regions_help)
    v.add_argument("--max-plates", type=int, default=4, help="cars in a street scene (at most)")
    v.add_argument("--scene", choices=("street", "gate"), default="street")
    v.add_argument("--crf", type=int, default=26, help="x264 quality: lower is better and larger")
    v.set_defaults(func=write_video)
