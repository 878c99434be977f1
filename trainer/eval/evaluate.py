"""``platestream-train eval``: the embedded models scored on the real data folders, per group.

Runs the runtime's own Detector and Recognizer (ONNX), so what is measured is what users run.
By default only the validation split is scored, the part no training run has seen. The
``synthetic`` group reads fresh plates from the generator instead, for the kinds of plate the
real crops hold too few of (US vanity plates, long numbers, British plates).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from collections import Counter
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from streamer.charset import normalize_text
from streamer.config import DetectorConfig, RecognizerConfig
from streamer.detector import Detector
from streamer.geometry import box_iou, letterbox_params
from streamer.recognizer import Recognizer
from streamer.voting import read_plate_crops, read_still
from trainer.data.ccpd import read_ccpd
from trainer.data.shared import data_root, read_crops, read_scenes, read_videos, split_of
from trainer.eval.metrics import (
    character_error_rate,
    corner_error,
    detection_pr,
    end_to_end_image,
    found_by_width,
    match_detections,
    plate_accuracy,
    score_clip,
    width_band_names,
)
from trainer.eval.perturbations import PERTURBATIONS, Perturbation
from trainer.synth.commands import parse_regions
from trainer.synth.plates import READ_REGIONS, REGIONS
from trainer.synth.scenes import random_plate_sample
from trainer.synth.video import write_h264


def in_split(path: Path, split: str) -> bool:
    return split == "all" or split_of(Path(path).name) == split


def eval_crops(recognizer: Recognizer, root: Path, split: str) -> dict[str, dict]:
    """Recognition only: each labelled crop read as a whole plate, as ``platestream read
    --crops`` reads it."""
    labels, _ = read_crops(root)
    by_region: dict[str, list] = {}
    for lab in labels:
        if in_split(lab.image, split):
            by_region.setdefault(lab.region.lower(), []).append(lab)
    out = {}
    for region, labs in sorted(by_region.items()):
        crops = [cv2.imread(str(lab.image)) for lab in labs]
        texts = [text for text, _, _ in read_plate_crops(recognizer, crops)]
        expected = [lab.text for lab in labs]
        out[f"crops-{region}"] = {
            "n": len(labs),
            "accuracy": round(plate_accuracy(texts, expected), 4),
            "cer": round(character_error_rate(texts, expected), 4),
            "errors": [f"{e}->{t}" for t, e in zip(texts, expected) if t != e][:10],
        }
    return out


def eval_synthetic(
    recognizer: Recognizer, regions: list[str], count: int, seed: int
) -> dict[str, dict]:
    """``count`` fresh synthetic plates of each region, each read from its true corners as
    ``platestream read`` reads a found plate. A probe, not a measure of real accuracy (the same
    generator fills the training pool), but a reproducible one: the seed fixes the plates of a
    given version of the generator, so figures compare models measured in one checkout. Per
    region also by length and for numbers of at most two digits, where the query decoder loses
    count (vanity plates)."""
    out = {}
    for region in regions:
        rng = np.random.default_rng([seed, REGIONS.index(region)])  # whatever else is asked
        samples = [random_plate_sample(rng, [region]) for _ in range(count)]
        reads = [read_still(recognizer, image, [corners])[0][0] for image, corners, _ in samples]
        texts = [normalize_text(t) for t in reads]
        expected = [normalize_text(text) for _, _, text in samples]
        right = [t == e for t, e in zip(texts, expected)]
        few_digits = [sum(c.isdigit() for c in e) <= 2 for e in expected]
        out[f"synth-{region.lower()}"] = {
            "n": count,
            "accuracy": round(sum(right) / count, 4),
            "cer": round(character_error_rate(texts, expected), 4),
            "by_length": {
                n: [sum(r for r, e in zip(right, expected) if len(e) == n), lengths]
                for n, lengths in sorted(Counter(len(e) for e in expected).items())
            },
            "at_most_two_digits": [sum(r for r, f in zip(right, few_digits) if f), sum(few_digits)],
            "errors": [f"{e}->{t}" for t, e in zip(texts, expected) if t != e][:10],
        }
    return out


def eval_scenes(
    detector: Detector, recognizer: Recognizer, items: list, iou: float, mirror: bool = True
) -> dict[str, float | int]:
    """Detection and end-to-end reading on full images, as ``platestream read`` does them
    (``mirror``: its default two looks): items are (path, [(box, text, corners)])."""
    preds, gts, e2e_correct, e2e_labels, cerrs = [], [], 0, 0, []
    widths, found = [], []
    for path, plates in items:
        image = cv2.imread(str(path))
        if image is None:
            continue
        dets = detector.detect_still(image) if mirror else detector.detect(image)
        reads = read_still(recognizer, image, [d.corners for d in dets])
        preds.append(
            (np.array([d.box for d in dets]).reshape(-1, 4), np.array([d.score for d in dets]))
        )
        gts.append(np.array([p[0] for p in plates], np.float32).reshape(-1, 4))
        widths.append(widths_at_input(detector, image, gts[-1]))
        found.append(np.isin(np.arange(len(gts[-1])), match_detections(*preds[-1], gts[-1], iou)))
        texted = [(p[0], p[1]) for p in plates if p[1]]
        score = end_to_end_image([(d.box, r[0]) for d, r in zip(dets, reads)], texted, iou)
        e2e_correct, e2e_labels = e2e_correct + score.correct, e2e_labels + score.labels
        for box, _, corners in plates:
            if corners is not None and dets:
                best = max(dets, key=lambda d: _iou(d.box, box))
                if _iou(best.box, box) >= iou:
                    cerrs.append(corner_error(best.corners, corners))
    pr = detection_pr(preds, gts, iou_threshold=iou)
    result: dict[str, float | int] = {
        "images": len(preds),
        "recall": round(pr.recall, 4),
        "precision": round(pr.precision, 4),
        "ap50": round(pr.ap50, 4),
    }
    if e2e_labels:
        result["end_to_end"] = round(e2e_correct / e2e_labels, 4)
    if cerrs:
        result["corner_error_median"] = round(float(np.median(cerrs)), 4)
    if widths:
        result["by_width"] = found_by_width(np.concatenate(widths), np.concatenate(found))
    return result


def widths_at_input(detector: Detector, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """The boxes' widths as the detector sees them: in pixels of its input, to which the whole
    image is scaled."""
    h, w = image.shape[:2]
    scale = letterbox_params((w, h), detector.input_size((w, h))).scale
    return (boxes[:, 2] - boxes[:, 0]) * scale


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(box_iou(np.asarray(a).reshape(1, 4), np.asarray(b).reshape(1, 4))[0, 0])


def scene_groups(root: Path, split: str) -> dict[str, tuple[list, float]]:
    """Every scene group with its IoU rule: CCPD at 0.7 (its official rule), others at 0.5."""
    groups: dict[str, tuple[list, float]] = {}
    ccpd, _ = read_ccpd(root / "ccpd")
    groups["ccpd"] = (
        [(c.image, [(c.box, c.text, c.corners)]) for c in ccpd if in_split(c.image, split)],
        0.7,
    )
    for folder in ("scenes", "detscenes"):
        labels, _ = read_scenes(root / folder / "labels.jsonl")
        for lab in labels:
            if in_split(lab.image, split):
                key = f"{folder}-{Path(lab.image).parent.name}"
                items = groups.setdefault(key, ([], 0.5))[0]
                items.append((lab.image, [(p.box, p.text, None) for p in lab.plates]))
    return groups


def clip_events(
    video: Path, detector: Detector, recognizer: Recognizer, regions: list[str] | None = None
) -> list[dict]:
    """Run the whole pipeline on one clip (no video output), with the formats of ``regions``
    if given, and return its plate events."""
    from streamer.config import Config
    from streamer.pipeline import Pipeline
    from streamer.sinks import CropWriter, EventWriter
    from streamer.sources import VideoSource

    collected: list[dict] = []
    events = EventWriter(None)
    events.write = collected.append
    config = Config()
    config.voting.regions = list(regions or [])
    detector.score_threshold = detector.spec["score_threshold"]  # the pipeline lowers it per run
    Pipeline(
        VideoSource(str(video), config.source),
        config,
        detector,
        recognizer,
        events,
        CropWriter(None),
    ).run()
    return [e for e in collected if e["type"] == "plate"]


def video_clips(root: Path, samples: Path) -> list[tuple[str, Path, list[str]]]:
    """(name, path, labelled plates) for the sample clips and the labelled real clips."""
    clips = [
        (
            f"sample-{p.stem}",
            p,
            [t["text"] for t in json.loads(p.with_suffix(".json").read_text())["tracks"]],
        )
        for p in sorted(samples.glob("*.mp4"))
    ]
    if (root / "videos" / "labels.csv").exists():
        labels, _ = read_videos(root)
        clips += [(f"real-{v.video.stem}", v.video, v.plates) for v in labels if v.plates]
    return clips


def clip_as_filmed(
    video: Path, folder: Path, rate: float | None = None, change: Perturbation | None = None
) -> Path:
    """``video`` as another camera would have filmed it, in a copy in ``folder``: at about
    ``rate`` frames a second (every k-th frame, k its own rate over ``rate``, rounded, with
    their timing) and through ``change`` (``trainer.eval.perturbations``), or near lossless."""
    change = change or Perturbation()
    rng = np.random.default_rng(0)
    with av.open(str(video)) as inp:
        native = inp.streams.video[0].average_rate or Fraction(25)
        k = max(1, round(float(native) / rate)) if rate else 1
        frames = itertools.islice(inp.decode(video=0), 0, None, k)
        pictures = (f.to_ndarray(format="bgr24") for f in frames)
        if change.picture:
            pictures = (change.picture(p, rng) for p in pictures)
        options = {"crf": str(change.crf)}
        return write_h264(folder / f"{video.stem}.mp4", pictures, native / k, options)


def eval_videos(
    detector: Detector,
    recognizer: Recognizer,
    root: Path,
    regions: list[str] | None = None,
    frame_rate: float | None = None,
    change: Perturbation | None = None,
) -> dict[str, dict]:
    """Per clip: labelled plates read exactly by some event, missed ones, false reads, and
    plates reported more than once (a split track); with ``frame_rate`` or ``change``, of each
    clip as a camera of that rate or with that change would have filmed it."""
    samples = Path(__file__).resolve().parents[2] / "sample_videos"
    out = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, path, plates in video_clips(root, samples):
            if frame_rate or change:
                path = clip_as_filmed(path, Path(folder), frame_rate, change)
            out[name] = eval_clip(path, plates, detector, recognizer, regions)
    return out


def eval_clip(
    path: Path,
    plates: list[str],
    detector: Detector,
    recognizer: Recognizer,
    regions: list[str] | None,
) -> dict:
    texts = [e["text"] for e in clip_events(path, detector, recognizer, regions)]
    score = score_clip(texts, plates)
    return {
        "labelled": len(plates),
        "read": len(score.read),
        "missed": score.missed,
        "false_reads": score.false_reads,
        "repeated": len(texts) - len(set(texts)),
    }


def run_eval(args: argparse.Namespace) -> int:
    root = Path(args.data) if args.data else data_root()
    if set(args.groups) - {"synthetic"} and not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    synth_regions = parse_regions(args.synth_regions) or list(READ_REGIONS)
    if args.synth_count < 1:
        raise ValueError(f"--synth-count must be at least 1, not {args.synth_count}")
    detector_config = DetectorConfig(max_side=args.max_side)
    if args.detector:
        detector_config.model = Path(args.detector)
    detector = Detector(detector_config)
    recognizer_config = RecognizerConfig(still_views=args.views)
    if args.recognizer:
        recognizer_config.model = Path(args.recognizer)
    recognizer = Recognizer(recognizer_config)
    results: dict[str, dict] = {}
    t0 = time.time()
    if "crops" in args.groups:
        results |= eval_crops(recognizer, root, args.split)
    if "synthetic" in args.groups:
        results |= eval_synthetic(recognizer, synth_regions, args.synth_count, args.synth_seed)
    if "scenes" in args.groups:
        for name, (items, iou) in scene_groups(root, args.split).items():
            results[name] = eval_scenes(detector, recognizer, items, iou, args.mirror) | {
                "iou": iou
            }
    if "videos" in args.groups:
        change = PERTURBATIONS[args.perturb] if args.perturb else None
        videos = eval_videos(detector, recognizer, root, args.region, args.video_fps, change)
        results["videos-total"] = {
            "n": sum(v["labelled"] for v in videos.values()),
            "accuracy": round(
                sum(v["read"] for v in videos.values())
                / max(1, sum(v["labelled"] for v in videos.values())),
                4,
            ),
            "false_reads": sum(len(v["false_reads"]) for v in videos.values()),
            "repeated": sum(v["repeated"] for v in videos.values()),
        }
        if args.json:
            results["videos"] = videos
        else:
            for name, v in videos.items():
                missed, false = v["missed"], v["false_reads"]
                print(
                    f"{name:40s} read {v['read']}/{v['labelled']}  missed {missed}  false {false}"
                    + (f"  repeated {v['repeated']}" if v["repeated"] else "")
                )
    if args.json:
        print(json.dumps({"split": args.split, "results": results}, indent=2, ensure_ascii=False))
    else:
        print_table(results)
    print(f"({time.time() - t0:.0f} s)", file=sys.stderr)  # stdout stays valid JSON
    return 0


def print_table(results: dict[str, dict]) -> None:
    cols = [
        "n",
        "images",
        "accuracy",
        "cer",
        "recall",
        "precision",
        "ap50",
        "end_to_end",
        "corner_error_median",
        "false_reads",
        "repeated",
    ]
    print(f"{'group':28s}" + "".join(f"{c[:10]:>11s}" for c in cols))
    for name, r in results.items():
        print(f"{name:28s}" + "".join(f"{r[c]!s:>11s}" if c in r else f"{'':>11s}" for c in cols))
    if any(name.startswith("scenes-") for name in results):
        print("scenes-*: one plate is labelled per image, so their precision is a lower bound")
    if any(name.startswith("detscenes-") for name in results):
        print("detscenes-*: every plate is meant to be boxed, but a few far or partly hidden ones")
        print("  are not (some false boxes are real plates): a lower bound too")
    bands = {name: [0, 0] for name in width_band_names()}
    for r in results.values():
        for name, (found, labelled) in r.get("by_width", {}).items():
            bands[name][0] += found
            bands[name][1] += labelled
    for name, r in results.items():
        if "by_length" in r:
            lengths = "  ".join(f"{n}: {right}/{m}" for n, (right, m) in r["by_length"].items())
            right, m = r["at_most_two_digits"]
            print(f"{name} by length {lengths}; at most two digits: {right}/{m}")
    if any(labelled for _, labelled in bands.values()):
        print("scene plates found / labelled, by their width at the detector's input (px):")
        print("  " + "  ".join(f"{name}: {f}/{n}" for name, (f, n) in bands.items() if n))


def register(sub) -> None:
    p = sub.add_parser(
        "eval", help="score the embedded (or given) models on the real data, per group"
    )
    p.add_argument("--data", help="data folder (default: ../shared/data or $PLATESTREAM_DATA)")
    p.add_argument("--split", choices=["val", "train", "all"], default="val")
    p.add_argument(
        "--groups",
        nargs="+",
        choices=["crops", "scenes", "videos", "synthetic"],
        default=["crops", "scenes", "videos"],
        help="real data groups (default: all three), or 'synthetic': fresh plates from the "
        "generator (no data folder needed)",
    )
    p.add_argument("--detector", help="detector ONNX (default: embedded)")
    p.add_argument("--recognizer", help="recognizer ONNX (default: embedded)")
    p.add_argument(
        "--max-side",
        type=int,
        help="longer side of the detector's input (default: the model's), as "
        "'platestream read --max-side'",
    )
    p.add_argument(
        "--region",
        action="append",
        help="clips are run with this region's plate formats (as 'platestream run --region')",
    )
    p.add_argument(
        "--views",
        type=int,
        default=RecognizerConfig.still_views,
        help="views a crop or a scene's plate is read in, as 'platestream read --views'",
    )
    p.add_argument(
        "--mirror",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="scenes are detected in two looks, the image and its mirror, as 'platestream read' "
        "does by default (--no-mirror: one look)",
    )
    p.add_argument(
        "--video-fps",
        type=float,
        help="run each clip thinned to about this many frames a second (every k-th frame), "
        "as a camera of a few frames a second would film it",
    )
    p.add_argument(
        "--perturb",
        choices=sorted(PERTURBATIONS),
        help="run each clip changed as another camera would film it: darker (dusk), brighter, "
        "out of focus, smeared by motion, at half the size, or compressed hard "
        "(trainer/eval/perturbations.py)",
    )
    p.add_argument(
        "--synth-regions",
        help="regions of the synthetic group, comma-separated (default: those the recognizer "
        f"reads, {','.join(READ_REGIONS)})",
    )
    p.add_argument(
        "--synth-count", type=int, default=1000, help="synthetic plates per region (default: 1000)"
    )
    p.add_argument(
        "--synth-seed", type=int, default=11, help="seed of the synthetic plates (default: 11)"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_eval)
