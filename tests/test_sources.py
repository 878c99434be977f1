"""VideoSource on files and HTTP: frame counts, media time, truncated and corrupt inputs."""

from __future__ import annotations

import contextlib
import http.server
import itertools
import json
import random
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import (
    assert_one_line_error,
    comb_teeth,
    decoded,
    interlaced_copy,
    read_events,
    run_cli,
    sample,
    sideways_copy,
)

from streamer.config import SourceConfig
from streamer.sources import (
    Frame,
    SourceError,
    VideoSource,
    frame_pixels,
    source_kind,
    without_password,
)


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


def test_fast_bgr_conversion_matches_swscale():
    """yuv420p frames stay I420 planes, and converted on demand they give the pixels swscale
    would; other formats (full-range JPEG YUV of MJPEG webcams, odd sides) are converted
    correctly at once."""
    with av.open(str(sample("mixed_traffic.mp4"))) as container:
        frame = next(container.decode(video=0))
    assert frame.format.name == "yuv420p"
    bgr, planes = frame_pixels(frame)
    assert bgr is None and planes.shape == (1620, 1920)  # the pipeline works on the planes
    assert np.array_equal(planes, frame.to_ndarray())
    decoded = Frame(index=0, pts=0.0, wallclock=None, i420=planes)
    assert decoded.size == (1920, 1080)
    fast = decoded.image.astype(int)
    assert decoded.image is decoded.bgr  # converted once
    slow = frame.to_ndarray(format="bgr24").astype(int)
    assert fast.shape == slow.shape == (1080, 1920, 3)
    assert np.abs(fast - slow).max() <= 3
    full_range = frame.reformat(format="yuvj420p")
    image, planes = frame_pixels(full_range)
    assert np.abs(image.astype(int) - slow).mean() < 2 and planes is None
    odd = frame.reformat(width=641, height=361)
    image, planes = frame_pixels(odd)
    assert image.shape == (361, 641, 3) and planes is None


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
    with pytest.raises(SourceError, match="cannot open") as caught:
        VideoSource(str(path))
    # FFmpeg's reason alone, without its error number or the path again
    assert "Errno" not in str(caught.value) and str(caught.value).count(str(path)) == 1


def numbered_frames(src: Path, folder: Path) -> str:
    """The clip's frames as numbered JPEG files, as a camera's frame dump leaves them; returns
    the printf-style pattern FFmpeg reads them by."""
    folder.mkdir()
    with av.open(str(src)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            cv2.imwrite(str(folder / f"{i:05d}.jpg"), frame.to_ndarray(format="bgr24"))
    return str(folder / "%05d.jpg")


def test_numbered_images_are_read_as_one_video(tmp_path):
    pattern = numbered_frames(sample("cn_gate.mp4"), tmp_path / "frames")
    source, frames = decode_all(Path(pattern))
    assert len(frames) == 200 and source.kind == "file" and not source.live
    assert np.all(np.diff([f[1] for f in frames]) > 0)
    proc = run_cli("run", pattern, "--events", "-")
    assert proc.returncode == 0, proc.stderr
    texts = [json.loads(line)["text"] for line in proc.stdout.splitlines()]
    truth = json.loads(sample("cn_gate.json").read_text())
    assert texts == [t["text"] for t in truth["tracks"]]


def test_a_frame_pattern_that_matches_no_file_is_one_line(tmp_path):
    assert_one_line_error(run_cli("run", str(tmp_path / "%05d.jpg")))


def test_missing_file():
    with pytest.raises(SourceError, match="no such file"):
        VideoSource("/nonexistent/clip.mp4")


def test_nothing_listening_fails_at_once():
    with pytest.raises(SourceError, match="cannot open rtsp://127.0.0.1:1/x"):
        VideoSource("rtsp://127.0.0.1:1/x", SourceConfig(max_reconnects=0, timeout=2))


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://admin:s3cret@10.0.0.5:554/stream1", "rtsp://admin:***@10.0.0.5:554/stream1"),
        ("http://u:p%40ss@cam/video.mjpg?x=1", "http://u:***@cam/video.mjpg?x=1"),
        ("rtsp://admin@10.0.0.5/stream", "rtsp://admin@10.0.0.5/stream"),  # no password
        ("rtsp://10.0.0.5/stream", "rtsp://10.0.0.5/stream"),
        ("/videos/gate.mp4", "/videos/gate.mp4"),
        ("0", "0"),
    ],
)
def test_a_camera_password_is_never_shown(url, shown):
    assert without_password(url) == shown


def test_an_error_names_the_camera_without_its_password():
    """FFmpeg's error quotes the URL it was given; the one-line error must not."""
    with pytest.raises(SourceError) as caught:
        VideoSource("rtsp://admin:s3cret@127.0.0.1:1/x", SourceConfig(max_reconnects=0, timeout=2))
    assert "s3cret" not in str(caught.value)
    assert "cannot open rtsp://admin:***@127.0.0.1:1/x" in str(caught.value)


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


def garbage_frames(src: Path, dst: Path) -> Path:
    """The clip with every byte of its media data (``mdat``) replaced: it opens, nothing decodes."""
    data, i = bytearray(src.read_bytes()), 0
    while i < len(data):
        size, kind = struct.unpack(">I4s", data[i : i + 8])
        if kind == b"mdat":
            data[i + 8 : i + size] = random.Random(0).randbytes(size - 8)
        i += size
    dst.write_bytes(bytes(data))
    return dst


def test_a_file_with_no_decodable_frame_is_an_error(tmp_path):
    source = VideoSource(str(garbage_frames(sample("cn_gate.mp4"), tmp_path / "g.mp4")))
    with pytest.raises(SourceError, match="no frame of .* could be decoded"):
        list(source.frames())
    assert source.stats.decode_errors > 100


def test_cli_on_a_file_with_no_decodable_frame(tmp_path):
    proc = run_cli("run", garbage_frames(sample("cn_gate.mp4"), tmp_path / "g.mp4"), "--quiet")
    assert_one_line_error(proc)
    assert "could be decoded" in proc.stderr


# -- HTTP: a clip on a web server is a file, an endless stream is live -----------------------


def mpegts_copy(src: Path, dst: Path) -> Path:
    """The clip remuxed to MPEG-TS, the usual container of a live HTTP stream."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mpegts") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return dst


@contextlib.contextmanager
def serving(answer: Callable[[http.server.BaseHTTPRequestHandler], None]) -> Iterator[str]:
    """A local HTTP server that answers each GET with ``answer``; yields its URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            answer(self)

        def handle(self) -> None:
            with contextlib.suppress(ConnectionError):  # the client hung up: nothing to report
                super().handle()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def http_server(tmp_path):
    """Serves /clip.mp4 (a file, with its length) and /live.ts (half the clip in MPEG-TS,
    paced, with no length, then the connection ends as when a camera's stream drops)."""
    clip = sample("cn_gate.mp4").read_bytes()
    live = mpegts_copy(sample("cn_gate.mp4"), tmp_path / "live.ts").read_bytes()

    def answer(request: http.server.BaseHTTPRequestHandler) -> None:
        request.send_response(200 if request.path in ("/clip.mp4", "/live.ts") else 404)
        if request.path == "/clip.mp4":
            request.send_header("Content-Length", str(len(clip)))
            request.end_headers()
            request.wfile.write(clip)
        elif request.path == "/live.ts":
            request.end_headers()
            for i in range(0, len(live) // 2, 188 * 100):
                request.wfile.write(live[i : i + 188 * 100])
                time.sleep(0.01)
        else:
            request.end_headers()

    with serving(answer) as url:
        yield url


def gate_jpegs() -> list[bytes]:
    """Every 5th frame of the gate clip as a JPEG: what a camera of 5 pictures a second sends."""
    frames = itertools.islice(decoded(sample("cn_gate.mp4")), 0, None, 5)
    return [cv2.imencode(".jpg", bgr)[1].tobytes() for bgr in frames]


@pytest.fixture
def mjpeg_camera():
    """An MJPEG camera's HTTP stream: every 5th frame of the gate clip as a JPEG part of a
    multipart response, sent at 5 fps, then the connection ends."""
    parts = gate_jpegs()

    def answer(request: http.server.BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        request.end_headers()
        for jpeg in parts:
            head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
            request.wfile.write(head % len(jpeg) + jpeg + b"\r\n")
            time.sleep(0.2)

    with serving(answer) as url:
        yield f"{url}/video.mjpg"


def test_an_mjpeg_camera_is_timed_by_the_frames_arrival(mjpeg_camera):
    """FFmpeg numbers a multipart MJPEG stream's frames at a guessed 25 fps: the camera's 5 fps
    would run five times slow in media time, and every setting in seconds with it."""
    source = VideoSource(mjpeg_camera, SourceConfig(timeout=5, max_reconnects=0))
    assert source.live and source.timed_by_arrival
    frames = [f for f, _ in zip(source.frames(), range(10))]
    source.stop()
    spacing = np.diff([f.pts for f in frames])
    assert np.all(spacing > 0)
    assert 0.15 < np.median(spacing) < 0.3, spacing
    arrival = np.diff([f.wallclock for f in frames])
    assert np.allclose(spacing, arrival, atol=0.02)


@pytest.mark.slow
def test_an_mjpeg_camera_is_read_with_its_plate_in_real_time(mjpeg_camera, tmp_path):
    """The whole CLI on the camera: the plate, in view for 5.4 s, is read and its event spans
    about that much media time (1.1 s with the demuxer's made-up timestamps)."""
    events = tmp_path / "events.jsonl"
    proc = run_cli("run", mjpeg_camera, "--max-reconnects", "0", "--events", events, "--quiet")
    assert proc.returncode == 0, proc.stderr
    (plate,) = [e for e in read_events(events) if e["type"] == "plate"]
    assert plate["text"] == "津B18850"
    assert 4.5 < plate["last_pts"] - plate["first_pts"] < 6.5, plate


@pytest.fixture
def snapshot_camera():
    """A camera's snapshot URLs, by extension (/snapshot.jpg) and by content (/snapshot.cgi):
    each request answers the next of every 5th frame of the gate clip as one JPEG (the plate
    in 27 of the 40), then 404 as a camera taken away; also counts the requests."""
    pictures = gate_jpegs()
    asked = []

    def answer(request: http.server.BaseHTTPRequestHandler) -> None:
        asked.append(time.monotonic())
        if len(asked) > len(pictures):
            request.send_response(404)
            request.end_headers()
            return
        jpeg = pictures[len(asked) - 1]
        request.send_response(200)
        request.send_header("Content-Type", "image/jpeg")
        request.send_header("Content-Length", str(len(jpeg)))
        request.end_headers()
        request.wfile.write(jpeg)

    with serving(answer) as url:
        yield url, asked


@pytest.mark.parametrize("path", ["/snapshot.jpg", "/snapshot.cgi"])
def test_a_snapshot_url_is_asked_again_at_its_frame_rate(snapshot_camera, path):
    """FFmpeg reads one still picture per open and ends, which for a live source would be a
    dropped stream, reconnected with growing delays (a picture every 15 s) or, with a .jpg
    name, a one-frame file: a snapshot URL is asked again at a steady rate instead."""
    url, asked = snapshot_camera
    source = VideoSource(url + path, SourceConfig(timeout=5, frame_rate=10, max_reconnects=0))
    assert source.live and source.snapshot and source.timed_by_arrival
    frames = [f for f, _ in zip(source.frames(), range(8))]
    source.stop()
    spacing = np.diff([f.pts for f in frames])
    assert 0.08 < np.median(spacing) < 0.15, spacing
    assert np.allclose(spacing, np.diff([f.wallclock for f in frames]), atol=0.02)
    assert not np.array_equal(frames[0].image, frames[-1].image)  # a new picture each time
    assert 8 <= len(asked) <= 9
    assert source.stats.reconnects == 0 and not source.stats.events


@pytest.mark.slow
def test_a_snapshot_camera_is_read_until_it_is_gone(snapshot_camera, tmp_path):
    """The whole CLI on the snapshot URL: the plate is read from the pictures as they come,
    and the camera's 404 after its last picture ends the run (no reconnect allowed)."""
    url, asked = snapshot_camera
    events = tmp_path / "events.jsonl"
    proc = run_cli(
        "run", f"{url}/snapshot.cgi", "--frame-rate", "20", "--max-reconnects", "0",
        "--events", events, "--quiet",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (plate,) = [e for e in read_events(events) if e["type"] == "plate"]
    assert plate["text"] == "津B18850"
    assert len(asked) == 41  # every picture, then the 404
    assert "404" in proc.stderr


def test_http_clip_is_processed_as_a_file(http_server):
    source = VideoSource(f"{http_server}/clip.mp4", SourceConfig(timeout=5))
    assert source.kind == "stream" and not source.live
    frames = list(source.frames())
    assert len(frames) == 200 and all(f.wallclock is None for f in frames)
    assert source.stats.reconnects == 0


def test_http_live_stream_reconnects_when_it_ends(http_server):
    config = SourceConfig(timeout=5, backoff_initial=0.1, max_reconnects=3)
    source = VideoSource(f"{http_server}/live.ts", config)
    assert source.live and not source.timed_by_arrival  # MPEG-TS carries its own timing
    frames = []
    for frame in source.frames():
        frames.append(frame)
        if source.stats.reconnects == 1 and len(frames) >= 150:
            source.stop()
    assert source.stats.reconnects == 1 and 150 <= len(frames) < 200
    assert any("reconnected after" in e for e in source.stats.events)
    assert all(f.wallclock is not None for f in frames)
    assert [f.segment for f in frames] == sorted(f.segment for f in frames)
    assert {f.segment for f in frames} == {0, 1}
    assert np.all(np.diff([f.pts for f in frames]) > 0)


def test_http_not_found(http_server):
    with pytest.raises(SourceError, match="cannot open .*404"):
        VideoSource(f"{http_server}/nothing.mp4", SourceConfig(timeout=5))


@pytest.mark.parametrize("turns", [1, -1, 2])
def test_rotated_video_is_turned_upright(tmp_path, turns):
    src = sample("cn_gate.mp4")
    with av.open(str(src)) as container:
        upright = next(container.decode(video=0)).to_ndarray(format="bgr24").astype(int)
    source = VideoSource(str(sideways_copy(src, tmp_path / "turned.mp4", turns, frames=3)))
    frame = next(source.frames())
    assert frame.image.shape == upright.shape and frame.i420 is None
    assert np.abs(frame.image - upright).mean() < 3  # as upright as the encoding allows
    assert source.size == (upright.shape[1], upright.shape[0])


def test_interlaced_frames_are_woven_whole_and_none_is_lost(tmp_path):
    path = interlaced_copy(sample("cn_gate.mp4"), tmp_path / "interlaced.mp4")
    decoded = {}
    for mode in ("off", "auto", "on"):
        source = VideoSource(str(path), SourceConfig(deinterlace=mode))
        decoded[mode] = [(f.pts, comb_teeth(f.image)) for f in source.frames()]
        assert source.stats.woven == (0 if mode == "off" else len(decoded[mode]))
    assert len(decoded["off"]) == 100  # 200 frames woven in pairs
    for mode in ("auto", "on"):  # the frame bwdif holds back comes out at the end
        assert [pts for pts, _ in decoded[mode]] == [pts for pts, _ in decoded["off"]]
    teeth = {mode: np.median([t for _, t in frames]) for mode, frames in decoded.items()}
    assert teeth["auto"] < teeth["off"] / 2 and teeth["on"] == teeth["auto"]


def test_progressive_frames_are_not_touched_unless_asked():
    frames = {}
    for mode in ("off", "auto", "on"):
        source = VideoSource(str(sample("cn_gate.mp4")), SourceConfig(deinterlace=mode))
        frames[mode] = [f.i420 for _, f in zip(range(5), source.frames())]
        assert source.stats.woven == (5 if mode == "on" else 0)
    assert all(np.array_equal(a, b) for a, b in zip(frames["off"], frames["auto"]))
    assert not all(np.array_equal(a, b) for a, b in zip(frames["off"], frames["on"]))


def raw_h264(src: Path, dst: Path) -> Path:
    """The clip's H.264 stream without its container, as some recorders save it: no timing."""
    with av.open(str(src)) as container, dst.open("wb") as out:
        stream = container.streams.video[0]
        annexb = av.BitStreamFilterContext("h264_mp4toannexb", stream)
        for packet in container.demux(stream):
            out.write(b"".join(bytes(p) for p in annexb.filter(packet)))
    return dst


def test_files_without_timing_take_the_frame_rate_they_are_given(tmp_path):
    clip = sample("cn_gate.mp4")
    untimed = {
        "images": numbered_frames(clip, tmp_path / "frames"),
        "raw": str(raw_h264(clip, tmp_path / "raw.h264")),
    }
    for name, path in untimed.items():
        for rate, spacing in ((None, 0.04), (5, 0.2)):
            source = VideoSource(path, SourceConfig(frame_rate=rate))
            pts = [f.pts for f, _ in zip(source.frames(), range(10))]
            assert source.fps == (rate or 25)
            assert np.allclose(np.diff(pts), spacing), (name, rate, pts)
    timed = VideoSource(str(clip), SourceConfig(frame_rate=5))  # its own timestamps win
    assert np.allclose(np.diff([f.pts for f, _ in zip(timed.frames(), range(10))]), 0.04)
    truth = json.loads(sample("cn_gate.json").read_text())
    last_pts = {}
    for flags in ((), ("--frame-rate", "5")):
        proc = run_cli("run", untimed["raw"], *flags, "--events", "-", "--quiet")
        assert proc.returncode == 0, proc.stderr
        events = [json.loads(line) for line in proc.stdout.splitlines()]
        # stretched five times, the gate's plate is hidden for over a second, long enough to
        # end its track: it may come as two events, both right
        assert {e["text"] for e in events} == {t["text"] for t in truth["tracks"]}
        last_pts[flags] = max(e["last_pts"] for e in events)
    assert last_pts["--frame-rate", "5"] == pytest.approx(5 * last_pts[()], rel=0.01)
