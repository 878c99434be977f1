"""Model latency benchmarks: our embedded models against seed-size references, in one process.

Absolute times on a shared 2-core machine swing by a third with load, so every figure is taken
beside the same measurement of the reference model (exported by
``platestream-train reference-models``), interleaved run by run, and reported as a ratio too.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from streamer.config import MODELS_DIR
from streamer.modelfile import open_session

DETECTOR_SIZES = ((640, 384), (640, 640))
RECOGNIZER_BATCHES = (1, 8)
THREADS = (1, 2)


def time_runs(session, feed: dict, runs: int, warmup: int = 3) -> np.ndarray:
    for _ in range(warmup):
        session.run(None, feed)
    times = np.empty(runs)
    for i in range(runs):
        t0 = time.perf_counter()
        session.run(None, feed)
        times[i] = time.perf_counter() - t0
    return times * 1000


def time_parallel_runs(session, feed: dict, runs: int, workers: int = 2) -> np.ndarray:
    """Wall time per run of ``workers`` threads running the session at once, as the pipeline's
    detect workers do: throughput rather than latency, one figure per batch of runs."""
    time_runs(session, feed, 1)
    batches = np.empty(max(1, runs // (2 * workers)))
    for i in range(len(batches)):
        threads = [
            threading.Thread(target=time_runs, args=(session, feed, 2, 0)) for _ in range(workers)
        ]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        batches[i] = (time.perf_counter() - t0) / (2 * workers)
    return batches * 1000


def interleaved(
    sessions: dict, feed_for, runs: int, rounds: int = 5, timer=time_runs
) -> dict[str, np.ndarray]:
    """Alternate the models in rounds so that a burst of load hits them alike."""
    out: dict[str, list] = {name: [] for name in sessions}
    for _ in range(rounds):
        for name, session in sessions.items():
            out[name].append(timer(session, feed_for(session), max(1, runs // rounds)))
    return {name: np.concatenate(v) for name, v in out.items()}


def stats(ms: np.ndarray, per: int = 1) -> dict:
    return {
        "median_ms": round(float(np.median(ms)) / per, 3),
        "p95_ms": round(float(np.percentile(ms, 95)) / per, 3),
    }


def bench_models(kind: str, reference: Path | None, runs: int = 50) -> list[dict]:
    """Rows of {model, config, threads, median_ms, p95_ms, ratio} for 'detect' or 'recognize'."""
    ours = MODELS_DIR / ("detector.onnx" if kind == "detect" else "recognizer.onnx")
    models = {"ours": ours} | ({"seed": reference} if reference else {})
    rows = []
    configs = DETECTOR_SIZES if kind == "detect" else RECOGNIZER_BATCHES
    # the detector also as the pipeline runs it: two single-threaded runs at once
    # the detector's threads spin as ``platestream read``'s do (2 threads that sleep between
    # parallel sections were no faster than 1); the recognizer's, which is too small for a
    # second thread to pay, do not
    spin = kind == "detect"
    modes = [(t, time_runs, f"{t}, spinning" if spin and t > 1 else str(t)) for t in THREADS]
    if kind == "detect":
        modes.append((1, time_parallel_runs, "1, 2 at once"))
    for threads, timer, threads_label in modes:
        spinning = spin and threads > 1
        sessions = {name: open_session(path, threads, spinning) for name, path in models.items()}
        for config in configs:
            if kind == "detect":
                shape = (1, 3, config[1], config[0])
            else:  # the recognizer's input size is fixed in its graph
                shape = (config, *sessions["ours"].get_inputs()[0].shape[1:])
            data = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
            feed = lambda s, d=data: {s.get_inputs()[0].name: d}  # noqa: E731
            results = interleaved(sessions, feed, runs, timer=timer)
            per = 1 if kind == "detect" else config
            label = f"{config[0]}x{config[1]}" if kind == "detect" else f"batch {config}"
            ref = np.median(results["seed"]) if "seed" in results else None
            for name, ms in results.items():
                row = {"model": name, "config": label, "threads": threads_label}
                row |= stats(ms, per)
                row["unit"] = "ms/frame" if kind == "detect" else "ms/plate"
                if ref is not None:
                    row["speedup_vs_seed"] = round(float(ref / np.median(ms)), 1)
                rows.append(row)
    return rows
