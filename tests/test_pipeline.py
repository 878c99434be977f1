"""The whole pipeline through the CLI on the sample clips: annotated video, events, crops,
Ctrl-C, and the video score against the clips' ground truth."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import (
    ROOT,
    check_plate_event,
    collected_stderr,
    interlaced_copy,
    nudged_copy,
    platestream_command,
    read_events,
    run_cli,
    sample,
    sideways_copy,
    started_run,
    stop_when_running,
    wait_until_running,
)

from streamer.config import Config
from streamer.detector import Detector
from streamer.pipeline import Pipeline
from streamer.recognizer import Recognizer
from streamer.sinks import (
    CropWriter,
    EventWriter,
    I420Canvas,
    SegmentedVideo,
    VideoWriter,
    i420_frame,
)
from streamer.sources import VideoSource
from trainer.eval.metrics import score_clip
from trainer.synth.video import write_h264

LOOSE_TOML = "[voting]\nmin_confidence = 0.0\n"


def video_facts(path: Path) -> tuple[int, float, tuple[int, int], list[float]]:
    """Frame count, frame rate, size and frame times, by decoding every frame."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [f.time for f in container.decode(stream)]
        return len(times), float(stream.average_rate), (stream.width, stream.height), times


@pytest.fixture(scope="module")
def eu_street_run(tmp_path_factory):
    """One full run with every output; its events are not filtered by confidence (see
    conftest.loose_config), so the plumbing is tested whatever the models read."""
    tmp = tmp_path_factory.mktemp("eu_street")
    config = tmp / "loose.toml"
    config.write_text(LOOSE_TOML, encoding="utf-8")
    video = sample("eu_street.mp4")
    out = {"video": tmp / "out.mp4", "events": tmp / "ev.jsonl", "crops": tmp / "crops"}
    proc = run_cli(
        "run", video, "--output", out["video"], "--events", out["events"],
        "--crops", out["crops"], "--config", config, "--quiet",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return {**out, "input": video, "stderr": proc.stderr}


@pytest.mark.slow
def test_output_video_keeps_frames_and_rate(eu_street_run):
    frames, fps, size, times = video_facts(eu_street_run["input"])
    out_frames, out_fps, out_size, out_times = video_facts(eu_street_run["video"])
    assert (out_frames, out_size) == (frames, size)
    assert out_fps == pytest.approx(fps)
    assert out_times == pytest.approx(times, abs=1e-3)


@pytest.mark.slow
def test_events_follow_the_contract(eu_street_run):
    events = read_events(eu_street_run["events"])
    plates = [e for e in events if e["type"] == "plate"]
    assert len(plates) == len(events) >= 1
    truth = json.loads(eu_street_run["input"].with_suffix(".json").read_text())
    duration = truth["frames"] / truth["fps"]
    for event in plates:
        check_plate_event(event)
        assert event["source"] == str(eu_street_run["input"])
        assert event["last_pts"] < duration
        assert 0 <= event["best_frame"] < truth["frames"]
        assert event["first_wallclock"] is None and event["last_wallclock"] is None  # a file
    assert len({e["track_id"] for e in plates}) == len(plates)
    summary = eu_street_run["stderr"].strip().splitlines()[-1]
    assert f"{truth['frames']} frames" in summary and f"plates {len(plates)}" in summary


@pytest.mark.slow
def test_crops_referenced_by_events_exist(eu_street_run):
    plates = read_events(eu_street_run["events"])
    crops = sorted(eu_street_run["crops"].iterdir())
    assert [Path(e["crop"]) for e in plates if e["crop"]] and len(crops) == len(plates)
    for event in plates:
        crop = Path(event["crop"])
        assert crop.parent == eu_street_run["crops"] and crop.exists()
        image = cv2.imread(str(crop))
        assert image is not None and image.shape[0] > 0


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_stop_signal_leaves_playable_video_and_whole_events(tmp_path, signum):
    video = sample("cn_gate.mp4")
    out, events = tmp_path / "out.mp4", tmp_path / "ev.jsonl"
    config = tmp_path / "loose.toml"
    config.write_text(LOOSE_TOML, encoding="utf-8")
    proc = subprocess.Popen(
        platestream_command(
            "run", video, "--output", out, "--events", events, "--config", config, "--realtime",
        ),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    stderr = stop_when_running(proc, 2.5, signum)  # the clip lasts 8 s at its own rate
    assert proc.returncode in (0, 130), stderr
    assert f"{signal.Signals(signum).name}: finishing" in stderr
    assert "Traceback" not in stderr
    frames, fps, _, times = video_facts(out)
    assert 1 <= frames < 200
    assert fps == pytest.approx(25)
    assert times == sorted(times)
    for event in read_events(events):
        check_plate_event(event)
        assert event["last_pts"] <= times[-1] + 1e-3


@pytest.mark.slow
def test_sighup_after_logrotate_goes_on_in_a_new_events_file(tmp_path):
    """logrotate moves the events file aside and sends SIGHUP: the run goes on writing to a
    new file of the same name, and the two files hold every plate once."""
    events, rotated = tmp_path / "ev.jsonl", tmp_path / "ev.jsonl.1"
    proc = started_run("run", sample("eu_street.mp4"), "--events", events, "--realtime")
    lines, reader = collected_stderr(proc)
    try:
        wait_until_running(proc, lines)
        events.rename(rotated)
        proc.send_signal(signal.SIGHUP)
        proc.wait(timeout=60)
        reader.join(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, "".join(lines)
    assert events.exists(), "no new file after SIGHUP"
    texts = [e["text"] for path in (rotated, events) for e in read_events(path)]
    assert sorted(texts) == ["8JL084", "FL909F", "KTE6636", "MV184VT"]


def run_in_a_terminal(*args) -> tuple[int, int]:
    """``platestream`` started on a new pseudo-terminal, as from a terminal window: its pid and
    the window's side of the terminal."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: nothing of pytest may run here
        try:
            os.chdir(ROOT)
            os.execv(sys.executable, platestream_command(*args))
        finally:
            os._exit(127)
    return pid, fd


def exit_status(pid: int, timeout: float = 60) -> int:
    """The exit code of a child, -signal if a signal ended it (killed after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while (ended := os.waitpid(pid, os.WNOHANG))[0] == 0:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            ended = os.waitpid(pid, 0)
            break
        time.sleep(0.1)
    return os.waitstatus_to_exitcode(ended[1])


@pytest.mark.slow
def test_closing_its_terminal_finishes_the_run_as_ctrl_c_does(tmp_path):
    """A run in a terminal window that is then closed gets SIGHUP and a terminal that fails
    every write. It died of its next progress line (exit 1, a 28-byte video, no events); now it
    finishes: the video has every frame decoded so far and the open tracks are written."""
    out, events = tmp_path / "out.mp4", tmp_path / "ev.jsonl"
    pid, fd = run_in_a_terminal(
        "run", sample("eu_street.mp4"), "--realtime", "--output", out, "--events", events
    )
    shown = b""
    try:
        deadline = time.monotonic() + 60
        while b"tracks 1" not in shown and time.monotonic() < deadline:
            try:
                shown += os.read(fd, 4096)
            except OSError:  # the run ended before showing a track: its status says how
                break
    finally:
        os.close(fd)  # the window closes
    assert exit_status(pid) == 0, shown[-500:]
    frames = max(int(n) for n in re.findall(rb"frames (\d+)", shown))
    assert video_facts(out)[0] >= frames
    texts = [e["text"] for e in read_events(events)]
    assert texts and set(texts) <= {"8JL084", "FL909F", "KTE6636", "MV184VT"}


def frames_before_the_cut(path: Path) -> list[float]:
    """The times of the frames a player shows of a video cut short, up to where it breaks."""
    times: list[float] = []
    with av.open(str(path)) as container:
        try:
            for packet in container.demux(video=0):
                times += [f.time for f in packet.decode()]
        except av.error.InvalidDataError:
            pass  # the piece being written when the writer died
    return times


@pytest.mark.slow
def test_a_killed_run_leaves_the_video_written_so_far_playable(tmp_path):
    """SIGKILL (the power, the out-of-memory killer) gives no chance to finish the file: an
    MP4 with its index at the end was unreadable; fragmented, it plays to the last second."""
    out = tmp_path / "out.mp4"
    proc = started_run("run", sample("cn_gate.mp4"), "--output", out, "--realtime")
    stderr = stop_when_running(proc, 3.0, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL, stderr
    times = frames_before_the_cut(out)
    assert len(times) >= 25, f"{len(times)} frames playable of a run killed after 3 s"
    assert times == sorted(times) and times[0] == pytest.approx(0, abs=0.05)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["eu_street", "cn_gate", "mixed_traffic"])
def test_sample_clip_read_exactly(tmp_path, name, capsys):
    """With the shipped models and settings, every plate of each sample clip is read exactly,
    once (one track, one event), and nothing else is (the per-clip score is printed)."""
    truth = json.loads(sample(f"{name}.mp4").with_suffix(".json").read_text())
    events = tmp_path / "events.jsonl"
    proc = run_cli("run", sample(f"{name}.mp4"), "--events", events, "--quiet")
    assert proc.returncode == 0, proc.stderr
    texts = [e["text"] for e in read_events(events) if e["type"] == "plate"]
    score = score_clip(texts, [t["text"] for t in truth["tracks"]])
    with capsys.disabled():
        print(
            f"\n{name}: read {len(score.read)}/{score.labelled} {score.read}, "
            f"missed {score.missed}, false reads {score.false_reads}"
        )
    assert not score.missed and not score.false_reads, score
    assert sorted(texts) == sorted(t["text"] for t in truth["tracks"]), "a plate split in two"


# -- a crashing stage stops the run instead of hanging it ------------------------------------


def failing_at(call: int, function):
    """``function`` that raises on its ``call``-th call (a stage hitting a bug)."""
    calls = [0]

    def wrapper(*args, **kwargs):
        calls[0] += 1
        if calls[0] == call:
            raise RuntimeError("injected failure")
        return function(*args, **kwargs)

    return wrapper


def decoding_failing_at(n: int, frames):
    def frames_then_failure():
        for i, frame in enumerate(frames()):
            if i == n:
                raise RuntimeError("injected failure")
            yield frame

    return frames_then_failure


def gate_pipeline(video: Path, config: Config) -> Pipeline:
    """cn_gate's pipeline writing the annotated ``video`` and nothing else."""
    source = VideoSource(str(sample("cn_gate.mp4")), config.source)
    return Pipeline(
        source, config, Detector(config.detector), Recognizer(config.recognizer),
        EventWriter(None), CropWriter(None), VideoWriter(video, source.fps, source.size),
    )  # fmt: skip


@pytest.mark.parametrize("stage", ["decode", "detect", "track"])
def test_a_crashing_stage_ends_the_run(stage, tmp_path):
    config = Config()
    config.source.queue_size = 2  # full queues at once: the case that used to hang
    pipeline = gate_pipeline(tmp_path / "out.mp4", config)
    source = pipeline.source
    if stage == "decode":
        pipeline.source.frames = decoding_failing_at(4, pipeline.source.frames)
    elif stage == "detect":
        pipeline.detector.detect_frame = failing_at(4, pipeline.detector.detect_frame)
    else:
        pipeline.tracker.update = failing_at(4, pipeline.tracker.update)
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            pipeline.run()
            outcome.append(None)
        except RuntimeError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), f"the pipeline hangs after its {stage} stage crashed"
    assert [str(e) for e in outcome] == ["injected failure"]
    assert source.stats.frames < 200  # decoding stopped early
    assert 1 <= video_facts(tmp_path / "out.mp4")[0] < 200  # and the video was closed


def test_a_failing_progress_callback_still_leaves_the_video_finished(tmp_path):
    """The stages are daemon threads: an error raised in the main thread's loop (the progress
    line on a terminal that is gone) used to leave with them running, and the video unwritten."""
    pipeline = gate_pipeline(tmp_path / "out.mp4", Config())

    def progress(stats) -> None:
        if stats.frames >= 10:
            raise OSError(5, "Input/output error")

    with pytest.raises(OSError, match="Input/output"):
        pipeline.run(progress)
    assert video_facts(tmp_path / "out.mp4")[0] >= 10


def test_a_link_between_stages_neither_hangs_nor_loses_items():
    """A put gives up only once every consumer is gone, a get ends only once every producer is
    gone and nothing is left: what a live producer put before it ended still arrives."""
    from streamer.pipeline import END, Link

    link = Link(1)
    producer = threading.Thread(target=lambda: [link.put(i) for i in range(3)])
    consumer_alive = threading.Event()
    consumer = threading.Thread(target=consumer_alive.wait)
    link.producers, link.consumers = [producer], [consumer]
    consumer.start()
    producer.start()
    got = [link.get() for _ in range(3)]
    producer.join(5)
    assert got == [0, 1, 2] and link.get() is END  # producer ended without END: no hang
    consumer_alive.set()
    consumer.join(5)
    link.put("first")
    started = time.time()
    link.put("second")  # queue full and its consumer gone: gives up instead of blocking
    assert time.time() - started < 2
    assert link.put_newest("newest") == 1  # a live source drops the oldest, never waits
    assert link.get() == "newest"


def test_a_link_says_when_its_live_producer_has_been_quiet():
    """A get given an idle time returns IDLE after it while the producer lives and sends
    nothing, so the tracking stage can look at a lost stream; the items and END still come."""
    from streamer.pipeline import END, IDLE, Link

    link, quiet = Link(4), threading.Event()
    producer = threading.Thread(target=lambda: (link.put(1), quiet.wait(5), link.put(2)))
    link.producers = [producer]
    producer.start()
    assert link.get(idle=0.3) == 1
    started = time.monotonic()
    assert link.get(idle=0.3) is IDLE
    assert 0.25 < time.monotonic() - started < 1
    quiet.set()
    assert link.get(idle=0.3) == 2
    producer.join(5)
    assert link.get(idle=0.3) is END


@pytest.mark.parametrize("workers", [1, 3])
def test_frames_reach_the_tracker_in_order_whichever_detection_ends_first(workers):
    """Several detect threads finish out of order (here, at random); tracking must still see
    every frame once, in the order decoded."""
    config = Config()
    config.detector.workers = workers
    source = VideoSource(str(sample("cn_gate.mp4")), config.source)
    pipeline = Pipeline(
        source, config, Detector(config.detector), Recognizer(config.recognizer),
        EventWriter(None), CropWriter(None),
    )  # fmt: skip
    detect, rng, lock = pipeline.detector.detect_frame, np.random.default_rng(0), threading.Lock()

    def slow_at_random(frame):
        with lock:
            delay = rng.uniform(0, 0.01)
        time.sleep(delay)
        return detect(frame)

    seen: list[int] = []
    update = pipeline.tracker.update
    pipeline.detector.detect_frame = slow_at_random
    pipeline.tracker.update = lambda dets, index, pts: (
        seen.append(index) or update(dets, index, pts)
    )
    stats = pipeline.run()
    assert seen == list(range(video_facts(sample("cn_gate.mp4"))[0]))
    assert stats.frames == len(seen) and stats.plates >= 1


# -- events before a track ends, and rejected tracks ------------------------------------------


@pytest.mark.slow
def test_final_reads_write_the_event_while_the_plate_is_in_view(tmp_path):
    """cn_gate's car waits at the barrier: its event comes long before the car leaves."""
    video = sample("cn_gate.mp4")
    truth = json.loads(video.with_suffix(".json").read_text())
    last_labelled = max(f["pts"] for t in truth["tracks"] for f in t["frames"])
    config = tmp_path / "loose.toml"
    config.write_text(LOOSE_TOML, encoding="utf-8")
    events = tmp_path / "ev.jsonl"
    proc = run_cli(
        "run", video, "--events", events, "--final-reads", "2", "--config", config, "--quiet"
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    plates = read_events(events)
    assert plates
    for event in plates:
        check_plate_event(event)
        assert event["reads"] >= 2
    assert min(e["last_pts"] for e in plates) < last_labelled - 2.0
    assert len({e["track_id"] for e in plates}) == len(plates)  # one event per track


@pytest.mark.slow
def test_rejected_tracks_are_reported_with_their_reasons(tmp_path):
    config = tmp_path / "nothing_matches.toml"
    config.write_text(
        '[voting]\nmin_confidence = 0.0\nformats = ["NOPLATE"]\n[output]\nrejected = true\n',
        encoding="utf-8",
    )
    events = tmp_path / "ev.jsonl"
    proc = run_cli("run", sample("cn_gate.mp4"), "--events", events, "--config", config, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "plates 0" in proc.stderr.strip().splitlines()[-1]
    rejected = read_events(events)
    assert rejected and {e["type"] for e in rejected} == {"plate_rejected"}
    for event in rejected:
        assert event["text"] == "" and event["confidence"] == 0.0
        # every read is rejected for a reason (views too small to read are no reads)
        reasons = {k: n for k, n in event["reasons"].items() if k != "too small"}
        assert sum(reasons.values()) == len(event["texts_read"]) >= 1
        assert reasons["no format match"] >= 1
        assert 0.0 <= event["first_pts"] <= event["last_pts"]


def test_video_writer_scales_a_frame_of_another_size(tmp_path):
    """A live stream may come back at another resolution; the encoder's size is fixed."""
    path = tmp_path / "sizes.mp4"
    writer = VideoWriter(path, 25.0, (321, 240))  # odd width: trimmed to even
    for i, (w, h) in enumerate([(321, 240), (640, 480), (160, 120), (321, 240)]):
        writer.write(np.full((h, w, 3), 60 * i, np.uint8), i / 25)
    writer.close()
    frames, fps, size, times = video_facts(path)
    assert (frames, fps, size) == (4, 25.0, (320, 240))
    assert times == pytest.approx([0, 0.04, 0.08, 0.12])


def test_a_file_run_cut_into_segments_keeps_every_frame(tmp_path):
    """``--video-segment``: eu_street (8 s) in files of 3 s, numbered, each starting at 0."""
    run = run_cli(
        "run", sample("eu_street.mp4"), "--output", tmp_path / "out.mp4", "--video-segment",
        0.05, "--quiet",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["out-000.mp4", "out-001.mp4", "out-002.mp4"]
    facts = [video_facts(tmp_path / n) for n in names]
    assert [f[0] for f in facts] == [75, 75, 50]
    assert all(f[1] == 25.0 and f[3][0] == 0.0 for f in facts)


def test_a_live_run_cut_into_segments_names_each_by_its_start(tmp_path):
    """A camera's files carry the local time each was begun, made unique within a second."""
    video = SegmentedVideo(tmp_path / "gate.mp4", 1.0, True, 25.0, (64, 48))
    for i in range(60):  # 2.4 s from a stream whose media time starts at 100 s
        video.write(np.full((48, 64, 3), 4 * i, np.uint8), 100 + i / 25)
    video.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 3, names
    assert all(re.fullmatch(r"gate-\d{8}-\d{6}(-\d)?\.mp4", n) for n in names), names
    facts = sorted(video_facts(tmp_path / n)[::3] for n in names)
    assert sorted(f[0] for f in facts) == [10, 25, 25]
    assert all(f[1][0] == 0.0 for f in facts)


def cn_gate_between_empty_roads(path: Path) -> Path:
    """cn_gate with 3 s of an empty grey picture before and after it: 350 frames."""
    with av.open(str(sample("cn_gate.mp4"))) as src:
        frames = [f.to_ndarray(format="bgr24") for f in src.decode(video=0)]
    empty = [np.full_like(frames[0], 90)] * 75
    return write_h264(path, empty + frames + empty, 25)


@pytest.mark.slow
def test_a_video_of_plates_only_leaves_the_empty_road_out(tmp_path):
    """``--video-when plates``: the frames while the gate's plate is tracked, one after
    another from 0 s (the empty stretches cut, not frozen), and the same plate event."""
    clip = cn_gate_between_empty_roads(tmp_path / "padded.mp4")
    counts = {}
    for when in ("always", "plates"):
        out, events = tmp_path / f"{when}.mp4", tmp_path / f"{when}.jsonl"
        run = run_cli(
            "run", clip, "--output", out, "--events", events, "--video-when", when, "--quiet"
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert [e["text"] for e in read_events(events)] == ["津B18850"]
        counts[when], _, _, times = video_facts(out)
        assert times[0] == 0.0 and max(np.diff(times)) < 0.05
    assert counts["always"] == 350
    assert 100 < counts["plates"] < 350 - 150  # the plate's frames, the empty road left out


def test_video_writer_takes_planes_alone_of_any_size(tmp_path):
    """Decoded I420 frames come without a BGR copy; planes of another size than the video's
    (a live stream back at another resolution) are converted and scaled."""
    path = tmp_path / "planes_sizes.mp4"
    writer = VideoWriter(path, 25.0, (320, 240))
    for i, (w, h) in enumerate([(320, 240), (640, 480), (320, 240)]):
        grey = np.full((h, w, 3), 40 + 80 * i, np.uint8)
        writer.write(None, i / 25, [], "", cv2.cvtColor(grey, cv2.COLOR_BGR2YUV_I420))
    writer.close()
    frames, fps, size, _ = video_facts(path)
    assert (frames, fps, size) == (3, 25.0, (320, 240))
    with av.open(str(path)) as container:
        means = [f.to_ndarray(format="gray").mean() for f in container.decode(video=0)]
    assert means == pytest.approx([40, 120, 200], abs=4)


def test_video_writer_quality_setting_reaches_the_encoder(tmp_path):
    """A lower x264 rate factor gives a bigger, closer video of the same frames."""
    rng = np.random.default_rng(0)
    frames = [cv2.GaussianBlur(rng.integers(0, 256, (120, 160, 3), np.uint8), (5, 5), 0)] * 5
    sizes, errors = {}, {}
    for crf in (18, 35):
        path = tmp_path / f"crf{crf}.mp4"
        writer = VideoWriter(path, 25.0, (160, 120), crf=crf)
        for i, frame in enumerate(frames):
            writer.write(frame, i / 25)
        writer.close()
        sizes[crf] = path.stat().st_size
        with av.open(str(path)) as container:
            first = next(container.decode(video=0)).to_ndarray(format="bgr24").astype(int)
        errors[crf] = np.abs(first - frames[0]).mean()
    assert sizes[18] > sizes[35] and errors[18] < errors[35]


def test_overlay_drawn_on_i420_planes_keeps_its_colours():
    """The overlay is drawn on the YUV planes that are encoded; decoded back, a green box is
    green and the picture around it is untouched."""
    planes = cv2.cvtColor(np.full((120, 160, 3), 90, np.uint8), cv2.COLOR_BGR2YUV_I420)
    canvas = I420Canvas(planes)
    canvas.rectangle((20, 20), (80, 60), (0, 220, 0), -1)
    canvas.text("AB12", (90, 100), 0.5, (255, 255, 255), 1)
    bgr = cv2.cvtColor(planes, cv2.COLOR_YUV2BGR_I420).astype(int)
    assert np.abs(bgr[40, 50] - (0, 220, 0)).max() <= 4
    assert np.abs(bgr[10, 150] - 90).max() <= 2
    assert bgr[85:105, 90:140].max() > 200  # the white text


def test_video_writer_encodes_the_decoded_planes_it_is_given(tmp_path):
    """Given the frame's I420 planes, the writer encodes them (not a conversion of the BGR
    image); planes of another size fall back to the BGR image."""
    path = tmp_path / "planes.mp4"
    writer = VideoWriter(path, 25.0, (160, 120))
    black = np.zeros((120, 160, 3), np.uint8)
    white_planes = cv2.cvtColor(np.full_like(black, 255), cv2.COLOR_BGR2YUV_I420)
    writer.write(black, 0.0, [], "", white_planes)
    writer.write(black, 0.04, [], "", white_planes[:90])  # wrong size: the BGR image is used
    writer.close()
    with av.open(str(path)) as container:
        means = [f.to_ndarray(format="gray").mean() for f in container.decode(video=0)]
    assert means[0] > 240 and means[1] < 20


@pytest.mark.parametrize("size", [(160, 120), (162, 122)])  # chroma height even, then odd
def test_video_writer_frames_carry_the_planes_exactly(size):
    """Wrapped without a copy where PyAV gets the chroma right, copied where it does not: the
    frame handed to the encoder holds exactly the planes drawn on."""
    w, h = size
    planes = np.random.default_rng(0).integers(0, 256, (h * 3 // 2, w), np.uint8)
    frame = i420_frame(planes)
    assert (frame.width, frame.height) == (w, h)
    assert np.array_equal(frame.to_ndarray(), planes)


@pytest.mark.slow
def test_a_video_stored_sideways_is_read_and_written_upright(tmp_path):
    """A phone stores portrait video sideways with a display rotation: the plate is read as
    players show it, and the annotated video is upright too."""
    truth = json.loads(sample("cn_gate.mp4").with_suffix(".json").read_text())
    turned = sideways_copy(sample("cn_gate.mp4"), tmp_path / "sideways.mp4", turns=1)
    events, out = tmp_path / "events.jsonl", tmp_path / "out.mp4"
    proc = run_cli("run", turned, "--events", events, "--output", out, "--quiet")
    assert proc.returncode == 0, proc.stderr
    texts = [e["text"] for e in read_events(events) if e["type"] == "plate"]
    assert texts == [t["text"] for t in truth["tracks"]]
    assert video_facts(out)[2] == (1280, 720)


@pytest.mark.slow
def test_an_interlaced_clip_is_read_once_woven(tmp_path):
    """An interlaced camera's frames are woven whole before detection, so the gate's plate,
    whose characters the comb teeth of its motion tear apart, is read exactly."""
    truth = json.loads(sample("cn_gate.mp4").with_suffix(".json").read_text())
    interlaced = interlaced_copy(sample("cn_gate.mp4"), tmp_path / "interlaced.mp4")
    events = tmp_path / "events.jsonl"
    proc = run_cli("run", interlaced, "--events", events, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "interlaced: 100 woven" in proc.stderr  # the summary says so
    texts = [e["text"] for e in read_events(events) if e["type"] == "plate"]
    assert texts == [t["text"] for t in truth["tracks"]]


@pytest.mark.slow
@pytest.mark.parametrize("clip, fps", [("eu_street", 6.0), ("mixed_traffic", 1.0)])
def test_a_camera_of_a_few_frames_a_second_is_read(tmp_path, clip, fps):
    """At 6 fps the street's receding plate shrinks by a fifth a frame and the others cross a
    plate width: tracks still hold (size followed as a ratio, first match with gates widened
    for the time between frames) and get reads enough to vote (the cool-down is in seconds).
    At 1 fps the mixed traffic's cars are in view for three to eight frames, their plates
    25-70 px of a 1080p frame in most: searched at 960 px (a slow source's), every one is
    read; at the 640 px of a fast source three of the six were."""
    from trainer.eval.evaluate import clip_as_filmed

    truth = json.loads(sample(f"{clip}.mp4").with_suffix(".json").read_text())
    slow = clip_as_filmed(sample(f"{clip}.mp4"), tmp_path, fps)  # every 4th or 25th frame
    events = tmp_path / "events.jsonl"
    proc = run_cli("run", slow, "--events", events, "--quiet")
    assert proc.returncode == 0, proc.stderr
    texts = [e["text"] for e in read_events(events) if e["type"] == "plate"]
    assert sorted(texts) == sorted(t["text"] for t in truth["tracks"])


@pytest.mark.slow
def test_a_plate_whose_track_splits_is_one_event(tmp_path):
    """The gate's car waits at the barrier, its plate 220 px wide, while the camera is turned
    600 px and back: twice the plate is far from where its track looks, and a new track
    starts (as it does at a few frames a second, or when a live source drops frames). Each new
    track reads the same text, so it takes over the reads and times of the one it follows, and
    the plate is reported once, from when it was first seen."""
    truth = json.loads(sample("cn_gate.mp4").with_suffix(".json").read_text())
    (plate,) = truth["tracks"]
    nudged = nudged_copy(sample("cn_gate.mp4"), tmp_path / "nudged.mp4", range(85, 110), 600)
    events = tmp_path / "events.jsonl"
    proc = run_cli("-v", "run", nudged, "--events", events, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count(" goes on as track ") == 2
    (event,) = read_events(events)
    assert event["text"] == plate["text"]
    assert event["first_pts"] < plate["frames"][30]["pts"]  # the first track's time, 1.7 s


@pytest.mark.slow
def test_first_views_are_read_as_decoded_not_as_annotated(tmp_path):
    """At 3 fps a track is also read in the frame it was first seen in, a frame the annotated
    video has drawn its boxes on by then: the read is of a copy taken before, so writing the
    video changes no plate nor confidence."""
    from trainer.eval.evaluate import clip_as_filmed

    slow = clip_as_filmed(sample("eu_street.mp4"), tmp_path, 3.0)  # every 8th frame
    results = []
    for extra in ([], ["--output", tmp_path / "out.mp4"]):
        events = tmp_path / f"events{len(extra)}.jsonl"
        proc = run_cli("run", slow, "--events", events, "--quiet", *extra)
        assert proc.returncode == 0, proc.stderr
        plates = [e for e in read_events(events) if e["type"] == "plate"]
        results.append(sorted((e["text"], e["confidence"], e["reads"]) for e in plates))
    assert len(results[0]) == 4
    assert results[0] == results[1]


@pytest.mark.slow
def test_the_real_clips_give_no_false_read():
    """Without formats to lean on, nothing in the labelled real clips but their plates is
    reported: not the lettering on a van behind one of them (nl_cativ_Video97_2)."""
    from trainer.data.shared import data_root
    from trainer.eval.evaluate import clip_events, video_clips

    root = data_root()
    if not (root / "videos" / "labels.csv").is_file():
        pytest.skip(f"real clips not found under {root} (a fresh checkout has no ../shared/data)")
    detector, recognizer = Detector(), Recognizer()
    clips = video_clips(root, Path("/nonexistent"))
    assert len(clips) >= 25
    false = {}
    for name, path, plates in clips:
        texts = [e["text"] for e in clip_events(path, detector, recognizer)]
        false[name] = score_clip(texts, plates).false_reads
    assert not any(false.values()), {k: v for k, v in false.items() if v}


@pytest.mark.slow
def test_dutch_clips_with_the_dutch_formats_are_all_read():
    """With ``--region nl`` every Dutch plate of the real clips is read exactly (the formats
    settle reads the plain vote cannot, such as a doubled last character), and the clips of
    other countries' plates give no false read."""
    from streamer.charset import normalize_text
    from streamer.formats import region_formats
    from trainer.data.shared import data_root
    from trainer.eval.evaluate import clip_events, video_clips

    root = data_root()
    if not (root / "videos" / "labels.csv").is_file():
        pytest.skip(f"real clips not found under {root} (a fresh checkout has no ../shared/data)")
    dutch = [re.compile(f) for f in region_formats(["nl"])]
    detector, recognizer = Detector(), Recognizer()
    read, labelled, false = [], [], []
    for name, path, plates in video_clips(root, Path("/nonexistent")):
        if not name.startswith("real-nl"):
            continue
        texts = [e["text"] for e in clip_events(path, detector, recognizer, ["nl"])]
        score = score_clip(texts, plates)
        fitting = [p for p in map(normalize_text, plates) if any(f.fullmatch(p) for f in dutch)]
        labelled += fitting
        read += [p for p in map(normalize_text, score.read) if p in fitting]
        false += score.false_reads
    assert len(labelled) >= 20
    assert sorted(read) == sorted(labelled) and not false
