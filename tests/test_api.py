"""The Python interface (``streamer.api``): the same plates and events as the CLI gives."""

from __future__ import annotations

import json
import threading

import av
import cv2
import numpy as np
import pytest
from conftest import check_plate_event, run_cli, sample
from test_cli import check_plate, frame_of

from streamer.api import PlateReader, watch
from streamer.config import Config, ConfigError
from streamer.sources import SourceError


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader()


def gate_frame():
    """cn_gate's frame where its plate is widest, its box and its text."""
    video = sample("cn_gate.mp4")
    track = json.loads(video.with_suffix(".json").read_text())["tracks"][0]
    label = max(track["frames"], key=lambda f: f["box"][2] - f["box"][0])
    return frame_of(video, label["frame"]), label["box"], track["text"]


def test_a_photo_read_from_pixels_or_a_file_gives_the_cli_plates(reader, tmp_path):
    image, box, text = gate_frame()
    path = tmp_path / "gate.png"
    cv2.imwrite(str(path), image)
    plates = reader.read(image)
    assert [p["text"] for p in plates] == [text]
    check_plate(plates[0], with_detection=True)
    assert reader.read(path) == plates
    (line,) = run_cli("read", path).stdout.splitlines()
    assert json.loads(line)["plates"] == plates


def test_grey_and_bgra_pixels_are_read_as_their_colour_image_would_be(reader):
    """An infrared camera gives grey frames and a PNG may carry alpha: both are taken, and
    the plate is found where it is in colour."""
    image, box, text = gate_frame()
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    for pixels in (grey, grey[:, :, None], cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)):
        (plate,) = reader.read(pixels)
        assert plate["text"] == text
        assert np.allclose(plate["box"], box, atol=0.1 * (box[2] - box[0]))


def test_a_crop_is_read_without_searching(tmp_path):
    image, box, text = gate_frame()
    x1, y1, x2, y2 = (round(v) for v in box)
    (plate,) = PlateReader(crops=True).read(image[y1:y2, x1:x2])
    check_plate(plate, with_detection=False)
    assert plate["text"] == text


def test_regions_keep_only_plates_of_their_formats(reader):
    image, _, text = gate_frame()
    assert [p["text"] for p in PlateReader(regions=["cn"]).read(image)] == [text]
    assert PlateReader(regions=["nl"]).read(image) == []


def test_a_config_gives_the_reader_its_settings_and_the_arguments_win():
    image, _, text = gate_frame()
    config = Config()
    config.voting.regions = ["nl"]
    assert PlateReader(config=config).read(image) == []
    assert [p["text"] for p in PlateReader(regions=["cn"], config=config).read(image)] == [text]
    assert config.voting.regions == ["nl"]  # the caller's config is left as it was


def test_a_larger_input_finds_plates_too_small_at_the_default_one(reader):
    """A 6x6 mosaic of the gate frame (7680x4320): each plate, 282 px wide, is 24 px at the
    default 640-px input, under what the detector finds; at 1920 px it is 71 px."""
    image, _, text = gate_frame()
    mosaic = np.tile(image, (6, 6, 1))
    assert len(reader.read(mosaic)) < 36
    plates = PlateReader(max_side=1920).read(mosaic)
    assert [p["text"] for p in plates] == [text] * 36


def test_bad_images_and_settings_say_what_is_wrong(reader, tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        reader.read(tmp_path / "missing.jpg")
    (tmp_path / "notes.jpg").write_text("not a picture")
    with pytest.raises(ValueError, match="not a readable image"):
        reader.read(tmp_path / "notes.jpg")
    with pytest.raises(ValueError, match="BGR uint8"):
        reader.read(np.zeros((4, 4)))  # grey floats
    with pytest.raises(ValueError, match="BGR uint8"):
        reader.read(np.zeros((0, 0, 3), np.uint8))  # was a ZeroDivisionError
    with pytest.raises(ConfigError, match="views"):
        PlateReader(views=0)
    with pytest.raises(ConfigError, match="regions"):
        PlateReader(regions=["atlantis"])
    with pytest.raises(ConfigError, match="^--max-side must be between 32 and 8192, not 16$"):
        PlateReader(max_side=16)


def test_watching_a_clip_yields_its_plate_events_as_the_cli_writes_them(tmp_path):
    events = list(watch(str(sample("eu_street.mp4"))))
    for event in events:
        check_plate_event(event)
    texts = sorted(e["text"] for e in events)
    assert texts == ["8JL084", "FL909F", "KTE6636", "MV184VT"]
    run = run_cli("run", sample("eu_street.mp4"), "--events", tmp_path / "ev.jsonl", "--quiet")
    assert run.returncode == 0, run.stderr
    written = [json.loads(x) for x in (tmp_path / "ev.jsonl").read_text().splitlines()]
    assert sorted(e["text"] for e in written) == texts


def test_leaving_the_loop_stops_the_run_and_finishes_its_outputs(tmp_path):
    """A caller that has what it wanted breaks out: the run stops (no thread left reading),
    and the events file it asked for holds the event it was handed."""
    config = Config()
    config.source.realtime = True  # eight seconds at its own pace
    config.output.events = tmp_path / "ev.jsonl"
    config.output.output = tmp_path / "out.mp4"
    events = watch(str(sample("eu_street.mp4")), config)
    event = next(events)
    events.close()  # what leaving a for loop does
    assert not [t for t in threading.enumerate() if t.name in ("platestream", "decode", "track")]
    written = [json.loads(x) for x in config.output.events.read_text().splitlines()]
    assert written[0] == event
    with av.open(str(config.output.output)) as video:  # finished and playable, but short
        assert 0 < sum(1 for _ in video.decode(video=0)) < 200


def test_a_source_that_cannot_be_read_raises_in_the_loop(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        next(watch(str(tmp_path / "missing.mp4")))


def test_an_output_named_like_the_input_is_refused_before_anything_is_written(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(sample("cn_gate.mp4").read_bytes())
    config = Config()
    config.output.events = clip
    with pytest.raises(ConfigError, match="is the input"):
        next(watch(str(clip), config))
    assert clip.read_bytes() == sample("cn_gate.mp4").read_bytes()
