from pathlib import Path

import cv2
import numpy as np
import pytest

from streamer.charset import PROVINCES, encode
from streamer.geometry import box_iou, corners_to_box
from trainer.data.ccpd import parse_ccpd_name, read_ccpd
from trainer.data.shared import data_root

OFFICIAL_EXAMPLE = (
    "025-95_113-154&383_386&473-386&473_177&454_154&383_363&402-0_0_22_27_27_33_16-37-15.jpg"
)


@pytest.fixture(scope="module")
def ccpd_root() -> Path:
    root = data_root() / "ccpd"
    if not root.is_dir():
        pytest.skip(f"shared data not found at {root} (a fresh checkout has no ../shared/data)")
    return root


def test_official_example_decodes_every_field():
    label = parse_ccpd_name(Path("some/dir") / OFFICIAL_EXAMPLE)
    assert label.text == "皖AY339S"
    assert label.box.dtype == np.float32
    np.testing.assert_array_equal(label.box, [154, 383, 386, 473])
    # CCPD lists the corners from bottom-right; they come back TL, TR, BR, BL.
    np.testing.assert_array_equal(label.corners, [[154, 383], [363, 402], [386, 473], [177, 454]])
    assert label.area == pytest.approx(0.025)
    assert label.tilt == (95, 113)
    assert (label.brightness, label.blur) == (37, 15)


def test_green_plate_has_eight_characters():
    name = "0075-88_270-274&482_418&535-418&529_275&535_274&490_417&482-0_0_3_24_28_26_25_33-87-37"
    assert parse_ccpd_name(name + ".jpg").text == "皖AD04219"


def with_field(index: int, value: str) -> str:
    """The official example with one field replaced."""
    fields = OFFICIAL_EXAMPLE.removesuffix(".jpg").split("-")
    fields[index] = value
    return "-".join(fields) + ".jpg"


@pytest.mark.parametrize(
    ("name", "complaint"),
    [
        ("abc.jpg", "expected 7"),
        (with_field(0, "2.5"), "area"),
        (with_field(1, "95"), "tilt"),
        (with_field(2, "386&473_154&383"), "empty"),
        (with_field(3, "386&473_177&454"), "4 'x&y'"),
        (with_field(4, "0_0_1_2_3_4"), "6 character"),
        (with_field(4, "33_0_1_2_3_4_5"), "placeholder"),
        (with_field(4, "0_0_1_2_3_4_99"), "index 99"),
        (with_field(5, "x"), "'x'"),
    ],
)
def test_malformed_name_raises_value_error_naming_the_file(name, complaint):
    with pytest.raises(ValueError, match="malformed|not a CCPD") as err:
        parse_ccpd_name(Path("/data/ccpd/blue") / name)
    assert f"/data/ccpd/blue/{name}" in str(err.value)
    assert complaint in str(err.value)


def test_reader_skips_and_counts_malformed_and_unlabeled_files(tmp_path):
    (tmp_path / "blue").mkdir()
    (tmp_path / "unlabeled_samples").mkdir()
    (tmp_path / "blue" / OFFICIAL_EXAMPLE).touch()
    (tmp_path / "blue" / "broken-name.jpg").touch()
    (tmp_path / "blue" / "notes.txt").touch()
    (tmp_path / "unlabeled_samples" / "blur_0.jpg").touch()
    labels, skipped = read_ccpd(tmp_path)
    assert [lab.text for lab in labels] == ["皖AY339S"]
    reasons = {path.name: reason for path, reason in skipped}
    assert set(reasons) == {"broken-name.jpg", "blur_0.jpg"}
    assert "broken-name.jpg" in reasons["broken-name.jpg"]
    assert reasons["blur_0.jpg"].startswith("unlabeled sample")


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        read_ccpd(tmp_path / "nowhere")


@pytest.mark.parametrize(("folder", "length"), [("blue", 7), ("green", 8)])
def test_every_labelled_file_decodes_inside_its_image(ccpd_root, folder, length):
    labels, skipped = read_ccpd(ccpd_root / folder)
    assert labels and not skipped
    for lab in labels:
        h, w = cv2.imread(str(lab.image)).shape[:2]
        assert len(lab.text) == length and lab.text[0] in PROVINCES, lab.image.name
        encode(lab.text)  # every character is in the recognizer's charset
        x1, y1, x2, y2 = lab.box
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h, lab.image.name
        assert lab.corners.shape == (4, 2)
        assert (lab.corners >= 0).all() and (lab.corners <= [w, h]).all(), lab.image.name
        tl, tr, br, bl = lab.corners
        assert tl[0] < tr[0] and bl[0] < br[0] and tl[1] < bl[1] and tr[1] < br[1]
        # the box and the corners are separate annotations, but of the same plate
        assert box_iou(lab.box, corners_to_box(lab.corners))[0, 0] > 0.5, lab.image.name
        assert 0 < lab.area < 1


def test_unlabeled_samples_are_skipped_and_counted(ccpd_root):
    labels, skipped = read_ccpd(ccpd_root)
    unlabeled = [p for p, _ in skipped if "unlabeled_samples" in p.parts]
    assert len(unlabeled) == len(skipped) > 0
    assert not any("unlabeled_samples" in lab.image.parts for lab in labels)
