"""Model latency benchmarks: our embedded models against seed-size references, in one process.

Absolute times on a shared 2-core machine swing by a third with load, so every figure is taken
beside the same measurement of the reference model (exported by
``platestream-train reference-models``), interleaved run by run, and reported as a ratio too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from streamer.config import MODELS_DIR, DetectorConfig
from streamer.detector import Detector
from streamer.geometry import Letterbox
from streamer.modelfile import ctc_head_file, load_sidecar, open_session, sidecar_path

DETECTOR_SIZES = ((640, 384), (640, 640))
RECOGNIZER_BATCHES = (1, 8)
THREADS = (1, 2)


def time_runs(step: Callable[[], object], runs: int, warmup: int = 3) -> np.ndarray:
    for _ in range(warmup):
        step()
    times = np.empty(runs)
    for i in range(runs):
        t0 = time.perf_counter()
        step()
        times[i] = time.perf_counter() - t0
    return times * 1000


def time_parallel_runs(step: Callable[[], object], runs: int, workers: int = 2) -> np.ndarray:
    """Wall time per run of ``workers`` threads running the step at once, as the pipeline's
    detect workers do: throughput rather than latency, one figure per batch of runs."""
    time_runs(step, 1)
    batches = np.empty(max(1, runs // (2 * workers)))
    for i in range(len(batches)):
        threads = [threading.Thread(target=time_runs, args=(step, 2, 0)) for _ in range(workers)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        batches[i] = (time.perf_counter() - t0) / (2 * workers)
    return batches * 1000


def interleaved(
    steps: dict[str, Callable[[], object]], runs: int, rounds: int = 5, timer=time_runs
) -> dict[str, np.ndarray]:
    """Alternate the models in rounds so that a burst of load hits them alike."""
    out: dict[str, list] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            out[name].append(timer(step, max(1, runs // rounds)))
    return {name: np.concatenate(v) for name, v in out.items()}


def stats(ms: np.ndarray, per: int = 1) -> dict:
    return {
        "median_ms": round(float(np.median(ms)) / per, 3),
        "p95_ms": round(float(np.percentile(ms, 95)) / per, 3),
    }


def bench_models(
    kind: str, reference: Path | None, runs: int = 50, compared: Path | None = None
) -> list[dict]:
    """Rows of {model, config, threads, median_ms, p95_ms, ratio} for 'detect' or 'recognize';
    ``compared``, a model of the same kind (a training round's, say), is timed interleaved with
    the embedded one and its rows say how many times the embedded model's time it takes.

    A detector is timed as the runtime runs it, from the letterboxed image to the decoded
    locations (``Detector.detect_rgb``): ours takes its image quantised in blocks and decodes
    where the score passes, both outside ONNX Runtime, so timing the session alone would leave
    them out. A recognizer is timed on its session: its input is the normalised batch.
    """
    ours = MODELS_DIR / ("detector.onnx" if kind == "detect" else "recognizer.onnx")
    models = {"ours": ours} | ({"compared": compared} if compared else {})
    models |= {"seed": reference} if reference else {}
    rows = []
    configs = DETECTOR_SIZES if kind == "detect" else RECOGNIZER_BATCHES
    # Two cores are used in two ways: one run on 2 threads that spin, as ``platestream read``'s
    # do (2 threads that sleep between parallel sections were no faster than 1: the recognizer
    # took 0.60 ms a plate at batch 8 on them, 0.51 on 1 and 0.44 on 2 that spin), and two
    # single-threaded runs at once, as the pipeline's detect workers run (throughput).
    modes = [(1, time_runs, "1")] + [(t, time_runs, f"{t}, spinning") for t in THREADS if t > 1]
    modes.append((1, time_parallel_runs, "1, 2 at once"))
    for threads, timer, threads_label in modes:
        spinning = threads > 1
        for config in configs:
            if kind == "detect":
                steps = detector_steps(models, config, threads, spinning)
            else:
                steps = recognizer_steps(models, config, threads, spinning)
            results = interleaved(steps, runs, timer=timer)
            per = 1 if kind == "detect" else config
            label = f"{config[0]}x{config[1]}" if kind == "detect" else f"batch {config}"
            ref = np.median(results["seed"]) if "seed" in results else None
            for name, ms in results.items():
                row = {"model": name, "config": label, "threads": threads_label}
                row |= stats(ms, per)
                row["unit"] = "ms/frame" if kind == "detect" else "ms/plate"
                if ref is not None:
                    row["speedup_vs_seed"] = round(float(ref / np.median(ms)), 1)
                if compared:
                    ours_ms = np.median(results["ours"])
                    row["time_vs_ours"] = round(float(np.median(ms) / ours_ms), 2)
                rows.append(row)
    return rows


def detector_steps(
    models: dict[str, Path], size: tuple[int, int], threads: int, spinning: bool
) -> dict[str, Callable[[], object]]:
    image = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    unscaled = Letterbox(1.0, 0.0, 0.0)
    steps = {}
    for name, path in models.items():
        detector = Detector(DetectorConfig(model=path, threads=threads, spinning=spinning))
        steps[name] = lambda d=detector: d.detect_rgb(image, unscaled)
    return steps


def recognizer_steps(
    models: dict[str, Path], batch: int, threads: int, spinning: bool
) -> dict[str, Callable[[], object]]:
    """A model with a CTC head of its own is timed twice: with the head run on every plate, as
    for plates the queries are unsure of, and without (``<name>, head skipped``), as for the
    others (``streamer.recognizer.Recognizer.rescored_where_unsure``)."""
    steps = {}
    for name, path in models.items():
        session = open_session(path, threads, spinning)
        shape = (batch, *session.get_inputs()[0].shape[1:])  # the input size is in the graph
        data = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        feed = {session.get_inputs()[0].name: data}
        has_sidecar = sidecar_path(path).is_file()  # the seed-size model has none
        head = ctc_head_file(path, load_sidecar(path)) if has_sidecar else None
        if head is None:
            steps[name] = lambda s=session, f=feed: s.run(None, f)
            continue
        ctc = open_session(head, 1)  # as the runtime opens it
        steps[name] = lambda s=session, c=ctc, f=feed: c.run(None, {"memory": s.run(None, f)[1]})
        steps[f"{name}, head skipped"] = lambda s=session, f=feed: s.run(None, f)
    return steps
