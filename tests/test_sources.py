"""VideoSource on files: frame counts, media time, truncated and corrupt inputs."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli, sample

from streamer.config import SourceConfig
from streamer.sources import SourceError, VideoSource, source_kind


def truncated_copy(src: Path, dst: Path, fraction: float = 0.6) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def garbage_in_the_middle(src: Path, dst: Path, size: int = 20_000) -> Path:
    data = bytearray(src.read_bytes())
    mid, rng = len(data) // 2, random.Random(0)
    data[mid : mid + size] = bytes(rng.randrange(256) for _ in range(size))
    dst.write_bytes(bytes(data))
    return dst


def decode_all(path: Path) -> tuple[VideoSource, list]:
    source = VideoSource(str(path))
    return source, [(f.index, f.pts, f.image.shape, f.wallclock) for f in source.frames()]


@pytest.mark.parametrize(
    "source, kind",
    [
        ("clip.mp4", "file"),
        ("rtsp://10.0.0.1/stream", "stream"),
        ("RTSP://cam/x", "stream"),
        ("https://example.com/live.m3u8", "stream"),
        ("0", "webcam"),
        ("/dev/video2", "webcam"),
    ],
)
def test_source_kind(source, kind):
    assert source_kind(source) == kind


def test_file_decodes_every_frame_with_increasing_pts():
    path = sample("cn_gate.mp4")
    truth = json.loads(path.with_suffix(".json").read_text())
    source, frames = decode_all(path)
    assert len(frames) == truth["frames"] == source.stats.frames
    assert [f[0] for f in frames] == list(range(len(frames)))
    pts = np.array([f[1] for f in frames])
    assert pts[0] == 0.0 and np.all(np.diff(pts) > 0)
    assert np.allclose(np.diff(pts), 1 / truth["fps"], atol=1e-3)
    assert {f[2] for f in frames} == {(truth["height"], truth["width"], 3)}
    assert all(f[3] is None for f in frames)  # files carry no arrival time
    assert source.fps == pytest.approx(truth["fps"])
    assert source.size == (truth["width"], truth["height"])
    assert source.stats.decode_errors == 0 and source.stats.reconnects == 0


def test_stop_ends_a_file_early():
    source = VideoSource(str(sample("cn_gate.mp4")))
    seen = 0
    for _ in source.frames():
        seen += 1
        if seen == 5:
            source.stop()
    assert seen == 5


def test_truncated_file_gives_fewer_frames(tmp_path):
    path = truncated_copy(sample("cn_gate.mp4"), tmp_path / "truncated.mp4")
    _, frames = decode_all(path)
    assert 0 < len(frames) < 200
    assert np.all(np.diff([f[1] for f in frames]) > 0)


def test_garbage_in_the_middle_is_skipped_and_counted(tmp_path):
    path = garbage_in_the_middle(sample("cn_gate.mp4"), tmp_path / "garbage.mp4")
    source, frames = decode_all(path)
    assert 0 < len(frames) <= 200
    assert len(frames) < 200 or source.stats.decode_errors > 0
    assert np.all(np.diff([f[1] for f in frames]) > 0)


@pytest.mark.parametrize("content", [b"", b"\x00" * 1000, random.Random(1).randbytes(100_000)])
def test_not_a_video_cannot_be_opened(tmp_path, content):
    path = tmp_path / "not_a_video.mp4"
    path.write_bytes(content)
    with pytest.raises(SourceError, match="cannot open"):
        VideoSource(str(path))


def test_missing_file():
    with pytest.raises(SourceError, match="no such file"):
        VideoSource("/nonexistent/clip.mp4")


def test_nothing_listening_fails_at_once():
    with pytest.raises(SourceError, match="cannot open rtsp://127.0.0.1:1/x"):
        VideoSource("rtsp://127.0.0.1:1/x", SourceConfig(max_reconnects=0, timeout=2))


# -- the same inputs through the CLI: no traceback, ever ------------------------------------


@pytest.mark.slow
def test_cli_processes_a_truncated_file(tmp_path):
    path = truncated_copy(sample("cn_gate.mp4"), tmp_path / "truncated.mp4")
    proc = run_cli("run", path, "--events", tmp_path / "ev.jsonl", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    summary = proc.stderr.strip().splitlines()[-1]
    frames = int(summary.split(": ")[1].split(" frames")[0])
    assert 0 < frames < 200


@pytest.mark.slow
def test_cli_on_a_corrupt_middle_never_tracebacks(tmp_path):
    # the first half of the clip (the index stays whole) keeps the run short
    half = truncated_copy(sample("cn_gate.mp4"), tmp_path / "half.mp4", fraction=0.5)
    path = garbage_in_the_middle(half, tmp_path / "garbage.mp4", size=10_000)
    proc = run_cli("run", path, "--events", tmp_path / "ev.jsonl", "--quiet")
    assert "Traceback" not in proc.stderr
    if proc.returncode == 2:
        assert_one_line_error(proc)
    else:
        assert proc.returncode == 0, proc.stderr
        assert "decode errors" in proc.stderr
