"""Shared helpers for the stream tests: sample clips, the CLI in a subprocess, event checks."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from trainer.synth.video import write_h264

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_videos"

#: the keys of a "plate" event, exactly as DESIGN.md lists them
EVENT_KEYS = {
    "type", "source", "track_id", "text", "confidence", "char_confidences", "reads",
    "first_pts", "last_pts", "first_wallclock", "last_wallclock", "best_frame", "box",
    "corners", "crop",
}  # fmt: skip


def sample(name: str) -> Path:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"sample video {name} not found")
    return path


def platestream_command(*args) -> list[str]:
    """The ``platestream`` console command of this interpreter's environment."""
    return [sys.executable, "-m", "streamer.cli", *map(str, args)]


def started_run(*args) -> subprocess.Popen:
    """``platestream`` with ``args``, started in the project root: stderr piped as text (for
    ``collected_stderr``, ``stop_when_running``), stdout dropped."""
    return subprocess.Popen(
        platestream_command(*args),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def run_cli(*args, timeout: float = 120, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        platestream_command(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or ROOT,
        env=env,
    )


def collected_stderr(proc: subprocess.Popen) -> tuple[list[str], threading.Thread]:
    """The lines of a process's stderr (piped, text), gathered as they come by the thread
    returned with them (it ends with the process)."""
    lines: list[str] = []

    def collect() -> None:
        for line in proc.stderr:
            lines.append(line)

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    return lines, reader


def wait_until_running(proc: subprocess.Popen, lines: list[str], timeout: float = 60) -> None:
    """Until a ``platestream run``'s first progress line: it has opened its source and read.
    A fixed time from the start depends on how fast a loaded machine starts the run (CI once
    left 89 frames where more than 100 were asserted)."""
    deadline = time.monotonic() + timeout
    while not any("| frames " in line for line in lines) and time.monotonic() < deadline:
        assert proc.poll() is None, "".join(lines)
        time.sleep(0.1)


def stop_when_running(proc: subprocess.Popen, seconds: float, signum: int = signal.SIGINT) -> str:
    """Send ``signum`` to a ``platestream run`` (stderr piped, text) ``seconds`` after its first
    progress line, and wait for it to finish; its whole stderr."""
    lines, reader = collected_stderr(proc)
    try:
        wait_until_running(proc, lines)
        time.sleep(seconds)
        assert proc.poll() is None, "".join(lines)
        proc.send_signal(signum)
        proc.wait(timeout=60)
        reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    return "".join(lines)


def assert_one_line_error(proc: subprocess.CompletedProcess) -> None:
    """The CLI contract for a user's mistake: exit 2 and one ``platestream: error:`` line."""
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("platestream: error:"), proc.stderr
    assert "Traceback" not in proc.stderr


def read_events(path: Path) -> list[dict]:
    """Every line must be one complete JSON object (events are flushed one by one)."""
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), "the last event line is incomplete"
    return [json.loads(line) for line in text.splitlines()]


def check_plate_event(event: dict) -> None:
    """Exactly the DESIGN.md keys with sane types and values."""
    assert set(event) == EVENT_KEYS, set(event) ^ EVENT_KEYS
    assert event["type"] == "plate"
    assert isinstance(event["track_id"], int)
    assert isinstance(event["text"], str) and event["text"]
    assert 0.0 <= event["confidence"] <= 1.0
    assert len(event["char_confidences"]) == len(event["text"])
    assert all(0.0 <= c <= 1.0 for c in event["char_confidences"])
    assert isinstance(event["reads"], int) and event["reads"] >= 1
    assert 0.0 <= event["first_pts"] <= event["last_pts"]
    assert isinstance(event["best_frame"], int) and event["best_frame"] >= 0
    x1, y1, x2, y2 = event["box"]
    assert x1 < x2 and y1 < y2
    assert len(event["corners"]) == 4 and all(len(c) == 2 for c in event["corners"])
    assert event["crop"] is None or isinstance(event["crop"], str)


@pytest.fixture
def loose_config(tmp_path: Path) -> Path:
    """Every track that was read emits its event, whatever its confidence.

    These tests check the plumbing, not the accuracy, and must not depend on how well the
    (retrained) models read the synthetic clips.
    """
    path = tmp_path / "loose.toml"
    path.write_text("[voting]\nmin_confidence = 0.0\n", encoding="utf-8")
    return path


def decoded(src: Path) -> Iterator[np.ndarray]:
    """The frames of ``src`` (BGR), one at a time."""
    with av.open(str(src)) as inp:
        for frame in inp.decode(video=0):
            yield frame.to_ndarray(format="bgr24")


def frame_rate(src: Path) -> Fraction:
    with av.open(str(src)) as inp:
        return inp.streams.video[0].average_rate


def sideways_copy(src: Path, dst: Path, turns: int, frames: int | None = None) -> Path:
    """``src`` stored turned by ``turns`` quarter turns clockwise, with the display rotation that
    turns it back: how phones store portrait and upside-down video."""
    coded = (np.rot90(bgr, -turns) for bgr in itertools.islice(decoded(src), frames))
    return write_h264(dst, coded, 25, rotation=90 * turns)


def interlaced_copy(src: Path, dst: Path) -> Path:
    """``src`` as an interlaced camera would send it: each pair of its frames woven into one
    (top field from the first, bottom from the second) at half the frame rate, coded as
    interlaced H.264, so that its moving plates have comb teeth and the decoder marks it so."""
    frames = decoded(src)
    pictures = (woven(top, bottom) for top, bottom in zip(frames, frames))
    options = {"x264-params": "interlaced=1:tff=1", "crf": "20", "preset": "fast"}
    return write_h264(dst, pictures, frame_rate(src) / 2, options)


def nudged_copy(src: Path, dst: Path, frames: range, shift: int) -> Path:
    """``src`` as if its camera were turned for ``frames``: the picture moved left by ``shift``
    pixels (the right edge black), then back."""
    pictures = (
        np.pad(bgr[:, shift:], ((0, 0), (0, shift), (0, 0))) if i in frames else bgr
        for i, bgr in enumerate(decoded(src))
    )
    return write_h264(dst, pictures, frame_rate(src), {"crf": "12"})


def held_frame(src: Path, dst: Path, index: int, seconds: float, pad_bottom: int = 0) -> Path:
    """Frame ``index`` of ``src`` held for ``seconds`` at 25 fps, with ``pad_bottom`` black rows
    below it: a parked car filmed at one frame size, or at another with its plate at the same
    pixels."""
    bgr = next(itertools.islice(decoded(src), index, None))
    picture = np.pad(bgr, ((0, pad_bottom), (0, 0), (0, 0)))
    return write_h264(dst, itertools.repeat(picture, round(seconds * 25)), 25, {"crf": "18"})


def woven(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """One picture of the even lines of ``top`` and the odd lines of ``bottom``."""
    picture = top.copy()
    picture[1::2] = bottom[1::2]
    return picture


def comb_teeth(bgr: np.ndarray) -> float:
    """How far each line strays from the mean of the lines above and below it: high where a
    frame's two fields were taken at different times and something moved between them."""
    g = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return float(np.abs(g[1:-1] - (g[:-2] + g[2:]) / 2).mean())


def h265_copy(src: Path, dst: Path) -> Path:
    """``src`` coded as H.265, as most IP cameras now send it."""
    with av.open(str(dst), "w") as out:
        stream = out.add_stream("libx265", rate=frame_rate(src))
        stream.options = {"preset": "ultrafast", "x265-params": "log-level=error"}
        for i, bgr in enumerate(decoded(src)):
            if i == 0:
                stream.height, stream.width = bgr.shape[:2]
                stream.pix_fmt = "yuv420p"
            frame = av.VideoFrame.from_ndarray(bgr, format="bgr24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return dst


def with_audio(src: Path, dst: Path) -> Path:
    """``src`` with a sound track beside its video (AAC, a 440 Hz tone), as most cameras and
    phones record: the video's packets copied as they are, the sound interleaved by time."""
    rate = 16000
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        video_in = inp.streams.video[0]
        video = out.add_stream_from_template(video_in)
        sound = out.add_stream("aac", rate=rate, layout="mono")
        seconds = float(video_in.duration * video_in.time_base)
        samples = np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate)
        chunks = (samples * 8000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(chunks, format="s16", layout="mono")
        frame.sample_rate, frame.pts = rate, 0
        for packet in inp.demux(video_in):
            if packet.dts is not None:
                packet.stream = video
                out.mux(packet)
        out.mux(sound.encode(frame))
        out.mux(sound.encode(None))
    return dst
