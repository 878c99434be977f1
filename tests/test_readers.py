import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from trainer.data.shared import (
    DATA_ROOT,
    data_root,
    read_crops,
    read_scenes,
    read_videos,
    split_of,
)
from trainer.eval import commands


@pytest.fixture(scope="module")
def root() -> Path:
    root = data_root()
    if not root.is_dir():
        pytest.skip(f"shared data not found at {root} (a fresh checkout has no ../shared/data)")
    return root


def test_scenes_have_one_read_plate_each(root):
    labels, skipped = read_scenes(root / "scenes" / "labels.jsonl")
    assert labels and not skipped
    assert {lab.region for lab in labels} == {"BR", "EU", "US"}
    for lab in labels:
        assert lab.image.is_file() and lab.image.is_relative_to(root / "scenes")
        assert len(lab.plates) == 1 and lab.plates[0].text
        box = lab.plates[0].box
        assert box.dtype == np.float32 and box.shape == (4,) and (box[2:] > box[:2]).all()


def test_detscenes_have_boxes_without_text(root):
    labels, skipped = read_scenes(root / "detscenes" / "labels.jsonl")
    assert labels and not skipped
    assert all(lab.plates for lab in labels)
    assert all(p.text is None for lab in labels for p in lab.plates)
    assert max(len(lab.plates) for lab in labels) > 1  # every plate of a scene is boxed


def test_crops_and_videos(root):
    crops, skipped = read_crops(root)
    assert crops and not skipped
    assert {c.region for c in crops} == {"AR", "BR", "CN", "US"}
    assert all(c.image.is_file() and c.text for c in crops)
    videos, skipped = read_videos(root)
    assert videos and not skipped
    by_name = {v.video.name: v for v in videos}
    assert by_name["nl_catiii_Video61_2.avi"].plates == ["88-XP-FS", "72-FP-RV"]
    assert by_name["fr_motorway_lowres_negative.avi"].plates == []


def write_data(root: Path) -> None:
    """A tiny data folder with one good and several bad labels of every kind."""
    for folder in ("scenes", "crops", "videos"):
        (root / folder).mkdir()
    (root / "scenes" / "a.jpg").touch()
    (root / "crops" / "a.jpg").touch()
    (root / "videos" / "a.mp4").touch()
    good = {"image": "scenes/a.jpg", "region": "EU", "source": "s", "plates": []}
    lines = [
        json.dumps(good | {"plates": [{"text": "AB-12", "box": [1, 2, 30, 12]}]}),
        "",  # blank lines are not rows
        "{not json",
        json.dumps({"image": "scenes/a.jpg", "plates": []}),  # no region
        json.dumps(good | {"plates": [{"text": "X", "box": [1, 2, 30]}]}),
        json.dumps(good | {"plates": [{"text": "X", "box": [30, 2, 1, 12]}]}),
        json.dumps(good | {"plates": [{"text": "", "box": [1, 2, 30, 12]}]}),
        json.dumps(good | {"image": "scenes/missing.jpg"}),
    ]
    (root / "scenes" / "labels.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "crops" / "labels.csv").write_text(
        "image,text,region,source\n"
        "crops/a.jpg,AB 123,US,s\n"
        "crops/a.jpg,AB123\n"
        "crops/gone.jpg,AB123,US,s\n"
        "crops/a.jpg,,US,s\n"
        "crops/a.jpg,AB123,US,s,extra\n",
        encoding="utf-8",
    )
    (root / "videos" / "labels.csv").write_text(
        "video,region,plates,source,note\n"
        'videos/a.mp4,NL,"AB-12 | CD-34",s,"a note, with a comma"\n'
        "videos/a.mp4,NL,,s,unknown plates\n"
        ",NL,AB,s,no path\n",
        encoding="utf-8",
    )


def test_malformed_rows_are_skipped_and_counted_with_file_and_line(tmp_path):
    write_data(tmp_path)
    scenes, skipped = read_scenes(tmp_path / "scenes" / "labels.jsonl")
    assert len(scenes) == 1
    assert scenes[0].image == tmp_path / "scenes" / "a.jpg"
    assert scenes[0].plates[0].text == "AB-12"
    np.testing.assert_array_equal(scenes[0].plates[0].box, [1, 2, 30, 12])
    assert [where.rsplit(":", 1)[1] for where, _ in skipped] == ["3", "4", "5", "6", "7", "8"]
    assert all(where.startswith(str(tmp_path / "scenes" / "labels.jsonl")) for where, _ in skipped)
    assert "region" in skipped[1][1] and "missing.jpg" in skipped[5][1]

    crops, skipped = read_crops(tmp_path)
    assert [(c.text, c.region) for c in crops] == [("AB 123", "US")]
    assert [where.rsplit(":", 1)[1] for where, _ in skipped] == ["3", "4", "5", "6"]

    videos, skipped = read_videos(tmp_path)
    assert [v.plates for v in videos] == [["AB-12", "CD-34"], []]
    assert videos[0].note == "a note, with a comma"
    assert len(skipped) == 1 and skipped[0][0].endswith("labels.csv:4")


def test_missing_labels_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="labels file not found"):
        read_scenes(tmp_path / "detscenes" / "labels.jsonl")
    with pytest.raises(FileNotFoundError, match="crops"):
        read_crops(tmp_path)


def test_split_is_stable_and_about_the_requested_fraction():
    names = [f"plate_{i}.jpg" for i in range(2000)]
    splits = [split_of(n) for n in names]
    assert splits == [split_of(n) for n in names]
    assert set(splits) == {"train", "val"}
    assert 0.12 < splits.count("val") / len(names) < 0.18
    assert all(split_of(n, val_fraction=0.0) == "train" for n in names[:50])


def test_data_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("PLATESTREAM_DATA", raising=False)
    assert data_root() == DATA_ROOT
    assert DATA_ROOT.parts[-2:] == ("shared", "data")
    monkeypatch.setenv("PLATESTREAM_DATA", str(tmp_path))
    assert data_root() == tmp_path


def test_data_stats_reports_decoded_and_skipped_per_group(tmp_path, capsys):
    write_data(tmp_path)
    (tmp_path / "detscenes").mkdir()
    (tmp_path / "detscenes" / "labels.jsonl").write_text("", encoding="utf-8")
    (tmp_path / "ccpd" / "blue").mkdir(parents=True)
    (tmp_path / "ccpd" / "blue" / "not-a-label.jpg").touch()
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers())
    args = parser.parse_args(["data-stats", "--data", str(tmp_path)])
    assert args.func(args) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["ccpd/blue", "0", "1"] in rows
    assert ["scenes", "1", "6"] in rows and ["EU", "1"] in rows
    assert ["crops", "1", "4"] in rows and ["videos", "2", "1"] in rows
    assert ["detscenes", "0", "0"] in rows
    assert sum(row[0] == "skipped" for row in rows) == 12
