"""The ``platestream`` CLI contract: one-line errors with exit 2, and ``read``'s JSON output."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import (
    ROOT,
    SAMPLES,
    assert_one_line_error,
    platestream_command,
    run_cli,
    sample,
)

import streamer

CLIP = SAMPLES / "cn_gate.mp4"


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def with_config(tmp: Path, text: str) -> list:
    return ["run", CLIP, "--config", write(tmp / "config.toml", text)]


def bad_model(tmp: Path) -> Path:
    """Garbage where an ONNX model should be, beside a copy of the real sidecar."""
    model = write(tmp / "broken.onnx", b"not an onnx model")
    sidecar = SAMPLES.parent / "streamer" / "models" / "detector.json"
    write(tmp / "broken.json", sidecar.read_text(encoding="utf-8"))
    return model


def truncated_png(tmp: Path) -> Path:
    ok, data = cv2.imencode(".png", np.full((48, 192, 3), 200, np.uint8))
    return write(tmp / "truncated.png", data.tobytes()[: len(data) // 2])


ERRORS = {
    "missing file": lambda tmp: ["run", tmp / "missing.mp4"],
    "unreachable url": lambda tmp: ["run", "rtsp://127.0.0.1:1/x", "--max-reconnects", "0"],
    "random bytes": lambda tmp: ["run", write(tmp / "r.mp4", random.Random(0).randbytes(50_000))],
    "empty file": lambda tmp: ["run", write(tmp / "empty.mp4", b"")],
    "missing detector": lambda tmp: ["run", CLIP, "--detector", "/nonexistent.onnx"],
    "missing recognizer": lambda tmp: ["run", CLIP, "--recognizer", tmp / "none.onnx"],
    "broken detector": lambda tmp: ["run", CLIP, "--detector", bad_model(tmp)],
    "bad toml": lambda tmp: with_config(tmp, "[voting\nx ="),
    "unknown setting": lambda tmp: with_config(tmp, "[voting]\nx = 1"),
    "unknown section": lambda tmp: with_config(tmp, "[nope]\nx = 1"),
    "string for a list": lambda tmp: with_config(tmp, "[voting]\nformats = 'A'"),
    "bad format regex": lambda tmp: with_config(tmp, "[voting]\nformats = ['[']"),
    "text for a number": lambda tmp: with_config(tmp, "[voting]\nread_interval = 'x'"),
    "unknown region in the config": lambda tmp: with_config(tmp, "[voting]\nregions = ['xx']"),
    "text for an optional number": lambda tmp: with_config(tmp, "[detector]\nmax_side = 'a'"),
    "input size of one side": lambda tmp: with_config(tmp, "[detector]\ninput_size = [640]"),
    "input size off the model's grid": lambda tmp: with_config(
        tmp, "[detector]\ninput_size = [650, 370]"
    ),
    "no frames queued": lambda tmp: with_config(tmp, "[source]\nqueue_size = 0"),
    "confidence above 1 in the config": lambda tmp: with_config(
        tmp, "[voting]\nmin_confidence = 1.5"
    ),
    "search area of three numbers": lambda tmp: ["run", CLIP, "--roi", "0,0,1"],
    "search area right of its left": lambda tmp: ["run", CLIP, "--roi", "0.6,0,0.4,1"],
    "search area beyond the frame": lambda tmp: ["run", CLIP, "--roi", "0,0,1,1.5"],
    "search area of text in the config": lambda tmp: with_config(
        tmp, "[detector]\nroi = [0, 0, 'a', 1]"
    ),
    "zero threads": lambda tmp: ["run", CLIP, "--threads", "0"],
    "detector input too small": lambda tmp: ["run", CLIP, "--max-side", "16"],
    "detector input too small for a photo": lambda tmp: ["read", "--max-side", "0", CLIP],
    "confidence above 1": lambda tmp: ["run", CLIP, "--min-confidence", "2"],
    "negative reconnects": lambda tmp: ["run", CLIP, "--max-reconnects", "-1"],
    "no video threads": lambda tmp: [
        "run",
        CLIP,
        "--output",
        tmp / "o.mp4",
        "--video-threads",
        "0",
    ],
    "no bench runs": lambda tmp: ["bench", "--stage", "detect", "--runs", "0"],
    "no pipeline repeats": lambda tmp: ["bench", "--repeat", "0"],
    "model to compare missing": lambda tmp: ["bench", "--stage", "detect", "--compare", tmp / "x"],
    "model to compare in a pipeline bench": lambda tmp: ["bench", "--compare", tmp / "x.onnx"],
    "unknown region": lambda tmp: ["run", CLIP, "--region", "nl", "--region", "xx"],
    "missing config": lambda tmp: ["run", CLIP, "--config", tmp / "none.toml"],
    "unwritable events": lambda tmp: ["run", CLIP, "--events", "/proc/x/y.jsonl"],
    "unwritable video": lambda tmp: ["run", CLIP, "--output", "/proc/x/out.mp4"],
    "video in a folder that takes no files": lambda tmp: ["run", CLIP, "--output", "/proc/o.mp4"],
    "video crf out of range": lambda tmp: [
        "run",
        CLIP,
        "--output",
        tmp / "o.mp4",
        "--video-crf",
        "60",
    ],
    "video name with no container": lambda tmp: ["run", CLIP, "--output", tmp / "out"],
    "video container without H.264": lambda tmp: ["run", CLIP, "--output", tmp / "out.gif"],
    "unwritable crops": lambda tmp: ["run", CLIP, "--crops", "/proc/x/crops"],
    "missing watchlist": lambda tmp: ["run", CLIP, "--watchlist", tmp / "none.txt"],
    "watchlist line without a plate": lambda tmp: [
        "run",
        CLIP,
        "--watchlist",
        write(tmp / "w.txt", "AB123\n--- van\n"),
    ],
    "webhook that is not a URL": lambda tmp: ["run", CLIP, "--webhook", "localhost:8080/plates"],
    "webhook of another scheme": lambda tmp: with_config(tmp, "[output]\nwebhook = 'ftp://h/x'"),
    "unreadable image": lambda tmp: ["read", write(tmp / "x.png", b"not a png")],
    "truncated image": lambda tmp: ["read", truncated_png(tmp)],
    "video given to read": lambda tmp: ["read", CLIP],
    "missing image": lambda tmp: ["read", "--crops", tmp / "none.png"],
    "folder without images": lambda tmp: ["read", tmp],
}


@pytest.mark.parametrize("case", ERRORS)
def test_user_errors_are_one_line_and_exit_2(case, tmp_path):
    proc = run_cli(*ERRORS[case](tmp_path), timeout=60)
    assert_one_line_error(proc)
    assert proc.stdout == ""


@pytest.mark.parametrize("option", ["--output", "--events", "--crops"])
def test_an_output_under_a_file_names_the_file_in_the_way(tmp_path, option):
    """A file where the output needs a folder: the system says only 'File exists'."""
    blocker = write(tmp_path / "plates", "not a folder")
    proc = run_cli("run", CLIP, option, blocker / "out.mp4")
    assert_one_line_error(proc)
    assert f"{blocker} is a file, not a folder" in proc.stderr
    assert blocker.read_text() == "not a folder"


def test_a_video_name_that_cannot_hold_h264_says_so_and_leaves_no_file(tmp_path):
    proc = run_cli("run", CLIP, "--output", tmp_path / "out.webm")
    assert_one_line_error(proc)
    assert "H.264" in proc.stderr and ".mp4" in proc.stderr
    assert not (tmp_path / "out.webm").exists()


@pytest.mark.parametrize(
    "outputs",
    [
        ["--output", "{input}"],
        ["--events", "{input}"],
        ["--output", "{link}"],
        ["--output", "{tmp}/o.mp4", "--events", "{tmp}/o.mp4"],
    ],
    ids=[
        "video over the input",
        "events over the input",
        "video over a link to the input",
        "events over the video",
    ],
)
def test_an_output_named_like_the_input_or_another_output_is_refused(tmp_path, outputs):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(CLIP.read_bytes())
    (tmp_path / "link.mp4").symlink_to(clip)
    names = {"input": clip, "link": tmp_path / "link.mp4", "tmp": tmp_path}
    proc = run_cli("run", clip, *[o.format(**names) for o in outputs])
    assert_one_line_error(proc)
    assert "choose another name" in proc.stderr
    assert clip.read_bytes() == CLIP.read_bytes()


def test_missing_model_names_the_model_given():
    proc = run_cli("run", CLIP, "--detector", "/nonexistent.onnx")
    assert_one_line_error(proc)
    assert "/nonexistent.onnx" in proc.stderr


def test_usage_errors_exit_2():
    proc = run_cli("run")
    assert proc.returncode == 2 and "usage:" in proc.stderr


def test_version_names_the_package_and_the_embedded_models():
    proc = run_cli("--version")
    models = Path(streamer.__file__).parent / "models"
    detector, recognizer = (
        json.loads((models / f"{m}.json").read_text())["version"]
        for m in ("detector", "recognizer")
    )
    assert proc.returncode == 0
    assert proc.stdout.strip() == (
        f"platestream {streamer.__version__} (detector {detector}, recognizer {recognizer})"
    )


def plate_crops(tmp: Path) -> list[Path]:
    """A few plate-like images: dark text on a light plate, and a blank one."""
    tmp.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, text in enumerate(["AB123", "7XK42", ""]):
        img = np.full((48, 192, 3), 235, np.uint8)
        cv2.rectangle(img, (2, 2), (189, 45), (20, 20, 20), 2)
        cv2.putText(img, text, (12, 38), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (10, 10, 10), 3)
        paths.append(tmp / f"crop{i}.png")
        cv2.imwrite(str(paths[-1]), img)
    return paths


def check_plate(plate: dict, with_detection: bool) -> None:
    assert set(plate) == {"text", "confidence", "char_confidences", "box", "corners", "det_score"}
    assert isinstance(plate["text"], str)
    assert 0.0 <= plate["confidence"] <= 1.0
    assert len(plate["char_confidences"]) == len(plate["text"])
    assert len(plate["box"]) == 4 and len(plate["corners"]) == 4
    assert all(len(c) == 2 for c in plate["corners"])
    if with_detection:
        assert 0.0 < plate["det_score"] <= 1.0
    else:
        assert plate["det_score"] is None


def test_read_crops_prints_json_per_image(tmp_path):
    paths = plate_crops(tmp_path)
    proc = run_cli("read", "--crops", *paths)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(paths)
    for path, line in zip(paths, lines):
        result = json.loads(line)
        assert set(result) == {"image", "plates", "ms"}
        assert result["image"] == str(path)
        assert set(result["ms"]) == {"detect", "recognize"}
        (plate,) = result["plates"]  # a crop is one plate
        check_plate(plate, with_detection=False)
        assert plate["box"] == [0, 0, 192, 48]


def test_read_into_a_pipe_that_closes_ends_quietly(tmp_path):
    """``platestream read ... | head -1``: the reader quits after a line; the run stops as shell
    tools do (status 141, SIGPIPE's) instead of printing a BrokenPipeError traceback."""
    paths = plate_crops(tmp_path) * 100  # more than a pipe holds: the writer must meet the close
    proc = subprocess.Popen(
        platestream_command("read", "--crops", *paths),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert json.loads(proc.stdout.readline())["image"] == str(paths[0])
    proc.stdout.close()
    assert proc.wait(timeout=60) == 141
    assert proc.stderr.read() == ""


def test_run_into_a_pipe_that_closes_ends_quietly_with_its_video_finished(tmp_path):
    """``platestream run ... --events - | head -1``: after the first plate the reader quits; the
    run ends as ``read`` does (status 141, nothing said) and the annotated video is whole."""
    video = tmp_path / "v.mp4"
    proc = subprocess.Popen(
        platestream_command(
            "run", SAMPLES / "mixed_traffic.mp4", "--events", "-", "--output", video, "--quiet"
        ),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    first = json.loads(proc.stdout.readline())
    proc.stdout.close()  # the clip's other five plates come later: the writer meets the close
    assert first["type"] == "plate"
    assert proc.wait(timeout=120) == 141
    assert proc.stderr.read() == ""
    with av.open(str(video)) as container:
        assert sum(1 for _ in container.decode(video=0)) > first["best_frame"]


def test_read_a_folder_reads_its_images_in_name_order(tmp_path):
    crops = plate_crops(tmp_path / "shots" / "cam1")
    write(tmp_path / "shots" / "notes.txt", b"not an image")  # not an image suffix: skipped
    proc = run_cli("read", "--crops", tmp_path / "shots")
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["image"] for line in proc.stdout.splitlines()] == [
        str(p) for p in sorted(crops)
    ]


def frame_of(video: Path, index: int) -> np.ndarray:
    with av.open(str(video)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="bgr24")
    raise IndexError(index)


def widest_plate_frame(tmp: Path) -> tuple[Path, dict, str]:
    """The cn_gate frame where its plate is widest, as an image: its path, label and text."""
    video = sample("cn_gate.mp4")
    track = json.loads(video.with_suffix(".json").read_text())["tracks"][0]
    label = max(track["frames"], key=lambda f: f["box"][2] - f["box"][0])
    path = tmp / "frame.png"
    cv2.imwrite(str(path), frame_of(video, label["frame"]))
    return path, label, track["text"]


def test_read_finds_the_plate_in_a_frame(tmp_path):
    path, label, _ = widest_plate_frame(tmp_path)
    proc = run_cli("read", path, tmp_path / "missing.png")
    # a missing image is reported on its own line; the others are still read
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"platestream: error: cannot read image {tmp_path}/missing.png: no such file"
    ]
    (line,) = proc.stdout.splitlines()
    result = json.loads(line)
    assert result["image"] == str(path)
    assert result["plates"], "no plate found on the widest view of the plate"
    for plate in result["plates"]:
        check_plate(plate, with_detection=True)
    best = max(result["plates"], key=lambda p: p["det_score"])
    x1, y1, x2, y2 = best["box"]
    gx1, gy1, gx2, gy2 = label["box"]
    inter = max(0, min(x2, gx2) - max(x1, gx1)) * max(0, min(y2, gy2) - max(y1, gy1))
    union = (x2 - x1) * (y2 - y1) + (gx2 - gx1) * (gy2 - gy1) - inter
    assert inter / union > 0.5


def test_run_on_a_still_image_points_to_read(tmp_path):
    path, _, _ = widest_plate_frame(tmp_path)
    proc = run_cli("run", path, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "1 frames" in proc.stderr and "platestream read" in proc.stderr


def test_read_with_regions_keeps_only_plates_of_their_formats(tmp_path):
    path, _, text = widest_plate_frame(tmp_path)
    texts = {}
    for region in ("cn", "nl"):
        proc = run_cli("read", path, "--region", region)
        assert proc.returncode == 0, proc.stderr
        texts[region] = [p["text"] for p in json.loads(proc.stdout)["plates"]]
    assert texts == {"cn": [text], "nl": []}


def test_read_takes_a_cameras_config_file_and_its_flags_win(tmp_path):
    """A camera's snapshots are read with the TOML file of its stream (regions, search area),
    and a flag wins over the file, as for 'run'."""
    path, label, text = widest_plate_frame(tmp_path)
    x1 = label["box"][0] / cv2.imread(str(path)).shape[1]
    config = write(
        tmp_path / "gate.toml", f'[voting]\nregions = ["nl"]\n[detector]\nroi = [0, 0, {x1}, 1]\n'
    )

    def texts(*args) -> list[str]:
        proc = run_cli("read", path, "--config", config, *args)
        assert proc.returncode == 0, proc.stderr
        return [p["text"] for p in json.loads(proc.stdout)["plates"]]

    assert texts() == []
    assert texts("--region", "cn") == []  # still searched left of the plate only
    assert texts("--region", "cn", "--roi", "0,0,1,1") == [text]
    bad = write(tmp_path / "bad.toml", "[detector]\nroi = [0.5, 0, 0.2, 1]\n")
    proc = run_cli("read", path, "--config", bad)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"platestream: error: {bad}: [detector] roi must be left, top, right, bottom "
        "(left < right, top < bottom)"
    ]


def test_config_file_and_flags(tmp_path):
    from streamer.cli import apply_run_flags, build_parser
    from streamer.config import load_config

    path = write(
        tmp_path / "c.toml",
        '[source]\ntimeout = 2\nmax_reconnects = 5\n[voting]\nformats = ["[A-Z]+[0-9]+"]\n'
        'regions = ["de"]\n'
        '[detector]\nmodel = "/models/d.onnx"\ninput_size = [640, 384]\n',
    )
    config = load_config(path)
    assert config.source.timeout == 2.0 and isinstance(config.source.timeout, float)
    assert config.source.max_reconnects == 5
    assert config.voting.formats == ["[A-Z]+[0-9]+"]
    assert config.detector.model == Path("/models/d.onnx")
    assert config.detector.input_size == (640, 384)
    # flags win over the file
    assert config.voting.regions == ["de"]
    args = build_parser().parse_args(
        ["run", "x.mp4", "--max-reconnects", "1", "--threads", "3", "--region", "nl", "--region",
         "be", "--min-confidence", "0.5"]
    )  # fmt: skip
    config = apply_run_flags(config, args)
    assert config.voting.regions == ["nl", "be"] and config.voting.min_confidence == 0.5
    assert config.source.max_reconnects == 1
    assert config.detector.workers == config.recognizer.threads == 3
    assert config.detector.threads == 1  # each detection on one thread: they run side by side
    assert config.source.timeout == 2.0  # untouched by absent flags
    assert (config.voting.final_reads, config.output.rejected) == (0, False)
    args = build_parser().parse_args(
        ["run", "x.mp4", "--final-reads", "3", "--rejected", "--max-side", "960"]
    )
    config = apply_run_flags(config, args)
    assert (config.voting.final_reads, config.output.rejected) == (3, True)
    assert config.detector.max_side == 960


def test_a_setting_out_of_range_is_named_as_the_user_gave_it(tmp_path):
    """A flag's error names the flag, a TOML value's its file, section and key."""
    from streamer.cli import apply_run_flags, build_parser
    from streamer.config import ConfigError, load_config

    args = build_parser().parse_args(["run", "x.mp4", "--threads", "0"])
    with pytest.raises(ConfigError, match="^--threads must be at least 1, not 0$"):
        apply_run_flags(load_config(None), args)
    path = write(tmp_path / "c.toml", "[tracker]\nsize_gate = 0.5\n[detector]\nmax_side = 960\n")
    with pytest.raises(ConfigError, match=r"c.toml: \[tracker\] size_gate must be at least 1"):
        load_config(path)
    path = write(tmp_path / "ok.toml", "[detector]\nscore_threshold = 1\nmax_side = 960\n")
    config = load_config(path)  # an int for a float setting, an optional one set
    assert config.detector.score_threshold == 1.0 and config.detector.max_side == 960


def first_frames(video: Path, dst: Path, count: int) -> Path:
    """The first ``count`` frames of ``video``, re-encoded: a clip short enough to bench twice."""
    with av.open(str(video)) as inp, av.open(str(dst), "w") as out:
        src = inp.streams.video[0]
        stream = out.add_stream("libx264", rate=src.average_rate)
        stream.width, stream.height, stream.pix_fmt = src.width, src.height, "yuv420p"
        for i, frame in enumerate(inp.decode(src)):
            if i == count:
                break
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return dst


def test_bench_reports_every_stage(tmp_path):
    clip = first_frames(sample("cn_gate.mp4"), tmp_path / "short.mp4", 40)
    proc = run_cli("bench", "--video", clip, "--json", "--repeat", "2")
    assert proc.returncode == 0, proc.stderr
    without_video, with_video = json.loads(proc.stdout)
    assert (without_video["output_video"], with_video["output_video"]) == (False, True)
    for result in (without_video, with_video):
        assert result["frames"] == 40 and result["fps"] > 0 and len(result["fps_runs"]) == 2
        assert min(result["fps_runs"]) <= result["fps"] <= max(result["fps_runs"])
        # the pipeline decodes too, so it is slower than decoding alone
        assert 0 < result["share_of_decode_only"] < 1 and result["decode_only_fps"] > result["fps"]
        assert result["stages"]["decode"]["calls"] == 80  # both runs' frames
        assert {"decode", "detect", "track", "recognize"} <= set(result["stages"])
        for stage in result["stages"].values():
            assert 0 <= stage["median_ms"] <= stage["p95_ms"] and stage["calls"] >= 1
    assert "encode" in with_video["stages"] and "encode" not in without_video["stages"]
    table = run_cli("bench", "--video", clip)
    assert table.returncode == 0 and "median_ms" in table.stdout and "encode" in table.stdout
    # what the figures depend on, named on stderr (beside any runtime warning a host prints)
    assert any(line.startswith("host: ") for line in table.stderr.splitlines())


def test_bench_names_the_instructions_its_figures_depend_on(tmp_path):
    """A host's INT8 (and bfloat16) instructions, from the fastest it has, out of Linux's
    cpuinfo; a system without one names the processor and leaves them unknown."""
    from streamer.host import cpu_info, host_description

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse2 avx2 fma\n\n"
        "processor\t: 1\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse2 avx2 fma\n"
    )
    model, flags = cpu_info(cpuinfo)
    line = host_description(model, flags, 2)
    assert line.startswith("AMD EPYC 7B13, 2 CPUs, INT8 via AVX2; onnxruntime ")
    xeon = {"avx2", "avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16"}
    assert "INT8 via AMX, bfloat16 (--bf16 training) via AMX;" in host_description("Xeon", xeon, 2)
    zen4 = {"avx2", "avx512_vnni", "avx512_bf16"}
    assert "INT8 via AVX-512 VNNI, bfloat16 (--bf16 training) via AVX-512 BF16;" in (
        host_description("EPYC", zen4, 2)
    )
    model, flags = cpu_info(tmp_path / "no such file")
    assert flags == set() and "INT8 via not known;" in host_description(model, flags, None)


def test_bench_times_a_model_to_compare_beside_the_embedded_one(tmp_path):
    """``--compare``: a training round's model is timed interleaved with the embedded one, as a
    ratio of its time (here the embedded detector itself; ``--reference`` to an empty folder
    leaves the seed-size model out)."""
    from streamer.config import DetectorConfig

    proc = run_cli(
        "bench", "--stage", "detect", "--runs", "5", "--reference", tmp_path,
        "--compare", DetectorConfig().model, "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    configs = {(r["config"], r["threads"]) for r in rows}
    assert len(configs) == 6  # 640x384 and 640x640, at 1 and 2 threads and two runs at once
    for config, threads in configs:
        ours, compared = (r for r in rows if (r["config"], r["threads"]) == (config, threads))
        assert (ours["model"], compared["model"]) == ("ours", "compared")
        assert ours["time_vs_ours"] == 1.0 and compared["time_vs_ours"] > 0
        assert compared["median_ms"] > 0 and "speedup_vs_seed" not in compared


def test_bench_times_the_recognizer_with_and_without_its_ctc_head(tmp_path):
    """The embedded recognizer's CTC head is a file of its own, run only on the plates the
    queries are unsure of: both costs are rows of the table, for each way of using the cores."""
    proc = run_cli(
        "bench", "--stage", "recognize", "--runs", "4", "--reference", tmp_path, "--json"
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)  # the host line is on stderr: stdout is the JSON alone
    assert {r["threads"] for r in rows} == {"1", "2, spinning", "1, 2 at once"}
    for config in ("batch 1", "batch 8"):
        for threads in ("1", "2, spinning", "1, 2 at once"):
            models = {
                r["model"]: r for r in rows if r["config"] == config and r["threads"] == threads
            }
            assert set(models) == {"ours", "ours, head skipped"}
            assert all(r["median_ms"] > 0 for r in models.values())


def test_bench_finds_the_checkouts_sample_video_from_an_installed_package(tmp_path, monkeypatch):
    """README's ``platestream bench`` runs from the checkout after ``pip install .``, which
    leaves the samples behind: the current folder's sample_videos/ is looked in too."""
    from streamer.bench import default_video

    (tmp_path / "sample_videos").mkdir()
    (tmp_path / "sample_videos" / "eu_street.mp4").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    video = default_video()
    assert video.exists() and video.name in ("mixed_traffic.mp4", "eu_street.mp4")


def test_summary_lists_each_text_once_with_its_count():
    from collections import Counter

    from streamer.cli import summary_texts

    assert summary_texts(Counter({"AB12": 3, "CD34": 1})) == "AB12x3 CD34"
    many = Counter({f"P{i:03d}": 1 for i in range(25)})
    assert summary_texts(many).endswith(" and 5 more") and len(summary_texts(many).split()) == 23


def test_a_search_area_reads_the_plates_inside_it_only(tmp_path):
    """cn_gate has one plate, driving down the right half of the frame: an area around its
    path reads it (from the TOML file as from the flag), the left half reads nothing."""
    truth = json.loads(CLIP.with_suffix(".json").read_text())
    (track,) = truth["tracks"]
    boxes = np.array([f["box"] for f in track["frames"]])
    left, right = boxes[:, 0].min() / truth["width"], boxes[:, 2].max() / truth["width"]
    assert left > 0.5
    around = [float(left) - 0.05, 0.0, min(1.0, float(right) + 0.05), 1.0]
    config = tmp_path / "roi.toml"
    config.write_text(f"[detector]\nroi = {around}\n")
    for args in (["--config", config], ["--roi", ",".join(map(str, around))]):
        proc = run_cli("run", CLIP, "--events", "-", *args)
        assert proc.returncode == 0, proc.stderr
        assert [json.loads(line)["text"] for line in proc.stdout.splitlines()] == [track["text"]]
    proc = run_cli("run", CLIP, "--events", "-", "--roi", f"0,0,{left - 0.02},1")
    assert proc.returncode == 0 and proc.stdout == ""


def test_a_word_setting_outside_its_choices_is_one_line_naming_them(tmp_path):
    from streamer.cli import apply_run_flags, build_parser
    from streamer.config import ConfigError, load_config

    path = write(tmp_path / "c.toml", '[source]\ndeinterlace = "yes"\n')
    with pytest.raises(ConfigError, match=r"'deinterlace' must be one of auto, on, off, not 'yes'"):
        load_config(path)
    path = write(tmp_path / "t.toml", '[source]\nrtsp_transport = "http"\n')
    with pytest.raises(ConfigError, match=r"'rtsp_transport' must be one of tcp, udp"):
        load_config(path)
    args = build_parser().parse_args(["run", "x.mp4", "--deinterlace", "on"])
    assert apply_run_flags(load_config(None), args).source.deinterlace == "on"
    proc = run_cli("run", sample("cn_gate.mp4"), "--deinterlace", "sometimes")
    assert proc.returncode != 0 and "invalid choice: 'sometimes'" in proc.stderr
