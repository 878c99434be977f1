"""Detector post-processing on hand-made model outputs (no model needed)."""

from __future__ import annotations

import numpy as np

from streamer.detector import letterboxed_rgb, letterboxed_rgb_i420, merge_plate_parts
from streamer.geometry import crop_i420


def det(score: float, x1: float, y1: float, x2: float, y2: float) -> np.ndarray:
    corners = [x1, y1, x2, y1, x2, y2, x1, y2]  # TL, TR, BR, BL
    return np.array([score, x1, y1, x2, y2, *corners], np.float32)


def test_the_two_parts_of_a_wide_plate_become_one_detection():
    """A close-up plate wider than the detector's view comes out as two overlapping boxes on
    one row (nl Video17_2: 64..458 and 219..627 of a 600-px plate); they are one plate."""
    merged = merge_plate_parts(
        np.stack([det(0.66, 64, 305, 458, 433), det(0.62, 219, 304, 627, 433)]), min_width=192
    )
    assert len(merged) == 1
    score, box, corners = merged[0, 0], merged[0, 1:5], merged[0, 5:].reshape(4, 2)
    assert score == np.float32(0.66)
    np.testing.assert_allclose(box, [64, 304, 627, 433])
    np.testing.assert_allclose(corners, [[64, 305], [627, 304], [627, 433], [64, 433]])


def test_separate_plates_stay_apart():
    side_by_side = [det(0.9, 100, 100, 200, 130), det(0.8, 210, 100, 310, 130)]  # no overlap
    stacked = [det(0.9, 100, 100, 300, 150), det(0.8, 120, 130, 320, 180)]  # other rows
    nested = [det(0.9, 100, 100, 300, 150), det(0.8, 150, 105, 250, 145)]  # a box in a box
    for pair in (side_by_side, stacked, nested):
        assert len(merge_plate_parts(np.stack(pair))) == 2


def test_a_box_beside_a_plate_the_anchors_cover_is_not_joined_to_it():
    """A square plate (200..281) and a box over it and what is beside it (200..354), in input
    pixels: together narrower than the widest anchor (192), so not two halves."""
    pair = np.stack([det(0.63, 200, 128, 281, 180), det(0.45, 200, 125, 354, 182)])
    assert len(merge_plate_parts(pair, min_width=192)) == 2
    assert len(merge_plate_parts(pair, min_width=0)) == 1


def test_a_weak_box_over_a_plate_and_its_neighbour_is_not_joined_to_it():
    """Kaggle's Cars257 in input pixels: a Hong Kong taxi's plate (262..394, 0.62) and a 0.11
    box from its right half over the sticker beside it (326..509), wider than any anchor
    together. The two halves of one plate score alike; this is no half."""
    plate, weak = det(0.62, 262, 205, 394, 269), det(0.11, 326, 202, 509, 274)
    assert len(merge_plate_parts(np.stack([plate, weak]), min_width=192)) == 2
    weak[0] = 0.4  # a half scoring near the plate's is joined as before
    assert len(merge_plate_parts(np.stack([plate, weak]), min_width=192)) == 1


def test_two_looks_keep_the_plates_they_agree_on():
    """Scores are the mean of both looks' (0 where one missed the plate); a plate both found
    lies between their boxes and corners."""
    from streamer.detector import Detection, agreed

    def plate(x: float, score: float) -> Detection:
        box = np.array([x, 10, x + 100, 40], np.float32)
        corners = np.array([[x, 10], [x + 100, 10], [x + 100, 40], [x, 40]], np.float32)
        return Detection(box, corners, score)

    direct = [plate(0, 0.9), plate(300, 0.95), plate(600, 0.3)]
    mirror = [plate(4, 0.5), plate(600, 0.6), plate(900, 0.8)]
    found = agreed(direct, mirror, 0.5, 0.45)
    assert [round(d.score, 3) for d in found] == [0.7]  # 0.95 alone is 0.475, 0.3+0.6 is 0.45
    np.testing.assert_allclose(found[0].box, [2, 10, 102, 40])
    np.testing.assert_allclose(found[0].corners[:, 0], [2, 102, 102, 2])
    assert [round(d.score, 3) for d in agreed(direct, mirror, 0.4, 0.45)] == [0.7, 0.475, 0.45, 0.4]
    assert agreed([], [], 0.5, 0.45) == []


def test_planes_are_letterboxed_as_the_converted_picture_even_at_odd_scaled_sides():
    """856x480 scales to 640x359 (and a search area anywhere to odd sides): the I420 path pads
    the luma by a line and cuts it after converting, instead of converting the whole frame."""
    import cv2

    rng = np.random.default_rng(3)
    bgr = cv2.resize(rng.integers(0, 255, (24, 43, 3), dtype=np.uint8), (856, 480))
    planes = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
    for box, input_wh in (((0, 0, 856, 480), (640, 384)), ((100, 60, 400, 420), (544, 640))):
        x1, y1, x2, y2 = box
        converted = cv2.cvtColor(planes, cv2.COLOR_YUV2BGR_I420)[y1:y2, x1:x2]
        want, lb = letterboxed_rgb(np.ascontiguousarray(converted), input_wh)
        got, lb_planes = letterboxed_rgb_i420(crop_i420(planes, box), input_wh)
        assert lb_planes == lb and got.shape == want.shape
        # scaling before converting moves chroma edges: 2.7 levels on average for an even
        # 800x480 picture of these hard colour blocks, 3.0 for 856x480
        assert np.abs(got.astype(int) - want.astype(int)).mean() < 4


def test_a_frame_shrunk_four_times_or_more_is_averaged_not_sampled():
    """Pixel-fine detail (noise) in a 4K frame: sampled bilinearly at 6x down, each input pixel
    is a mix of 2x2 of the frame's 6x6 and the detail aliases into coarse false detail; averaged,
    as ``shrink`` does from 4x down on both paths, it fades as it does from afar. Below 4x the
    bilinear sampling the detector was trained with is kept."""
    import cv2

    from streamer.geometry import AREA_SHRINK

    grey = np.random.default_rng(0).integers(0, 256, (2160, 3840), dtype=np.uint8)
    frame = np.repeat(grey[..., None], 3, 2)
    sampled = cv2.resize(frame, (640, 360), interpolation=cv2.INTER_LINEAR)
    assert sampled.std() > 35  # what bilinear sampling keeps of the noise
    planes = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420)
    for input_wh in ((640, 384), (960, 544)):
        shrunk, lb = letterboxed_rgb(frame, input_wh)
        from_planes, _ = letterboxed_rgb_i420(crop_i420(planes, (0, 0, 3840, 2160)), input_wh)
        assert 1 / lb.scale >= AREA_SHRINK
        for picture in (shrunk, from_planes):
            assert picture[lb.pad_y + 1 : -lb.pad_y - 1].std() < 25
    part = np.ascontiguousarray(frame[:1152, :2048])  # 3.2x down to 640x360
    near, lb = letterboxed_rgb(part, (640, 384))
    assert lb.pad_y == 12 and np.array_equal(near[12:372], cv2.resize(part, (640, 360)))
