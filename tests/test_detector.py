"""Detector post-processing on hand-made model outputs (no model needed)."""

from __future__ import annotations

import numpy as np

from streamer.detector import merge_plate_parts


def det(score: float, x1: float, y1: float, x2: float, y2: float) -> np.ndarray:
    corners = [x1, y1, x2, y1, x2, y2, x1, y2]  # TL, TR, BR, BL
    return np.array([score, x1, y1, x2, y2, *corners], np.float32)


def test_the_two_parts_of_a_wide_plate_become_one_detection():
    """A close-up plate wider than the detector's view comes out as two overlapping boxes on
    one row (nl Video17_2: 64..458 and 219..627 of a 600-px plate); they are one plate."""
    merged = merge_plate_parts(
        np.stack([det(0.66, 64, 305, 458, 433), det(0.62, 219, 304, 627, 433)])
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
