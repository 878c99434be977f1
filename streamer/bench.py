"""``platestream bench``: pipeline stage latencies and throughput, or model latencies vs the seed.

The pipeline is run on a video twice, with and without the annotated output, so the cost of
encoding is visible; stage latencies are medians and 95th percentiles over every frame. Between
them the video is only decoded, as the reference: the machines are shared and their speed swings
by a fifth from run to run, and the pipeline's throughput as a share of decoding alone, measured
in the same minute, swings much less.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from streamer.config import Config
from streamer.host import this_host
from streamer.modelbench import bench_models

#: a source checkout's samples, and the current folder's: ``pip install .`` copies the package
#: into site-packages without them, and the README runs the bench from the checkout
SAMPLE_FOLDERS = (Path(__file__).resolve().parent.parent / "sample_videos", Path("sample_videos"))


def default_video() -> Path:
    for folder in SAMPLE_FOLDERS:
        for name in ("mixed_traffic.mp4", "eu_street.mp4"):
            if (folder / name).exists():
                return folder / name
    raise FileNotFoundError("no sample video found: pass --video")


def run_pipeline(video: Path, with_output: bool):
    """One pipeline run over the whole video (no events written): its stats, its throughput
    (taken now: ``Stats.fps`` is a live figure) and the frame size."""
    from streamer.detector import Detector
    from streamer.pipeline import Pipeline
    from streamer.recognizer import Recognizer
    from streamer.sinks import CropWriter, EventWriter, VideoWriter
    from streamer.sources import VideoSource

    config = Config()
    source = VideoSource(str(video), config.source)
    with tempfile.TemporaryDirectory() as tmp:
        out = config.output
        writer = (
            VideoWriter(
                Path(tmp) / "out.mp4", source.fps, source.size, out.video_crf, out.video_threads
            )
            if with_output
            else None
        )
        pipeline = Pipeline(
            source, config, Detector(config.detector), Recognizer(config.recognizer),
            EventWriter(None), CropWriter(None), writer,
        )  # fmt: skip
        stats = pipeline.run()
        return stats, stats.fps, list(source.size or ())


def decode_fps(video: Path) -> float:
    """Frames a second of decoding the video alone, as the pipeline's source does (to I420
    planes where the stream is yuv420p, else to BGR)."""
    from streamer.sources import VideoSource

    source = VideoSource(str(video))
    start = time.perf_counter()
    frames = sum(1 for _ in source.frames())
    return frames / (time.perf_counter() - start)


def bench_pipeline(video: Path, repeat: int = 1) -> list[dict]:
    """Without and with the annotated video, and decoding alone, ``repeat`` times each,
    alternating so that a burst of load hits all alike: the median throughput, its ratio to
    decoding alone, and stage latencies over every frame."""
    runs: dict[bool, list] = {False: [], True: []}
    decoding = []
    for _ in range(max(1, repeat)):
        for with_output in runs:
            runs[with_output].append(run_pipeline(video, with_output))
            decoding.append(decode_fps(video))
    reference = float(np.median(decoding))
    return [summarise(video, with_output, done, reference) for with_output, done in runs.items()]


def summarise(video: Path, with_output: bool, runs: list, decode_fps: float) -> dict:
    stage_ms: dict[str, list] = {}
    for stats, _, _ in runs:
        for name, values in stats.stage_ms.items():
            stage_ms.setdefault(name, []).extend(values)
    stages = {
        name: {
            "median_ms": round(float(np.median(v)), 2),
            "p95_ms": round(float(np.percentile(v, 95)), 2),
            "calls": len(v),
        }
        for name, v in stage_ms.items()
        if len(v)
    }
    fps = [round(fps, 1) for _, fps, _ in runs]
    return {
        "video": str(video),
        "size": runs[0][2],
        "output_video": with_output,
        "frames": runs[0][0].frames,
        "fps": round(float(np.median(fps)), 1),
        "fps_runs": fps,
        "decode_only_fps": round(decode_fps, 1),
        "share_of_decode_only": round(float(np.median(fps)) / decode_fps, 3),
        "plates": runs[0][0].plates,
        "stages": stages,
    }


def reference_models(folder: Path | None) -> tuple[Path | None, Path | None]:
    """The seed-size ONNX models, exported on the fly when torch is there and none were given."""
    if folder is None:
        try:
            from trainer.reference_models import export_reference_models
        except ImportError:
            return None, None
        folder = Path(tempfile.mkdtemp(prefix="platestream-seed-"))
        export_reference_models(folder)
    det, rec = folder / "seed_detector.onnx", folder / "seed_recognizer.onnx"
    return (det if det.exists() else None), (rec if rec.exists() else None)


def print_rows(rows: list[dict]) -> None:
    keys = list(rows[0])
    print("  ".join(f"{k:>16s}" for k in keys))
    for r in rows:
        print("  ".join(f"{r.get(k, '')!s:>16s}" for k in keys))


def run_bench(args: argparse.Namespace) -> int:
    # on stderr, as the runs' progress, so that the table or JSON on stdout is the data alone
    print(f"host: {this_host()}", file=sys.stderr)
    if args.stage == "pipeline":
        video = args.video or default_video()
        results = bench_pipeline(video, args.repeat)
        if args.json:
            print(json.dumps(results, indent=2))
            return 0
        for r in results:
            print(
                f"{r['video']} {r['size']} output video: {r['output_video']}: "
                f"{r['fps']} fps over {r['frames']} frames (median of runs: {r['fps_runs']}), "
                f"{r['share_of_decode_only']:.3f} of decoding alone ({r['decode_only_fps']} fps)"
            )
            print_rows([{"stage": k, **v} for k, v in r["stages"].items()])
        return 0
    det_ref, rec_ref = reference_models(args.reference)
    kind = "detect" if args.stage == "detect" else "recognize"
    rows = bench_models(kind, det_ref if kind == "detect" else rec_ref, args.runs, args.compare)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_rows(rows)
    return 0
